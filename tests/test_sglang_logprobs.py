"""Exact level-word log-probs through an SGLang server's native ``/generate`` (``token_ids_logprob``), and the
``top_logprobs`` fallback that must never take a different token for a word that splits.

The server is the loopback server playing SGLang around a tiny real transformers model (tests/model_server.py:
``/get_model_info``, ``/generate`` tokenizing the rendered text with the processor's defaults, no
``logprob_token_ids`` on chat); the reference is the ``hf:`` adapter scoring the same model directly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tiny_models
from helpers import run_cli, write_mos_set
from model_server import serve
from qbench.errors import ModelError, UsageError
from qbench.models.base import load_model
from qbench.models.openai_compat import match_word
from qbench.protocol import LOWEST_LISTED
from qbench.scoring.levels import QALIGN_LEVELS
from qbench.tasks.assessment_modes import read_words
from test_exact_logprobs import TOL, api_model, requests, score
from test_hf_adapter import IMAGES, a3_request

pytestmark = pytest.mark.hf

_DIRECT: dict[Path, Any] = {}


def direct(folder: Path) -> Any:
    """The ``hf:`` adapter on ``folder`` (loaded once per folder)."""
    if folder not in _DIRECT:
        _DIRECT[folder] = load_model(f"hf:{folder}", {})
    return _DIRECT[folder]


def bos_template_llava(tmp: Path) -> Path:
    """The tiny LLaVA with a chat template that writes BOS itself while its tokenizer also adds one (as
    Llama-3-style checkpoints do): sent as is, SGLang would see two BOS tokens; ``hf:`` sees one."""
    folder = tmp / "llava-bos"
    if not folder.exists():
        shutil.copytree(tiny_models.cached("llava"), folder)
        template = folder / "chat_template.jinja"
        template.write_text("{{ bos_token }}" + template.read_text())
    return folder


def split_good_llava(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny LLaVA whose tokenizer spells ``" good"`` as ``"Ġ"`` + ``"good"``: the bare ``good`` is a token of
    its own, a different one from the first piece that protocol 8.2 scores."""
    folder = tmp / "llava-split-good"
    if not (folder / "qbench_tiny.json").exists():
        monkeypatch.setattr(
            tiny_models, "SENTENCES", [s.replace(" good", " (good)") for s in tiny_models.SENTENCES]
        )
        monkeypatch.setattr(
            tiny_models,
            "LEVEL_SENTENCES",
            ["The quality of the image is (good)", "The quality of the image is poor", "(good) poor"],
        )
        tiny_models.build_llava(folder)
    return folder


def score_with(
    server: Any, reqs: list[Any], **options: str
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """``reqs`` scored by an ``openai:`` model on ``server`` with ``options``: results, usage, info."""
    model = api_model(server, **options)
    try:
        return model.score_tokens(reqs), model.usage(), model.info()
    finally:
        model.close()


def scored(folder: Path, **options: str) -> tuple[list[Any], dict[str, Any], Any]:
    """``requests()`` scored through the SGLang-like server for ``folder``: results, usage, the server."""
    reqs = [r for _, r in requests()]
    with serve(folder, sglang=True) as server:
        got, usage, _ = score_with(server, reqs, **options)
    return got, usage, server


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "idefics3", "llava-bos"])
def test_sglang_scores_equal_direct_hf_scores(family: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = (
        bos_template_llava(tmp_path_factory.mktemp("bos"))
        if family == "llava-bos"
        else tiny_models.cached(family)
    )
    hf = direct(folder)
    reqs = requests()
    expected = [score(mode, r) for (mode, _), r in zip(reqs, hf.score_tokens([r for _, r in reqs]))]
    got, usage, server = scored(folder)
    for (mode, _), result, want in zip(reqs, got, expected):
        assert not isinstance(result, Exception), result
        assert result.source == "sglang-token-ids"
        assert abs(score(mode, result) - want) < TOL, (family, mode, score(mode, result), want)
    # every score went through /generate with exact ids; none through chat, and the server was asked once
    assert usage["sglang_token_ids_logprob"] == "yes" and usage["exact_scores"] == len(reqs)
    assert server.bodies == [] and len(server.native_bodies) == len(reqs) and server.model_info_calls == 1
    tokens = hf.info()["level_tokens"]
    qalign_body = next(b for b in server.native_bodies if len(b["token_ids_logprob"]) == 5)
    assert qalign_body["token_ids_logprob"] == sorted(tokens[w]["id"] for w in QALIGN_LEVELS.words)
    assert qalign_body["sampling_params"] == {"max_new_tokens": 1, "temperature": 0}
    assert qalign_body["return_logprob"] is True and qalign_body["image_data"][0].startswith("data:image/png")
    assert usage["sglang_prompts"]["tokenizer"] == str(folder.resolve())
    bos = hf.tokenizer.bos_token
    if family == "llava-bos":  # the template's BOS was taken off: SGLang adds its own, once
        assert all(not b["text"].startswith(bos) for b in server.native_bodies)
        assert usage["sglang_prompts"]["bos"].startswith("taken off")


def test_sglang_reads_exact_ids_where_top_logprobs_cannot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On the tokenizer where ' good' splits, /generate asks for its first piece by id: exact again."""
    folder = split_good_llava(tmp_path, monkeypatch)
    request = a3_request(IMAGES[0])
    (want,) = direct(folder).score_tokens([request])
    with serve(folder, sglang=True) as server:
        (got,), usage, _ = score_with(server, [request])
    assert abs(got["good"] - got["poor"] - (want["good"] - want["poor"])) < TOL
    assert usage["split_words"] == {"good": 2}


def test_a_vllm_like_server_keeps_the_vllm_path() -> None:
    (request,) = [r for mode, r in requests()[:1]]
    with serve(tiny_models.cached("llava")) as server:  # no /get_model_info: 404, as vLLM answers
        (result,), usage, _ = score_with(server, [request])
    assert result.source == "token-ids" and usage["logprob_token_ids"] == "yes"
    assert "sglang_token_ids_logprob" not in usage and server.native_bodies == []
    assert "logprob_token_ids" in server.bodies[-1]


def test_auto_without_a_local_tokenizer_falls_back_and_says_why() -> None:
    (request,) = [r for mode, r in requests()[:1]]
    folder = tiny_models.cached("llava")
    with serve(folder, sglang=True, tokenizer_path="/models/not-on-this-machine") as server:
        (result,), usage, _ = score_with(server, [request], top_logprobs="400")
    assert result.source == "top-logprobs" and server.native_bodies == []
    why = usage["sglang_token_ids_logprob"]
    assert why.startswith("no (") and "/models/not-on-this-machine" in why and "-M tokenizer=PATH" in why
    # -M tokenizer points at the folder: the exact path again, and the identity names the tokenizer
    with serve(folder, sglang=True, tokenizer_path="/models/not-on-this-machine") as server:
        (result,), _, info = score_with(server, [request], tokenizer=str(folder))
    assert result.source == "sglang-token-ids"
    assert info["score_tokens"]["tokenizer"] == str(folder.resolve())


def test_explicit_sglang_mode_refuses_early() -> None:
    with (
        serve(tiny_models.cached("llava")) as server,  # vLLM-like: no /get_model_info
        pytest.raises(ModelError, match="needs an SGLang server"),
    ):
        api_model(server, logprobs="sglang")
    with serve(tiny_models.cached("llava"), sglang=True, tokenizer_path="/models/elsewhere") as server:
        with pytest.raises(UsageError, match="tokenizer_path '/models/elsewhere'") as caught:
            api_model(server, logprobs="sglang")
        assert caught.value.hint is not None and "-M tokenizer=PATH" in caught.value.hint
        assert server.native_bodies == [] and server.bodies == []  # nothing was scored
    with pytest.raises(UsageError, match="is not a folder"):
        load_model("openai:tiny", {"api_base": "http://127.0.0.1:9/v1", "tokenizer": "/no/such/folder"})


def test_a_generate_reply_missing_an_asked_id_fails_the_word_or_is_bounded() -> None:
    folder = tiny_models.cached("llava")
    request = a3_request(IMAGES[1])
    poor = direct(folder).info()["level_tokens"]["poor"]["id"]
    with serve(folder, sglang=True) as server:
        server.backend.drop_ids = {poor}  # type: ignore[attr-defined]
        (result,), usage, _ = score_with(server, [request])
    with pytest.raises(KeyError, match=rf"'poor' \(token id {poor}\) has no log-prob"):
        result["poor"]
    with pytest.raises(KeyError, match="level word 'poor' is missing"):
        read_words(result, ("good", "poor"), "fail")
    values, bounded = read_words(result, ("good", "poor"), "floor")
    assert bounded == ["poor"] and values["poor"] == result[LOWEST_LISTED] <= values["good"]
    assert usage["samples_missing_words"] == 1 and usage["exact_scores"] == 0


def test_top_logprobs_never_matches_another_token_for_a_split_word(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The defect: with ' good' = 'Ġ' + 'good', the text matcher took the bare 'good' token (another id)."""
    folder = split_good_llava(tmp_path, monkeypatch)
    hf = direct(folder)
    assert "good" in hf.info()["split_words"] and "poor" not in hf.info()["split_words"]
    request = a3_request(IMAGES[2])
    with serve(folder, token_ids=False) as server:  # /tokenize, but no logprob_token_ids: the fallback
        (result,), usage, _ = score_with(
            server, [request], top_logprobs="400"
        )  # the whole vocabulary is listed, bare 'good' too
    # what the old rule would have read: a listed token whose text is 'good', not the token hf: scores
    bare = match_word("good", {hf.tokenizer.decode([i]): 0.0 for i in range(len(hf.tokenizer))})
    assert (
        bare is not None
        and hf.tokenizer.convert_tokens_to_ids("good") != hf.info()["level_tokens"]["good"]["id"]
    )
    with pytest.raises(KeyError, match="'good' splits into 2 tokens"):
        result["good"]
    assert "poor" in result  # ' poor' is one token: still read by its text
    assert LOWEST_LISTED not in result  # a split word is not bounded under missing=floor either
    with pytest.raises(KeyError, match="'good'"):
        read_words(result, ("good", "poor"), "floor")
    assert usage["split_words"] == {"good": 2} and usage["samples_missing_words"] == 1
    # -M logprobs=top asks the server nothing; a local copy of its tokenizer still shows the split
    with serve(folder, token_ids=False) as server:
        (result,), usage, _ = score_with(
            server, [request], top_logprobs="400", logprobs="top", tokenizer=str(folder)
        )
        assert server.tokenize_calls == 0 and "logprob_token_ids" not in server.bodies[-1]
    with pytest.raises(KeyError, match=r"'good' splits into 2 tokens \(the tokenizer in"):
        result["good"]
    assert usage["split_words"] == {"good": 2} and usage["logprob_token_ids"] == "not asked"


def test_a_local_tokenizer_gives_the_ids_a_server_without_tokenize_cannot() -> None:
    folder = tiny_models.cached("qwen2_vl")
    reqs = requests()
    want = [score(m, r) for (m, _), r in zip(reqs, direct(folder).score_tokens([r for _, r in reqs]))]
    with serve(folder, tokenize=False) as server:  # vLLM's field, but no /tokenize route
        got, usage, info = score_with(server, [r for _, r in reqs], tokenizer=str(folder))
    assert all(r.source == "token-ids" for r in got) and usage["exact_scores"] == len(reqs)
    assert all(abs(score(m, r) - w) < TOL for (m, _), r, w in zip(reqs, got, want))
    assert info["score_tokens"]["tokenizer"] == str(folder.resolve())


def test_the_cli_names_the_missing_tokenizer_in_one_line(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=2, name="koniq.json")
    with serve(tiny_models.cached("llava"), sglang=True, tokenizer_path="/models/not-here") as server:
        out = run_cli(
            "run", "a3", "--data", str(data), "--model", "openai:tiny", "-M", f"api_base={server.url}",
            "-M", "logprobs=sglang", "--out", str(tmp_path / "run"), "-T", "bootstrap=0",
        )  # fmt: skip
        assert server.native_bodies == [] and server.bodies == []
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "/models/not-here" in lines[0] and "-M tokenizer=PATH" in lines[0]


@pytest.mark.parametrize(
    ("family", "scoring"),
    [
        ("qwen2_vl", ["-T", "scoring=qbench"]),
        ("llava", ["-T", "scoring=qalign"]),
        ("idefics3", ["-T", "scoring=levels", "-T", "levels=good:1,poor:0,low:0.5"]),
    ],
)
def test_a3_runs_through_sglang_equal_runs_on_the_model_itself(
    tmp_path: Path, family: str, scoring: list[str]
) -> None:
    data = write_mos_set(tmp_path / "koniq", n=4, name="koniq.json")
    folder = tiny_models.cached(family)
    common = ["--data", str(data), "-T", "bootstrap=0", *scoring]
    hf = run_cli("run", "a3", "--model", f"hf:{folder}", "--out", str(tmp_path / "hf"), *common)
    assert hf.returncode == 0, hf.stderr
    with serve(folder, sglang=True) as server:
        api = run_cli(
            "run", "a3", "--model", "openai:tiny", "-M", f"api_base={server.url}", "-M", "logprobs=sglang",
            "--out", str(tmp_path / "api"), *common,
        )  # fmt: skip
    assert api.returncode == 0, api.stderr

    def scores(out: Path) -> dict[str, float]:
        (records,) = out.rglob("records.jsonl")
        return {r["id"]: r["score"] for r in map(json.loads, records.read_text().splitlines())}

    got, want = scores(tmp_path / "api"), scores(tmp_path / "hf")
    assert set(got) == set(want) and all(abs(got[k] - want[k]) < TOL for k in want)
    (manifest,) = (tmp_path / "api").rglob("manifest.json")
    run = json.loads(manifest.read_text())
    usage = run["summary"]["usage"]
    assert usage["sglang_token_ids_logprob"] == "yes" and usage["exact_scores"] == 4
    assert "sglang_prompts" in json.dumps(run)  # the identity names the tokenizer that rendered the prompts
    assert str(folder.resolve()) in json.dumps(run)

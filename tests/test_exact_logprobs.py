"""Exact level-word log-probs through a server: a tiny real transformers model behind the loopback server
(playing vLLM's ``logprob_token_ids`` and ``/tokenize``) gives the same qbench, qalign and levels scores as
the ``hf:`` adapter computing them directly (|delta| < 1e-4); servers that lack the field or the tokenizer fall
back to ``top_logprobs`` and say so."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tiny_models
from model_server import serve
from qbench.errors import ModelError
from qbench.models.base import load_model
from qbench.models.token_ids import first_new_id, tokenize_url
from qbench.scoring.levels import QALIGN_LEVELS, QALIGN_PREFIX, level_score, parse_levels, qalign_content
from qbench.tasks import prompts
from qbench.tasks.base import a3_score
from qbench.types import Request
from test_hf_adapter import IMAGES, adapter

pytestmark = pytest.mark.hf

TOL = 1e-4
USER_LEVELS = parse_levels("high:1,good:0.75,low:0", temperature=2.0)


def requests() -> list[tuple[str, Request]]:
    out = []
    for img in IMAGES[:3]:
        out.append(
            (
                "qbench",
                Request(
                    prompts.a3_content(), (img,), assistant_prefix=prompts.A3_PREFIX, words=("good", "poor")
                ),
            )
        )
        out.append(
            (
                "qalign",
                Request(qalign_content(), (img,), assistant_prefix=QALIGN_PREFIX, words=QALIGN_LEVELS.words),
            )
        )
        out.append(
            (
                "levels",
                Request(
                    prompts.a3_content(), (img,), assistant_prefix=prompts.A3_PREFIX, words=USER_LEVELS.words
                ),
            )
        )
    return out


def score(mode: str, values: dict[str, float]) -> float:
    if mode == "qbench":
        return a3_score(values["good"], values["poor"], 100.0)[0]
    return level_score(values, QALIGN_LEVELS if mode == "qalign" else USER_LEVELS).score


def api_model(server: object, **options: str) -> object:
    return load_model("openai:tiny", {"api_base": server.url, "max_retries": "0", **options})  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "idefics3"])
def test_server_scores_equal_direct_hf_scores(family: str) -> None:
    direct = adapter(family)
    reqs = requests()
    expected = [score(mode, r) for (mode, _), r in zip(reqs, direct.score_tokens([r for _, r in reqs]))]
    with serve(tiny_models.cached(family)) as server:
        model = api_model(server)
        try:
            got = model.score_tokens([r for _, r in reqs])
            usage = model.usage()
        finally:
            model.close()
    for (mode, _), result, want in zip(reqs, got, expected):
        assert not isinstance(result, Exception), result
        assert result.source == "token-ids"
        assert abs(score(mode, result) - want) < TOL, (family, mode)
    assert usage["logprob_token_ids"] == "yes" and usage["exact_scores"] == len(reqs)
    # the ids asked for are the adapter's own level tokens (protocol 8.2), e.g. the first piece of ' excellent'
    tokens = direct.info()["level_tokens"]
    assert usage["word_ids"]["excellent"] == tokens["excellent"]["id"]
    assert usage["word_ids"]["good"] == tokens["good"]["id"]
    qalign_body = next(
        b for b in server.bodies if "excellent" in str(b) or len(b.get("logprob_token_ids", [])) == 5
    )
    assert sorted(qalign_body["logprob_token_ids"]) == sorted({tokens[w]["id"] for w in QALIGN_LEVELS.words})
    assert qalign_body["return_tokens_as_token_ids"] is True and qalign_body["continue_final_message"] is True


def test_a_server_without_the_field_falls_back_to_top_logprobs_and_says_so() -> None:
    direct = adapter("llava")
    reqs = requests()
    expected = direct.score_tokens([r for _, r in reqs])
    with serve(tiny_models.cached("llava"), token_ids=False) as server:
        model = api_model(server, top_logprobs="400")  # the whole tiny vocabulary: every word is listed
        try:
            got = model.score_tokens([r for _, r in reqs])
            usage = model.usage()
        finally:
            model.close()
    assert usage["logprob_token_ids"].startswith("no") and usage["exact_scores"] == 0
    for (mode, _), result, want in zip(reqs, got, expected):
        assert result.source == "top-logprobs"
        if mode == "qalign":
            # the tiny vocabulary spells ' excellent' in pieces: token text cannot match it, exact ids can
            with pytest.raises(KeyError, match="excellent"):
                score(mode, result)
        elif mode == "qbench":  # ' good' and ' poor' are whole tokens: the text match is exact too
            assert abs(score(mode, result) - score(mode, want)) < TOL
        else:  # ' high' splits into ' h' + 'igh' here: never matched by text (the bare 'high' is another token)
            with pytest.raises(KeyError, match="'high' splits into"):
                score(mode, result)
    assert usage["split_words"]["high"] > 1


def test_missing_words_fail_the_sample_and_floor_is_the_lowest_listed() -> None:
    with serve(tiny_models.cached("llava"), token_ids=False) as server:
        model = api_model(server, top_logprobs="3")
        try:
            [result] = model.score_tokens([requests()[1][1]])
        finally:
            model.close()
    missing = [w for w in QALIGN_LEVELS.words if w not in result]
    assert missing, "with 3 listed tokens some of the 5 levels must be missing"
    with pytest.raises(KeyError, match=missing[0]):
        result[missing[0]]
    assert result.floor is not None and all(result.floor <= v for v in result.values())


def test_strict_ids_mode_refuses_a_server_that_cannot_give_them() -> None:
    with serve(tiny_models.cached("llava"), token_ids=False) as server:
        model = api_model(server, logprobs="ids")
        try:
            with pytest.raises(ModelError, match="ignores logprob_token_ids"):
                model.score_tokens([requests()[0][1]])
        finally:
            model.close()
    with serve(tiny_models.cached("llava"), tokenize=False) as server:  # no /tokenize route at all
        model = api_model(server)
        try:
            [result] = model.score_tokens([requests()[0][1]])
            usage = model.usage()
        finally:
            model.close()
        assert result.source == "top-logprobs" and "/tokenize could not be used" in usage["tokenize"]
        assert "logprob_token_ids" not in server.bodies[-1]


def test_top_mode_never_asks_and_helpers() -> None:
    with serve(tiny_models.cached("llava")) as server:
        model = api_model(server, logprobs="top")
        try:
            model.score_tokens([requests()[0][1]])
        finally:
            model.close()
        assert server.tokenize_calls == 0 and "logprob_token_ids" not in server.bodies[-1]
    assert tokenize_url("http://h:8000/v1") == "http://h:8000/tokenize"
    assert tokenize_url("https://h/proxy/v1/") == "https://h/proxy/tokenize"
    assert first_new_id([5, 6, 7], [5, 6, 9, 10]) == 9 and first_new_id([5, 6], [5, 6]) is None
    with pytest.raises(Exception, match="logprobs must be one of"):
        load_model("openai:tiny", {"api_base": "http://127.0.0.1:9/v1", "logprobs": "exact"})


@pytest.mark.parametrize(
    "scoring", [["-T", "scoring=qalign"], ["-T", "scoring=levels", "-T", "levels=good:1,poor:0,low:0.5"]]
)
def test_a3_runs_through_the_server_equal_runs_on_the_model_itself(tmp_path, scoring: list[str]) -> None:  # type: ignore[no-untyped-def]
    import json

    from helpers import run_cli, write_mos_set

    data = write_mos_set(tmp_path / "koniq", n=5, name="koniq.json")
    folder = tiny_models.cached("qwen2_vl")
    common = ["--data", str(data), "-T", "bootstrap=0", *scoring]
    direct = run_cli("run", "a3", "--model", f"hf:{folder}", "--out", str(tmp_path / "hf"), *common)
    assert direct.returncode == 0, direct.stderr
    with serve(folder) as server:
        api = run_cli(
            "run", "a3", "--model", "openai:tiny", "-M", f"api_base={server.url}", "--out", str(tmp_path / "api"),
            *common,
        )  # fmt: skip
    assert api.returncode == 0, api.stderr

    def scores(out) -> dict[str, float]:  # type: ignore[no-untyped-def]
        (records,) = out.rglob("records.jsonl")
        return {r["id"]: r["score"] for r in map(json.loads, records.read_text().splitlines())}

    got, want = scores(tmp_path / "api"), scores(tmp_path / "hf")
    assert set(got) == set(want) and all(abs(got[k] - want[k]) < TOL for k in want)
    (manifest,) = (tmp_path / "api").rglob("manifest.json")
    usage = json.loads(manifest.read_text())["summary"]["usage"]
    assert usage["logprob_token_ids"] == "yes" and usage["exact_scores"] == 5

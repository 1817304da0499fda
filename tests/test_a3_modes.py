"""A3 scoring modes and presets end to end through the real CLI: qalign/levels/ensemble on a tiny model,
generated ratings against the loopback server with scripted replies (thinking blocks, JSON, garbage), and
presets whose split lists and fit are recorded in the manifest."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from fake_data_server import FakeDataServer
from fake_openai_server import FakeOpenAIServer, Reply
from helpers import run_cli, write_mos_set
from qbench.scoring.levels import QALIGN_LEVELS, level_score


def run_dir(out: Path) -> Path:
    (manifest,) = out.rglob("manifest.json")
    return manifest.parent


def records(folder: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(x) for x in (folder / "records.jsonl").read_text().splitlines() if x.strip()]
    return {r["id"]: r for r in lines}


def read(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / name).read_text())


# -- level modes on a tiny model -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_llava() -> Path:
    pytest.importorskip("torch")
    import tiny_models

    return tiny_models.cached("llava")


@pytest.mark.hf
def test_qalign_levels_and_ensemble_runs_record_their_mode(tmp_path: Path, tiny_llava: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=6, name="koniq.json")
    common = ["--model", f"hf:{tiny_llava}", "--data", str(data), "-T", "bootstrap=0"]
    runs = {}
    for name, opts in {
        "default": [],
        "qalign": ["-T", "scoring=qalign"],
        "levels": ["-T", "scoring=levels", "-T", "levels=good:1,poor:0", "-T", "temperature=100"],
        "ensemble": ["-T", "scoring=ensemble", "-T", "positive=good", "-T", "negative=poor"],
    }.items():
        out = tmp_path / name
        result = run_cli("run", "a3", *common, "--out", str(out), *opts)
        assert result.returncode == 0, result.stderr
        runs[name] = run_dir(out)
    qalign = read(runs["qalign"], "manifest.json")["task_info"]
    assert qalign["scoring"] == "qalign" and qalign["levels"]["words"] == list(QALIGN_LEVELS.words)
    assert qalign["prompt_version"] and qalign["missing"] == "fail"
    for record in records(runs["qalign"]).values():
        assert record["score"] == pytest.approx(level_score(record["logits"], QALIGN_LEVELS).score, abs=1e-12)
        assert sum(record["probs"]) == pytest.approx(1.0)
    assert read(runs["qalign"], "metrics.json")["scoring"] == "qalign"
    # levels good:1,poor:0 at T=100 and the one-pair ensemble are the official score, computed another way
    default = records(runs["default"])
    for mode in ("levels", "ensemble"):
        for rid, record in records(runs[mode]).items():
            assert record["score"] == pytest.approx(default[rid]["score"], abs=1e-12), mode
    # each mode is its own run (identity): four different folders
    assert len({p.name for p in runs.values()}) == 4


def test_bad_mode_options_fail_before_any_work(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=3)
    for opts, needle in [
        (["-T", "scoring=qalgn"], "scoring=qalgn"),
        (["-T", "scoring=levels"], "levels=WORD:WEIGHT"),
        (["-T", "scoring=levels", "-T", "levels=good:1,good:2"], "given twice"),
        (["-T", "scoring=qalign", "-T", "samples=3"], "samples"),
        (["-T", "missing=zero"], "missing=zero"),
        (["-T", "scoring=rating", "-T", "prompt=gpt"], "prompt=gpt"),
        (["-T", "pad=1,2"], "pad=1,2"),
        (["-T", "preset=qalign"], "no preset 'qalign'"),
    ]:
        result = run_cli(
            "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "o"), *opts
        )
        assert result.returncode == 2, (opts, result.stderr)
        assert needle in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


# -- generated ratings against the loopback server ---------------------------------------------------------------
SCRIPT = [
    ("<think>The image is sharp and well exposed, maybe 5.</think><answer>4.25</answer>", 4.25),
    ("<think>Blurry.</think> <answer>2</answer> <answer>1.5</answer>", 1.5),  # the last <answer>
    ("<answer>3.75</answer>", 3.75),
    ("I cannot rate this image.", None),  # garbage
    ("<think>It deserves a 4</think>", None),  # thinking only, no answer: never read from the thinking
    ("<answer>9.5</answer>", None),  # out of range
    ("<think>cut off by max_new_tokens <answer>3", None),
    ("<answer>1</answer>", 1.0),
]


def image_url(path: Path) -> str:
    from PIL import Image

    from qbench.models.openai_compat import encode_image

    with Image.open(path) as img:
        return encode_image(img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy(), "png", 95, 0)[
            0
        ]


def scripted(by_image: dict[str, str]):  # type: ignore[no-untyped-def]
    def respond(body: dict[str, Any]) -> Reply:
        for message in body["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                if part.get("type") == "image_url":
                    key = hashlib.sha256(part["image_url"]["url"].encode()).hexdigest()
                    return Reply(text=by_image.get(key, "unknown image"))
        return Reply(text="no image")

    return respond


def test_ratings_parse_thinking_json_and_count_garbage_without_imputing(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=len(SCRIPT), name="koniq.json")
    items = json.loads(data.read_text())
    by_image = {
        hashlib.sha256(image_url(data.parent / it["img_path"]).encode()).hexdigest(): reply
        for it, (reply, _) in zip(items, SCRIPT)
    }
    with FakeOpenAIServer(scripted(by_image)) as server:
        out = tmp_path / "runs"
        result = run_cli(
            "run", "a3", "--model", "openai:r1", "-M", f"api_base={server.url}", "--data", str(data),
            "--out", str(out), "-T", "scoring=rating", "-T", "prompt=vq-r1", "-T", "bootstrap=0",
        )  # fmt: skip
        bodies = list(server.bodies)
    assert result.returncode == 0, result.stderr
    folder = run_dir(out)
    recs = records(folder)
    for it, (reply, rating) in zip(items, SCRIPT):
        rec = recs[it["img_path"]]
        assert rec["reply"] == reply and rec["rating"] == rating and rec["score"] == rating
        assert ("parse_error" in rec) == (rating is None)
    metrics = read(folder, "metrics.json")
    parsed = sum(r is not None for _, r in SCRIPT)
    assert metrics["n"] == parsed and metrics["unparsed"] == len(SCRIPT) - parsed  # no imputation
    assert metrics["parse_failure_rate"] == pytest.approx((len(SCRIPT) - parsed) / len(SCRIPT))
    info = read(folder, "manifest.json")["task_info"]
    assert info["scoring"] == "rating" and info["rating_prompt"]["name"] == "vq-r1"
    assert info["sampling"] == {"samples": 0, "decoding": "greedy"}
    # the request is the published one: image first, then the question; greedy
    body = bodies[0]
    parts = body["messages"][-1]["content"]
    assert parts[0]["type"] == "image_url" and parts[1]["text"].endswith(
        "one score in <answer> </answer> tags."
    )
    assert body["temperature"] == 0


def test_q_insight_json_rating_with_its_system_prompt(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=4, name="koniq.json")
    items = json.loads(data.read_text())
    replies = [
        '<think>ok</think><answer>{"rating": 3.42}</answer>',
        '<answer>```json\n{"rating": 4.1}\n```</answer>',
        '<answer>{"score": 2}</answer>',
        "<answer>2.5</answer>",
    ]
    by_image = {
        hashlib.sha256(image_url(data.parent / it["img_path"]).encode()).hexdigest(): r
        for it, r in zip(items, replies)
    }
    with FakeOpenAIServer(scripted(by_image)) as server:
        out = tmp_path / "runs"
        result = run_cli(
            "run", "a3", "--model", "openai:qi", "-M", f"api_base={server.url}", "--data", str(data),
            "--out", str(out), "-T", "scoring=rating", "-T", "prompt=q-insight", "-T", "bootstrap=0",
        )  # fmt: skip
        body = server.bodies[0]
    assert result.returncode == 0, result.stderr
    recs = records(run_dir(out))
    assert [recs[it["img_path"]]["rating"] for it in items] == [3.42, 4.1, None, 2.5]
    assert recs[items[2]["img_path"]]["parse_error"] == "the JSON answer has no 'rating'"
    assert body["messages"][0]["role"] == "system" and "<think> reasoning process here </think>" in str(
        body["messages"][0]["content"]
    )
    user = body["messages"][1]["content"]
    assert user[0]["type"] == "text" and user[1]["type"] == "image_url"  # Q-Insight: text, then image


def test_all_replies_unparsed_is_an_unusable_run(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=3, name="koniq.json")
    with FakeOpenAIServer(lambda body: "no idea") as server:
        result = run_cli(
            "run", "a3", "--model", "openai:r1", "-M", f"api_base={server.url}", "--data", str(data),
            "--out", str(tmp_path / "runs"), "-T", "scoring=rating", "-T", "bootstrap=0",
        )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "unparsed" in result.stderr


# -- presets: split lists and fit in the manifest -------------------------------------------------------------
def install_lists(tmp_path: Path, server: FakeDataServer, names: list[str]) -> dict[str, str]:
    """qalign-splits and deqa-splits installed through ``qbench data get`` from the fake hosts."""
    raw = "Q-Future/Q-Align/14dfdffb3b970c0727d48938b8f3741a65acbd6e/playground/data/test_jsons"
    koniq = json.dumps([{"id": f"{n}->50", "image": f"koniq/{n}", "gt_score": 50.0} for n in names]).encode()
    server.put(f"gh/{raw}/test_koniq.json", koniq)
    deqa = json.dumps([{"id": n, "image": f"KONIQ/images/{n}", "gt_score": 3.0} for n in names]).encode()
    server.hub("zhiyuanyou/Data-DeQA-Score", "KONIQ/metas/test_koniq_2k.json", deqa)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[mirrors]\n"https://raw.githubusercontent.com/" = "{server.url}/files/gh/"\n'
        "[datasets.qalign-splits]\nfiles = [\n"
        f'  {{ name = "test_koniq.json", url = "https://raw.githubusercontent.com/{raw}/test_koniq.json", '
        f'sha256 = "{hashlib.sha256(koniq).hexdigest()}" }},\n]\n'
        "[datasets.deqa-splits]\nfiles = [\n"
        '  { name = "KONIQ/metas/test_koniq_2k.json", hf_repo = "zhiyuanyou/Data-DeQA-Score", sha256 = "" },\n]\n'
    )
    env = {
        "QBENCH_DATA_DIR": str(tmp_path / "home"),
        "QBENCH_SOURCES": str(sources),
        "HF_ENDPOINT": server.url,
        "HF_HUB_OFFLINE": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for name in ("qalign-splits", "deqa-splits"):
        got = run_cli("data", "get", name, env=env, cwd=tmp_path)
        assert got.returncode == 0, got.stderr
    return env


def test_presets_record_split_lists_hashes_and_fit(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=12, name="koniq.json")
    names = [it["img_path"] for it in json.loads(data.read_text())]
    listed = [*names[1:11], "not_in_the_data.jpg"]
    with FakeDataServer() as server:
        env = install_lists(tmp_path, server, listed)
    results = {}
    for preset in ("q-align", "deqa", "qbench"):
        out = tmp_path / preset
        # --preset NAME is -T preset=NAME
        how = ["--preset", preset] if preset != "deqa" else ["-T", f"preset={preset}"]
        result = run_cli(
            "run", "a3", "--model", "random", "--data", str(data), "--out", str(out), *how,
            "-T", "bootstrap=0", env=env,
        )  # fmt: skip
        assert result.returncode == 0, (preset, result.stderr)
        results[preset] = run_dir(out)
    qalign = read(results["q-align"], "manifest.json")
    info = qalign["task_info"]
    assert info["preset"]["name"] == "q-align" and info["preset"]["fit"] == "none"
    split = info["selection"]["split"]
    assert split["file"] == "test_koniq.json" and split["listed"] == 11 and split["kept"] == 10
    assert split["missing"] == 1 and split["check"].startswith("known") and len(split["sha256"]) == 64
    assert qalign["n"] == 10 and set(records(results["q-align"])) == set(listed[:10])
    deqa_info = read(results["deqa"], "manifest.json")["task_info"]
    assert deqa_info["preset"]["fit"] == "logistic4-deqa"
    # no recorded hash for DeQA's metas: hashed at the download, and the record says so
    assert deqa_info["selection"]["split"]["check"].startswith("computed")
    metrics = read(results["deqa"], "metrics.json")
    assert metrics["preset"] == "deqa" and metrics["fit"]["type"] == "logistic4-deqa-v1"
    assert len(metrics["fit"]["params"]) == 4 and "plcc_fitted" in metrics and "plcc" in metrics
    plain = read(results["qbench"], "manifest.json")
    assert plain["n"] == 12 and plain["task_info"]["selection"]["split"] == "full set"
    assert "fit" not in read(results["qbench"], "metrics.json")


def test_a_preset_without_its_lists_says_how_to_get_them(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=4, name="koniq.json")
    result = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "o"), "-T", "preset=deqa",
        env={"QBENCH_DATA_DIR": str(tmp_path / "empty")},
    )  # fmt: skip
    assert result.returncode == 2 and "qbench data get deqa-splits" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_floor_bounds_and_records(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=3, name="koniq.json")
    top = {" excellent": -0.5, " good": -1.0, " fair": -2.0, " poor": -3.0}  # ' bad' is not listed
    with FakeOpenAIServer(lambda body: Reply(text="excellent", top_logprobs=top)) as server:
        base = ["run", "a3", "--model", "openai:m", "-M", f"api_base={server.url}", "--data", str(data)]
        failed = run_cli(*base, "--out", str(tmp_path / "a"), "-T", "scoring=qalign", "-T", "bootstrap=0")
        floored = run_cli(
            *base,
            "--out",
            str(tmp_path / "b"),
            "-T",
            "scoring=qalign",
            "-T",
            "missing=floor",
            "-T",
            "bootstrap=0",
        )
    assert failed.returncode == 1  # every sample failed ('bad' is missing from every reply): incomplete
    errors = [r["error"] for r in records(run_dir(tmp_path / "a")).values()]
    assert all("level word 'bad' is missing" in e for e in errors)
    assert floored.returncode == 0, floored.stderr
    for rec in records(run_dir(tmp_path / "b")).values():
        assert rec["bounded"] == ["bad"] and rec["logits"]["bad"] == -3.0
        expected = level_score({w.strip(): v for w, v in top.items()} | {"bad": -3.0}, QALIGN_LEVELS).score
        assert rec["score"] == pytest.approx(expected) and not math.isnan(rec["score"])
    assert read(run_dir(tmp_path / "b"), "manifest.json")["task_info"]["missing"] == "floor"


# -- samples=K: published sampling, seeds recorded, mean and spread per image --------------------------------
def test_samples_use_published_settings_record_seeds_and_report_spread(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=4, name="koniq.json")
    items = json.loads(data.read_text())
    first = hashlib.sha256(image_url(data.parent / items[0]["img_path"]).encode()).hexdigest()

    def respond(body: dict[str, Any]) -> Reply:
        url = next(p for p in body["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]
        if hashlib.sha256(url.encode()).hexdigest() == first and body["seed"] == 44:
            return Reply(text="<think>hmm</think>")  # one unparsed sample: left out of that image's mean
        return Reply(text=f'<answer>{{"rating": {1 + body["seed"] - 42}}}</answer>')

    with FakeOpenAIServer(respond) as server:
        out = tmp_path / "runs"
        result = run_cli(
            "run", "a3", "--model", "openai:qi", "-M", f"api_base={server.url}", "--data", str(data),
            "--out", str(out), "-T", "scoring=rating", "-T", "prompt=q-insight", "-T", "samples=3",
            "-T", "bootstrap=0",
        )  # fmt: skip
        bodies = list(server.bodies)
    assert result.returncode == 0, result.stderr
    assert len(bodies) == 12
    assert {b["seed"] for b in bodies} == {42, 43, 44}
    assert all((b["temperature"], b["top_p"], b["top_k"]) == (1.0, 0.95, 50) for b in bodies)
    folder = run_dir(out)
    recs = records(folder)
    assert len(recs) == 12 and recs[f"{items[1]['img_path']}#2"]["seed"] == 44
    assert recs[f"{items[0]['img_path']}#2"]["rating"] is None
    info = read(folder, "manifest.json")["task_info"]
    assert info["sampling"]["samples"] == 3 and info["sampling"]["seeds"] == [42, 43, 44]
    assert (info["sampling"]["top_k"], info["sampling"]["top_p"]) == (50, 0.95)
    metrics = read(folder, "metrics.json")
    assert metrics["replies"] == 12 and metrics["unparsed"] == 1 and metrics["n"] == 4
    # ratings 1, 2, 3 per image (std 1); the first image has 1, 2 (std 0.7071...)
    assert metrics["spread_max_std"] == pytest.approx(1.0)
    assert metrics["spread_mean_std"] == pytest.approx((3 * 1.0 + math.sqrt(0.5)) / 4)


# -- reports: every mode and preset in the A3 tables and the HTML ---------------------------------------------
def test_reports_show_modes_presets_fit_parse_failures_and_spread(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=10, name="koniq.json")
    names = [it["img_path"] for it in json.loads(data.read_text())]
    with FakeDataServer() as server:
        env = install_lists(tmp_path, server, names)
    out = tmp_path / "runs"
    deqa = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(out), "--preset", "deqa",
        "-T", "bootstrap=0", env=env,
    )  # fmt: skip
    assert deqa.returncode == 0, deqa.stderr

    def respond(body: dict[str, Any]) -> Reply:
        seed = body.get("seed", 0)
        return Reply(
            text="no rating" if seed == 43 else f"<answer>{1 + (len(str(body)) + seed) % 4}</answer>"
        )

    with FakeOpenAIServer(respond) as api:
        rating = run_cli(
            "run", "a3", "--model", "openai:r1", "-M", f"api_base={api.url}", "--data", str(data),
            "--out", str(out), "-T", "scoring=rating", "-T", "samples=3", "-T", "bootstrap=0",
        )  # fmt: skip
    assert rating.returncode == 0, rating.stderr
    text = run_cli("report", str(out), "--format", "md")
    assert text.returncode == 0, text.stderr
    for needle in (
        "SRCC (fitted)",
        "PLCC (fitted)",
        "Unparsed",
        "Spread (mean std)",
        "preset deqa",
        "scoring rating",
    ):
        assert needle in text.stdout, needle
    assert "10 of 30 replies unparsed" in text.stdout  # seed 43 of every image: counted, not imputed
    html = run_cli("report", str(out), "--format", "html").stdout
    assert "PLCC (fitted)" in html and "unparsed 33.3%" in html and "spread (mean std)" in html
    assert html.count("<svg") >= 2  # a score-against-MOS plot per run


def test_vq_r1_preset_is_the_thinking_rating_on_the_full_set(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "koniq", n=5, name="koniq.json")

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(text=f"<think>...</think><answer>{1 + len(json.dumps(body)) % 4}.5</answer>")

    with FakeOpenAIServer(respond) as server:
        out = tmp_path / "runs"
        result = run_cli(
            "run", "a3", "--model", "openai:vq", "-M", f"api_base={server.url}", "--data", str(data),
            "--out", str(out), "--preset", "vq-r1", "-T", "bootstrap=0",
            env={"QBENCH_DATA_DIR": str(tmp_path / "empty")},  # full sets: no list to install
        )  # fmt: skip
        prompt = server.bodies[0]["messages"][-1]["content"][1]["text"]
    assert result.returncode == 0, result.stderr
    folder = run_dir(out)
    info = read(folder, "manifest.json")["task_info"]
    assert info["preset"]["name"] == "vq-r1" and info["rating_prompt"]["name"] == "vq-r1"
    assert info["selection"]["split"] == "full set" and info["preset"]["resize"] == "processor"
    assert "First output the thinking process in <think> </think> tags" in prompt
    assert read(folder, "metrics.json")["preset"] == "vq-r1"


def test_rescore_recomputes_mode_scores_from_stored_logits_and_replies() -> None:
    from qbench.tasks.assessment import AssessmentTask
    from qbench.types import Record

    logits = {"excellent": 1.0, "good": 0.5, "fair": 0.0, "poor": -1.0, "bad": -2.0}
    stale = Record("a.png", {"img_path": "a.png", "mos": 3.0, "logits": logits, "score": 0.0})
    [fresh] = AssessmentTask({"scoring": "qalign"}).rescore([stale])
    assert fresh.output["score"] == pytest.approx(level_score(logits, QALIGN_LEVELS).score)
    old = {"img_path": "b.png", "mos": 2.0, "reply": "<think>4</think><answer>2.5</answer>", "rating": 4.0}
    [again] = AssessmentTask({"scoring": "rating", "prompt": "vq-r1"}).rescore([Record("b.png", old)])
    assert (
        again.output["rating"] == 2.5 and again.output["score"] == 2.5 and "parse_error" not in again.output
    )
    garbage = Record(
        "c.png", {"img_path": "c.png", "mos": 2.0, "reply": "no idea", "rating": 3.0, "score": 3.0}
    )
    [unparsed] = AssessmentTask({"scoring": "rating"}).rescore([garbage])
    assert unparsed.output["score"] is None and unparsed.output["parse_error"]  # a stale score is not kept
    scalar = Record("d.png", {"img_path": "d.png", "mos": 1.0, "score": 0.7})
    assert AssessmentTask({"scoring": "qalign"}).rescore([scalar]) == [scalar]

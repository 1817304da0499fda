"""Runs that measured nothing fail, suspect runs warn, bad settings stop before any work, no bare NaN.

Everything goes through the real CLI in a subprocess, with a user's own ``py:`` model written to a file:
the model answers unreadably (all or some of the time), the judge never gives a score, a shard selects
nothing, the scores are constant. Exit codes: 2 usage (before any work), 3 unusable run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from helpers import run_cli, write_mos_set

A1_MODEL = """
class Mumbler:
    name = "mumbler"
    def __init__(self, readable_every=0):
        self.every = int(readable_every)
        self.calls = 0
    def generate(self, requests):
        out = []
        for _ in requests:
            self.calls += 1
            out.append("A" if self.every and self.calls % self.every == 0 else "Hmm, hard to say really.")
        return out
"""

A2_MODEL = """
class Describer:
    name = "describer"
    def generate(self, requests):
        return ["A sharp photo of a red square." for _ in requests]

class NoScoreJudge:
    name = "no-score-judge"
    def generate(self, requests):
        return ["I would rather not grade this." for _ in requests]
"""

A3_CONSTANT = """
class Flat:
    name = "flat"
    def score_tokens(self, requests):
        return [{"good": 1.0, "poor": 1.0} for _ in requests]
"""


A3_NAN = """
class Broken:
    name = "broken"
    def __init__(self, every=1):
        self.every = int(every)
        self.calls = 0
    def score_tokens(self, requests):
        out = []
        for _ in requests:
            self.calls += 1
            bad = self.calls % self.every == 0
            out.append({"good": float("nan") if bad else float(self.calls), "poor": 0.0})
        return out
"""


def test_an_a3_run_without_a_finite_score_is_unusable_and_some_nan_warns(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(A3_NAN)
    data = write_mos_set(tmp_path / "data", n=6)
    out = tmp_path / "runs"
    args = ("run", "a3", "--model", "py:broken:Broken", "--data", str(data), "-T", "bootstrap=0")
    result = run_cli(*args, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "no score could be computed: 6 of 6" in _one_error_line(result.stderr)
    some = run_cli(*args, "--out", str(tmp_path / "some"), "-M", "every=3", cwd=tmp_path)
    assert some.returncode == 0, some.stderr
    assert "suspect run: 2 of 6 (33.3%) scores are not finite numbers" in some.stderr
    assert "non-finite-logits x2" in some.stderr
    for records in tmp_path.rglob("records.jsonl"):  # every line valid JSON: null, and the reason beside it
        text = records.read_text()
        assert "NaN" not in text and "Infinity" not in text
        lines = [json.loads(line) for line in text.splitlines()]
        assert any(line["score"] is None and line["score_form"] == "non-finite-logits" for line in lines)
    shown = run_cli("show", str(next((tmp_path / "some").rglob("manifest.json")).parent))
    assert "score n/a (non-finite-logits)" in shown.stdout


LOSSES = """
class Lossy:
    name = "lossy"
    def score_options(self, requests):
        return [[float("nan")] + [1.0] * (len(r.options) - 1) if i % 2 else [0.5] + [1.0] * (len(r.options) - 1)
                for i, r in enumerate(requests)]
"""


def test_nan_losses_are_stored_as_null_and_rescore_reads_them_back(tmp_path: Path) -> None:
    (tmp_path / "lossy.py").write_text(LOSSES)
    out = tmp_path / "runs"
    args = (
        "run",
        "a1",
        "--model",
        "py:lossy:Lossy",
        "--data",
        "synthetic",
        "--limit",
        "8",
        "-T",
        "bootstrap=0",
    )
    result = run_cli(*args, "--out", str(out), "--batch-size", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = [p.parent for p in out.rglob("records.jsonl")]
    text = (run / "records.jsonl").read_text()
    assert "NaN" not in text
    rules = [json.loads(line)["rule"] for line in text.splitlines()]
    assert rules.count("non-finite-loss") == 4
    rescored = run_cli("score", str(run), cwd=tmp_path)
    assert rescored.returncode == 0, rescored.stderr
    metrics = [json.loads(p.read_text()) for p in out.rglob("metrics.json")]
    assert len(metrics) == 2 and metrics[0]["rule/non-finite-loss"] == metrics[1]["rule/non-finite-loss"] == 4


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _manifest(out: Path) -> dict:
    (path,) = out.rglob("manifest.json")
    return json.loads(path.read_text())


def _a1(tmp_path: Path, *extra: str, model: str = "py:a1_model:Mumbler") -> tuple:
    (tmp_path / "a1_model.py").write_text(A1_MODEL)
    out = tmp_path / "runs"
    args = ("run", "a1", "--model", model, "--data", "synthetic", "--out", str(out), "--limit", "20")
    return run_cli(*args, "-T", "bootstrap=0", *extra, cwd=tmp_path), out


def test_an_all_unreadable_a1_run_is_unusable(tmp_path: Path) -> None:
    result, out = _a1(tmp_path)
    assert result.returncode == 3, result.stderr
    line = _one_error_line(result.stderr)
    assert "no answer could be read" in line and "20 of 20" in line and "unreadable" in line
    manifest = _manifest(out)
    assert manifest["status"] == "unusable" and "no answer could be read" in manifest["error"]
    report = run_cli("report", str(out), "--format", "json")
    assert report.returncode != 0  # an unusable run is never reported as numbers


def test_a_mostly_unreadable_run_is_kept_with_a_warning_naming_the_rate_and_rules(tmp_path: Path) -> None:
    result, out = _a1(tmp_path, "-M", "readable_every=2")
    assert result.returncode == 0, result.stderr
    assert "suspect run: 10 of 20 (50.0%) answers unreadable" in result.stderr
    assert "unreadable x10" in result.stderr and "Hmm, hard to say" in result.stderr
    assert "suspect" not in result.stdout  # warnings are not results
    assert _manifest(out)["status"] == "complete"


def test_a_run_with_few_unreadable_answers_does_not_warn(tmp_path: Path) -> None:
    result, _ = _a1(tmp_path, "-M", "readable_every=1")
    assert result.returncode == 0, result.stderr
    assert "suspect" not in result.stderr


def _a2_data(tmp_path: Path) -> Path:
    data = tmp_path / "a2"
    data.mkdir()
    items = []
    for i in range(3):
        Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(data / f"{i}.png")
        items.append({"img_path": f"{i}.png", "reference": f"A clear photo number {i}."})
    path = data / "a2.json"
    path.write_text(json.dumps(items))
    return path


def test_an_a2_run_whose_judge_never_scores_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "a2_model.py").write_text(A2_MODEL)
    out = tmp_path / "runs"
    result = run_cli(
        "run", "a2", "--model", "py:a2_model:Describer", "--judge", "py:a2_model:NoScoreJudge",
        "--data", str(_a2_data(tmp_path)), "--out", str(out), "-T", "bootstrap=0", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    line = _one_error_line(result.stderr)
    assert "no judge round could be read" in line and "45 of 45" in line and "rather not grade" in line
    assert _manifest(out)["status"] == "unusable"


def test_a_shard_beyond_the_data_is_unusable(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=2)
    out = tmp_path / "runs"
    result = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(out), "--shard", "3/4"
    )
    assert result.returncode == 3, result.stderr
    assert "no samples selected" in _one_error_line(result.stderr)
    assert _manifest(out)["status"] == "unusable"


@pytest.mark.parametrize(
    ("task", "option"),
    [
        ("a3", "temperature=nan"),
        ("a3", "temperature=inf"),
        ("a3", "temperature=-inf"),
        ("a3", "temperature=0"),
        ("a3", "temperature=-1"),
        ("a3", "positive=poor"),
        ("a3", "negative=good"),
        ("a3", "positive= "),
        ("a3", "bootstrap=-1"),
        ("a1", "bootstrap=-5"),
        ("a2", "bootstrap=-2"),
    ],
)
def test_invalid_settings_are_usage_errors_before_any_work(tmp_path: Path, task: str, option: str) -> None:
    data = {"a1": "synthetic", "a2": str(_a2_data(tmp_path)), "a3": str(write_mos_set(tmp_path / "d", n=3))}
    out = tmp_path / "runs"
    result = run_cli("run", task, "--model", "random", "--data", data[task], "--out", str(out), "-T", option)
    assert result.returncode == 2, result.stderr
    assert option.split("=")[0] in _one_error_line(result.stderr)
    assert not out.exists()  # nothing was started


@pytest.mark.parametrize(
    "flags", [("--workers", "0"), ("--workers", "-1"), ("--concurrency", "0"), ("--limit", "0")]
)
def test_invalid_run_flags_are_usage_errors_before_any_work(tmp_path: Path, flags: tuple[str, str]) -> None:
    out = tmp_path / "runs"
    result = run_cli("run", "a3", "--model", "random", "--data", "synthetic-iqa", "--out", str(out), *flags)
    assert result.returncode == 2, result.stderr
    assert flags[0] in _one_error_line(result.stderr)
    assert not out.exists()


def test_import_with_one_word_for_both_levels_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "livec.json"
    path.write_text(json.dumps([{"img_path": "a.jpg", "gt_score": 1, "logit_good": 1, "logit_poor": 2}]))
    result = run_cli("import", "a3", str(path), "--model", "m", "--positive", "good", "--negative", "good")
    assert result.returncode == 2 and "both 'good'" in _one_error_line(result.stderr)


def test_undefined_correlations_are_null_with_a_reason_and_na_in_reports(tmp_path: Path) -> None:
    (tmp_path / "flat.py").write_text(A3_CONSTANT)
    data = write_mos_set(tmp_path / "data", n=5)
    out = tmp_path / "runs"
    result = run_cli(
        "run", "a3", "--model", "py:flat:Flat", "--data", str(data), "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (metrics_file,) = out.rglob("metrics.json")
    text = metrics_file.read_text()
    assert "NaN" not in text
    metrics = json.loads(text)
    assert metrics["srcc"] is None and metrics["plcc"] is None
    assert "constant" in metrics["undefined"]["srcc"]
    for fmt in ("md", "csv", "json", "html"):
        report = run_cli("report", str(out), "--format", fmt)
        assert report.returncode == 0, report.stderr
        shown = report.stdout.replace('data-v="NaN"', "").replace("isNaN", "")  # html's sort keys and script
        assert "NaN" not in shown, fmt
        if fmt != "json":
            assert "n/a (correlation undefined: the predicted scores are constant)" in report.stdout, fmt
    table = run_cli("report", str(out))
    assert "n/a" in table.stdout


def test_logs_go_to_stderr_and_results_to_stdout(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=4)
    result = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "SRCC" in result.stdout
    assert "4/4" in result.stderr and "4/4" not in result.stdout  # the progress line

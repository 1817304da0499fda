"""The A3 score uses the official notebook's operations, so SRCC matches the official digits (protocol.md 8.3).

``exp(a/T) / (exp(a/T) + exp(b/T))`` and ``1 / (1 + exp((b-a)/T))`` are equal on paper but not in float64:
with coarse (quantised) logits many images share one ``a - b``; the stable form makes them exact ties, the
official form does not, and Spearman's rank correlation depends on those ties. These tests build such logits
and check that what qbench reports is the official form's ``scipy.stats.spearmanr``, through every path that
turns logits into a score: a run, an import of official outputs, and ``qbench score``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from helpers import run_cli
from qbench.importer import import_a3
from qbench.tasks.base import a3_score


def notebook_softmax(a: float, b: float, temperature: float = 100.0) -> float:
    """Verbatim the official eval.ipynb ``softmax``: divide in place, then numpy exp in float64."""
    a /= temperature
    b /= temperature
    return np.exp(a) / (np.exp(a) + np.exp(b))


def stable_softmax(a: float, b: float, temperature: float = 100.0) -> float:
    return 1.0 / (1.0 + np.exp((b - a) / temperature))


def quantised(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarse logits (steps of 1/4 and 1/8, as a bf16 head gives) with few distinct differences, and MOS."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 64, n) * 0.25 + 10.0
    diff = rng.integers(-3, 4, n) * 0.125
    mos = diff * 2 + rng.normal(0, 1, n)
    return base + diff, base, mos


def srccs(good: np.ndarray, poor: np.ndarray, mos: np.ndarray) -> tuple[float, float]:
    official = [notebook_softmax(float(a), float(b)) for a, b in zip(good, poor, strict=True)]
    stable = [stable_softmax(float(a), float(b)) for a, b in zip(good, poor, strict=True)]
    return float(stats.spearmanr(mos, official).statistic), float(stats.spearmanr(mos, stable).statistic)


@pytest.mark.parametrize("seed", range(6))
def test_import_reports_the_official_forms_srcc_where_the_forms_disagree(tmp_path: Path, seed: int) -> None:
    good, poor, mos = quantised(seed)
    official, stable = srccs(good, poor, mos)
    assert official != stable  # the data has the property: the two forms rank the ties differently
    items = [
        {"img_path": f"{i}.jpg", "gt_score": float(m), "logit_good": float(a), "logit_poor": float(b)}
        for i, (a, b, m) in enumerate(zip(good, poor, mos, strict=True))
    ]
    path = tmp_path / "livec.json"
    path.write_text("".join(json.dumps(item) for item in items))
    (run,) = import_a3([path], model="coarse", out=tmp_path / "runs")
    assert run.metrics()["srcc"] == official
    records = run.records()
    assert {r.output["score_form"] for r in records.values()} == {"official"}
    for item in items:
        got = records[item["img_path"]].output["score"]
        assert got == notebook_softmax(item["logit_good"], item["logit_poor"])


def test_score_is_bit_identical_to_the_notebook_over_a_range_of_logits() -> None:
    rng = np.random.default_rng(7)
    for a, b in rng.normal(0, 300, size=(2000, 2)):
        score, form = a3_score(float(a), float(b), 100.0)
        assert form == "official"
        assert score == notebook_softmax(float(a), float(b))


@pytest.mark.parametrize(
    ("good", "poor", "expected"),
    [(1e6, 0.0, 1.0), (0.0, 1e6, 0.0), (-1e6, -1e6 - 50.0, 1 / (1 + np.exp(-0.5))), (80000.0, 80000.0, 0.5)],
)
def test_the_stable_form_only_where_exp_cannot_give_a_number(
    good: float, poor: float, expected: float
) -> None:
    score, form = a3_score(good, poor, 100.0)
    assert form == "stable"
    assert score == pytest.approx(expected)
    assert np.isfinite(score)


MODEL = """
import numpy as np

class Coarse:
    name = "coarse"

    def score_tokens(self, requests):
        out = []
        for request in requests:
            r, g, b = np.asarray(request.images[0].convert("RGB"))[0, 0]
            base = float(g) * 0.25 + 10.0
            out.append({"good": base + (float(b) - 3.0) * 0.125, "poor": base})
        return out
"""


def test_a_run_and_a_rescore_report_the_official_forms_srcc(tmp_path: Path) -> None:
    """Through the real CLI: a py: model with coarse logits; the run and ``qbench score`` both match."""
    good, poor, mos = quantised(3, n=80)
    official, stable = srccs(good, poor, mos)
    assert official != stable
    data = tmp_path / "data"
    data.mkdir()
    items = []
    for i, (a, b, m) in enumerate(zip(good, poor, mos, strict=True)):
        colour = (i, round(float(b - 10.0) / 0.25), round(float(a - b) / 0.125 + 3))
        Image.new("RGB", (8, 8), colour).save(data / f"img_{i:03d}.png")
        items.append({"img_path": f"img_{i:03d}.png", "gt_score": float(m)})
    (data / "livec.json").write_text(json.dumps(items))
    (tmp_path / "coarse_model.py").write_text(MODEL)
    out = tmp_path / "runs"
    args = ("--model", "py:coarse_model:Coarse", "--data", str(data / "livec.json"), "--out", str(out))
    result = run_cli("run", "a3", *args, "-T", "bootstrap=0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (metrics_file,) = out.rglob("metrics.json")
    assert json.loads(metrics_file.read_text())["srcc"] == official
    run_dir = metrics_file.parent
    assert json.loads((run_dir / "manifest.json").read_text())["task_info"]["score_version"]

    # an older run scored with the stable form: `qbench score` recomputes from the logits, in a new run
    lines = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    for line in lines:
        line["score"] = stable_softmax(line["logits"]["good"], line["logits"]["poor"])
        line.pop("score_form", None)
    (run_dir / "records.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["task_info"].pop("score_version")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    rescored = run_cli("score", str(run_dir), cwd=tmp_path)
    assert rescored.returncode == 0, rescored.stderr
    derived = [p for p in out.rglob("metrics.json") if p.parent != run_dir]
    assert len(derived) == 1
    assert json.loads(derived[0].read_text())["srcc"] == official

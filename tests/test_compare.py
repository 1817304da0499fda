"""``qbench report A B --compare``: paired differences with intervals and p-values, on runs with known answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from helpers import run_cli
from qbench.errors import UsageError
from qbench.metrics import grouped_correlations
from qbench.report.compare import compare_paths, compare_runs, comparison_table, render_comparison
from qbench.report.paired import resample_counts, sign_flip_p_binary, weighted_corr, weighted_ranks
from qbench.store import Run
from qbench.types import Record


def make_run(
    root: Path,
    task: str,
    model: str,
    dataset: str,
    outputs: Mapping[str, Mapping[str, Any]],
    *,
    errors: tuple[str, ...] = (),
) -> Path:
    """A complete run folder holding exactly these records (``errors``: ids recorded as failed)."""
    path = root / task / model / dataset / "run"
    run = Run.open(
        path, {"task": task, "model": model, "dataset": dataset, "split": None, "fingerprint": "x"}
    )
    run.append(Record(rid, dict(out)) for rid, out in outputs.items())
    run.append(Record(rid, {}, error="boom") for rid in errors)
    run.finish({"n": len(outputs)})
    run.close()
    return path


def a3_outputs(scores: np.ndarray, mos: np.ndarray, names: list[str] | None = None) -> dict[str, dict]:
    names = names or [f"img_{i:04d}.png" for i in range(len(mos))]
    return {n: {"img_path": n, "score": float(s), "mos": float(m)} for n, s, m in zip(names, scores, mos)}


def a1_outputs(correct: list[bool]) -> dict[str, dict]:
    return {str(i): {"answer": "A", "letter": "A" if c else "B", "correct": c} for i, c in enumerate(correct)}


def a2_outputs(scores: list[int]) -> dict[str, dict]:
    """Each item judged 5 rounds on each dimension with the given score (and one unparsable round)."""
    return {
        str(i): {
            "judgement": {
                "scores": {d: [s, s, s, s, None] for d in ("completeness", "precision", "relevance")}
            }
        }
        for i, s in enumerate(scores)
    }


RNG = np.random.default_rng(7)
MOS = RNG.uniform(1, 5, 300)


# -- A3 ----------------------------------------------------------------------------------------------------
def test_identical_runs_differ_by_exactly_zero_with_p_one(tmp_path: Path) -> None:
    scores = MOS + RNG.normal(0, 1, len(MOS))
    a = make_run(tmp_path / "a", "a3", "m", "koniq", a3_outputs(scores, MOS))
    b = make_run(tmp_path / "b", "a3", "m", "koniq", a3_outputs(scores, MOS))
    result = compare_runs(a, b, resamples=500)
    assert result["n_shared"] == 300 and result["n_only_a"] == result["n_only_b"] == 0
    for metric in result["metrics"]:
        assert metric["diff"] == 0
        assert metric["ci"] == [0.0, 0.0]
        assert metric["p"] == 1.0


def test_a_clearly_better_model_wins_with_a_small_p(tmp_path: Path) -> None:
    good = MOS + RNG.normal(0, 0.3, len(MOS))  # SRCC about 0.97
    poor = MOS + RNG.normal(0, 3.0, len(MOS))  # SRCC about 0.35
    a = make_run(tmp_path / "a", "a3", "good", "koniq", a3_outputs(good, MOS))
    b = make_run(tmp_path / "b", "a3", "poor", "koniq", a3_outputs(poor, MOS))
    result = compare_runs(a, b, resamples=1000)
    srcc = next(m for m in result["metrics"] if m["metric"] == "srcc")
    assert srcc["a"] == pytest.approx(stats.spearmanr(MOS, good).statistic)
    assert srcc["diff"] > 0.3 and srcc["ci"][0] > 0 and srcc["p"] < 0.01
    # and the other way round, B is the better one
    flipped = compare_runs(b, a, resamples=1000)
    assert all(m["diff"] < 0 and m["p"] < 0.01 for m in flipped["metrics"])
    assert "B better" in render_comparison([flipped], "md")


def test_only_ids_finished_in_both_runs_are_paired(tmp_path: Path) -> None:
    scores = MOS + RNG.normal(0, 1, len(MOS))
    both = a3_outputs(scores, MOS)
    ids = list(both)
    a = make_run(tmp_path / "a", "a3", "a", "koniq", {k: both[k] for k in ids[:250]}, errors=(ids[260],))
    b = make_run(tmp_path / "b", "a3", "b", "koniq", {k: both[k] for k in ids[20:]}, errors=(ids[5],))
    result = compare_runs(a, b, resamples=200)
    assert (result["n_shared"], result["n_only_a"], result["n_only_b"]) == (230, 20, 50)
    shared = slice(20, 250)
    expected = stats.spearmanr(MOS[shared], scores[shared]).statistic
    assert result["metrics"][0]["a"] == pytest.approx(expected)


def test_cgiqa_is_compared_as_the_mean_of_its_halves(tmp_path: Path) -> None:
    names = [f"game_{i}.jpg" for i in range(150)] + [f"movie_{i}.jpg" for i in range(150)]
    a_scores = MOS + RNG.normal(0, 1, len(MOS))
    b_scores = MOS + RNG.normal(0, 2, len(MOS))
    a = make_run(tmp_path / "a", "a3", "a", "cgi", a3_outputs(a_scores, MOS, names))
    b = make_run(tmp_path / "b", "a3", "b", "cgi", a3_outputs(b_scores, MOS, names))
    result = compare_runs(a, b, resamples=200)
    halves = [n.split("_")[0] for n in names]
    official = grouped_correlations(a_scores, MOS, halves)
    assert result["metrics"][0]["a"] == pytest.approx(official["srcc"])
    assert any("halves" in note for note in result["notes"])


def test_the_count_based_bootstrap_equals_scipy_on_the_same_resample() -> None:
    """Ranks from draw counts (no sorting per resample) give scipy's Spearman, ties included."""
    x = np.round(RNG.normal(size=60), 1)  # rounded: many ties
    y = RNG.normal(size=60) + x
    idx = RNG.integers(0, 60, size=(5, 60))
    weights = resample_counts(idx, 60)
    fast = weighted_corr(weighted_ranks(x, weights), weighted_ranks(y, weights), weights)
    plain = weighted_corr(x, y, weights)
    for row in range(5):
        assert fast[row] == pytest.approx(stats.spearmanr(x[idx[row]], y[idx[row]]).statistic, abs=1e-12)
        assert plain[row] == pytest.approx(stats.pearsonr(x[idx[row]], y[idx[row]]).statistic, abs=1e-12)


def test_same_seed_same_answer_and_the_seed_matters(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "a3", "a", "koniq", a3_outputs(MOS + RNG.normal(0, 1, 300), MOS))
    b = make_run(tmp_path / "b", "a3", "b", "koniq", a3_outputs(MOS + RNG.normal(0, 1.2, 300), MOS))
    first, again = compare_runs(a, b, resamples=300), compare_runs(a, b, resamples=300)
    assert first["metrics"] == again["metrics"]
    assert compare_runs(a, b, resamples=300, seed=1)["metrics"][0]["ci"] != first["metrics"][0]["ci"]


# -- A1 ----------------------------------------------------------------------------------------------------
def test_a1_identical_answers_give_zero_and_p_one(tmp_path: Path) -> None:
    correct = [bool(c) for c in RNG.random(200) < 0.6]
    a = make_run(tmp_path / "a", "a1", "m", "llvisionqa", a1_outputs(correct))
    b = make_run(tmp_path / "b", "a1", "m", "llvisionqa", a1_outputs(correct))
    (metric,) = compare_runs(a, b, resamples=300)["metrics"]
    assert metric["diff"] == 0 and metric["p"] == 1.0 and metric["ci"] == [0.0, 0.0]


def test_a1_p_value_is_the_exact_sign_flip_test(tmp_path: Path) -> None:
    """A right on 10 items where B is wrong, never the reverse: p = 2 * 0.5**10 exactly."""
    base = [True] * 50 + [False] * 40
    a = make_run(tmp_path / "a", "a1", "a", "llvisionqa", a1_outputs(base + [True] * 10))
    b = make_run(tmp_path / "b", "a1", "b", "llvisionqa", a1_outputs(base + [False] * 10))
    result = compare_runs(a, b, resamples=500)
    (metric,) = result["metrics"]
    assert metric["a"] == 0.6 and metric["b"] == 0.5 and metric["diff"] == pytest.approx(0.1)
    assert metric["p"] == pytest.approx(2 * 0.5**10)
    assert metric["ci"][0] > 0
    assert sign_flip_p_binary(3, 3) == 1.0 and sign_flip_p_binary(0, 0) == 1.0


def test_a1_hidden_answers_cannot_be_compared(tmp_path: Path) -> None:
    hidden = {str(i): {"answer": None, "letter": "A", "correct": None} for i in range(20)}
    a = make_run(tmp_path / "a", "a1", "a", "llvisionqa", hidden)
    b = make_run(tmp_path / "b", "a1", "b", "llvisionqa", hidden)
    result = compare_runs(a, b, resamples=200)
    assert result["metrics"] == []
    assert any("test split" in note for note in result["notes"])


# -- A2 ----------------------------------------------------------------------------------------------------
def test_a2_sum_difference_from_the_judge_rounds(tmp_path: Path) -> None:
    better = [2] * 30 + [1] * 10
    worse = [1] * 30 + [0] * 10
    a = make_run(tmp_path / "a", "a2", "a", "lldescribe", a2_outputs(better))
    b = make_run(tmp_path / "b", "a2", "b", "lldescribe", a2_outputs(worse))
    (metric,) = compare_runs(a, b, resamples=500)["metrics"]
    assert metric["a"] == pytest.approx(3 * 70 / 40)  # pooled mean of each dimension, summed
    assert metric["diff"] == pytest.approx(3.0)
    assert metric["p"] < 0.01
    same = compare_runs(a, a, resamples=200)["metrics"][0]
    assert same["diff"] == 0 and same["p"] == 1.0


def test_a2_without_judge_scores_says_so(tmp_path: Path) -> None:
    plain = {str(i): {"description": "sharp and bright"} for i in range(10)}
    a = make_run(tmp_path / "a", "a2", "a", "lldescribe", plain)
    result = compare_runs(a, a)
    assert result["metrics"] == [] and any("judge scores" in n for n in result["notes"])


# -- refusing, folders, and the command line ---------------------------------------------------------------
def test_different_tasks_are_refused(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "a1", "a", "x", a1_outputs([True, False, True]))
    b = make_run(tmp_path / "b", "a3", "b", "x", a3_outputs(MOS[:3], MOS[:3]))
    with pytest.raises(UsageError, match="cannot compare"):
        compare_runs(a, b)


def test_folders_of_runs_are_paired_by_dataset(tmp_path: Path) -> None:
    for model, noise in (("a", 0.5), ("b", 2.0)):
        for dataset in ("koniq", "livec", "spaq"):
            if model == "b" and dataset == "spaq":
                continue  # only on one side: not compared
            make_run(tmp_path / model, "a3", model, dataset, a3_outputs(MOS + RNG.normal(0, noise, 300), MOS))
    results = compare_paths(tmp_path / "a", tmp_path / "b", resamples=200)
    assert sorted(r["dataset"] for r in results) == ["koniq", "livec"]


def test_cli_compare_prints_markdown_and_json(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "a3", "good", "koniq", a3_outputs(MOS + RNG.normal(0, 0.3, 300), MOS))
    b = make_run(tmp_path / "b", "a3", "poor", "koniq", a3_outputs(MOS + RNG.normal(0, 3, 300), MOS))
    md = run_cli("report", str(a), str(b), "--compare", "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "| Metric | A | B | A - B | 95% CI | p | Verdict |" in md.stdout
    assert "KONiQ-10k: good (A) vs poor (B)" in md.stdout and "A better" in md.stdout
    out = run_cli("report", str(a), str(b), "--compare", "--format", "json")
    (result,) = json.loads(out.stdout)
    assert result["n_shared"] == 300 and {m["metric"] for m in result["metrics"]} == {"srcc", "plcc"}
    console = Console(record=True, width=120)
    console.print(comparison_table(result))
    assert "A better" in console.export_text()  # what the terminal shows without --format


def test_cli_compare_needs_exactly_two_paths(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "a3", "a", "koniq", a3_outputs(MOS, MOS))
    result = run_cli("report", str(a), "--compare")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --compare takes exactly two runs (or folders of runs), got 1"
    ]

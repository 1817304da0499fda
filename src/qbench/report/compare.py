"""Paired comparison of two runs: does model A really beat model B on the same items?

Two leaderboard numbers with overlapping confidence intervals can still differ significantly, because both
models answered the *same* items: item difficulty is shared, and a paired analysis removes it. So the runs are
joined on sample id (only ids finished in both), and

- A1 accuracy: the difference with a paired bootstrap interval, and a two-sided p-value from the sign-flip
  permutation test on per-item correctness differences. For 0/1 outcomes that test has an exact null
  distribution (only the items where exactly one model is right can flip: a fair coin per such item), so the
  p-value is computed exactly, which makes it the exact McNemar test;
- A3 SRCC and PLCC: the difference with a paired bootstrap (each resample draws items, both models'
  correlations are computed on the same draw; CGIQA-6K is resampled within its halves and averaged as the
  official number is) and the bootstrap p-value;
- A2 sum: the pooled judge score (as the A2 task computes it) when the records carry judge scores, with a
  paired bootstrap interval and a paired permutation p-value (A's and B's verdicts swapped per item).

Everything is seeded: the same two runs always give the same intervals and p-values.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbench.data.databases import display_name, find_database
from qbench.errors import UsageError
from qbench.metrics import grouped_correlations, percentile_interval, resample_indices
from qbench.store import Run, find_runs, load_run
from qbench.tasks.assessment import half_of
from qbench.types import Record
from qbench.undefined import number

log = logging.getLogger("qbench")

LEVEL = 0.95
ALPHA = 0.05
A2_DIMENSIONS = ("completeness", "precision", "relevance")

RunLike = Run | str | Path


# -- entry points ------------------------------------------------------------------------------------------
def compare_runs(run_a: RunLike, run_b: RunLike, *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The paired differences A - B of the two runs' headline metrics, with intervals and p-values.

    Returns ``{"task", "dataset", "split", "a", "b", "n_shared", "n_only_a", "n_only_b", "resamples",
    "seed", "level", "metrics": [{"metric", "label", "a", "b", "diff", "ci", "p", "test", "unit"}],
    "notes": [...]}``; ``metrics`` is empty (and a note says why) when the records lack what is needed.
    """
    a, b = _as_run(run_a), _as_run(run_b)
    task_a, task_b = a.manifest.get("task"), b.manifest.get("task")
    if task_a != task_b:
        raise UsageError(f"cannot compare a {task_a} run with a {task_b} run ({a.path} vs {b.path})")
    if resamples < 100:
        raise UsageError(f"resamples must be at least 100, got {resamples}")
    notes: list[str] = []
    for label, run in (("A", a), ("B", b)):
        if not run.complete:
            notes.append(
                f"run {label} is not complete (status {run.status}); only its finished samples count"
            )
    if a.manifest.get("dataset") != b.manifest.get("dataset"):
        notes.append(
            f"the runs are on different datasets ({a.manifest.get('dataset')} vs {b.manifest.get('dataset')});"
            " samples are paired by id"
        )
    recs_a = {rid: r for rid, r in a.records().items() if r.ok}
    recs_b = {rid: r for rid, r in b.records().items() if r.ok}
    shared = [rid for rid in recs_a if rid in recs_b]
    result: dict[str, Any] = {
        "task": task_a,
        "dataset": a.manifest.get("dataset"),
        "split": a.manifest.get("split"),
        "a": _side(a, len(recs_a)),
        "b": _side(b, len(recs_b)),
        "n_shared": len(shared),
        "n_only_a": len(recs_a) - len(shared),
        "n_only_b": len(recs_b) - len(shared),
        "resamples": resamples,
        "seed": seed,
        "level": LEVEL,
        "metrics": [],
        "notes": notes,
    }
    if not shared:
        notes.append("the runs share no finished sample ids: nothing to compare")
        return result
    pairs = [(recs_a[rid], recs_b[rid]) for rid in shared]
    compare = {"a1": _compare_a1, "a2": _compare_a2, "a3": _compare_a3}.get(str(task_a))
    if compare is None:
        notes.append(f"no paired comparison is defined for task {task_a}")
        return result
    result["metrics"] = compare(pairs, str(result["dataset"]), notes, resamples, seed)
    return result


def compare_paths(
    path_a: str | Path, path_b: str | Path, *, resamples: int = 2000, seed: int = 0
) -> list[dict[str, Any]]:
    """Compare two run folders, or two folders of runs paired by (task, dataset, split).

    ``qbench report runs/a3/llava runs/a3/idefics --compare`` compares every database both hold.
    """
    runs_a, runs_b = find_runs([path_a]), find_runs([path_b])
    if len(runs_a) == 1 and len(runs_b) == 1:
        return [compare_runs(runs_a[0], runs_b[0], resamples=resamples, seed=seed)]
    side_a, side_b = _by_key(runs_a, path_a), _by_key(runs_b, path_b)
    keys = [key for key in side_a if key in side_b]
    if not keys:
        raise UsageError(
            f"no (task, dataset) is in both {path_a} and {path_b}; give two run folders to compare them directly"
        )
    for key in [*side_a, *side_b]:
        if key not in keys:
            log.warning("not compared (only on one side): %s %s", key[0], key[1])
    return [compare_runs(side_a[k], side_b[k], resamples=resamples, seed=seed) for k in keys]


def _as_run(run: RunLike) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def _side(run: Run, finished: int) -> dict[str, Any]:
    return {"model": run.manifest.get("model"), "path": str(run.path), "finished": finished}


def _by_key(runs: Sequence[Run], where: str | Path) -> dict[tuple[str, str, str], Run]:
    out: dict[tuple[str, str, str], Run] = {}
    for run in runs:
        m = run.manifest
        key = (str(m.get("task")), str(m.get("dataset")), str(m.get("split") or ""))
        if key in out:
            raise UsageError(
                f"{where} holds more than one {key[0]} run on {key[1]} ({out[key].path}, {run.path}); "
                "name the two run folders to compare"
            )
        out[key] = run
    return out


# -- resampling --------------------------------------------------------------------------------------------
def _interval(values: np.ndarray) -> list[float]:
    return list(percentile_interval(values, LEVEL))


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided bootstrap p-value for "the difference is zero": twice the smaller tail beyond zero.

    The +1 terms keep it from reaching 0 with finitely many resamples (the smallest is about 2/resamples).
    """
    finite = diffs[np.isfinite(diffs)]
    if not len(finite):
        return math.nan
    below = (np.count_nonzero(finite <= 0) + 1) / (len(finite) + 1)
    above = (np.count_nonzero(finite >= 0) + 1) / (len(finite) + 1)
    return float(min(1.0, 2 * min(below, above)))


def sign_flip_p_binary(a_only: int, b_only: int) -> float:
    """Exact two-sided sign-flip p-value for paired 0/1 outcomes (= the exact McNemar test).

    Only discordant items (one model right, the other wrong) have a non-zero difference; under "no
    difference" each one's sign is a fair coin, so the flipped sum is 2*Binomial(k, 1/2) - k.
    """
    k = a_only + b_only
    if k == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(a_only, k, 0.5).pvalue)


# -- A1 ----------------------------------------------------------------------------------------------------
def a1_correct(output: Mapping[str, Any]) -> bool | None:
    """Whether an A1 record was answered correctly; None when the record does not say (hidden answers)."""
    value = output.get("correct")
    if isinstance(value, (bool, int, np.integer)):
        return bool(value)
    return None


def a1_judged_correct(output: Mapping[str, Any]) -> bool | None:
    """The LLM judge's majority verdict; undecided counts as wrong (as the A1 task counts it), None if unjudged."""
    from qbench.tasks.perception import PerceptionOutput

    typed = PerceptionOutput.from_json(output)
    if typed.verdict is None or typed.answer is None:
        return None
    return bool(typed.judged_correct())


def _paired_accuracy(
    known: Sequence[tuple[bool | None, bool | None]], metric: str, label: str, resamples: int, seed: int
) -> tuple[dict[str, Any], int, int]:
    """One accuracy difference over the items both sides scored; also (A-only, B-only) correct counts."""
    usable = [(x, y) for x, y in known if x is not None and y is not None]
    ca = np.array([x for x, _ in usable], dtype=float)
    cb = np.array([y for _, y in usable], dtype=float)
    d = ca - cb
    diffs = np.concatenate(
        [d[idx].mean(axis=1) for idx in resample_indices([np.arange(len(d))], resamples, seed)]
    )
    a_only, b_only = int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))
    return (
        {
            "metric": metric,
            "label": label,
            "a": float(ca.mean()),
            "b": float(cb.mean()),
            "diff": float(d.mean()),
            "ci": _interval(diffs),
            "p": sign_flip_p_binary(a_only, b_only),
            "test": "paired bootstrap CI; exact sign-flip test (McNemar)",
            "unit": "percent",
            "n": len(usable),
        },
        a_only,
        b_only,
    )


def _compare_a1(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[dict[str, Any]]:
    """Accuracy by the extraction rules; and by the LLM judge too when both runs were judged."""
    known = [(a1_correct(a.output), a1_correct(b.output)) for a, b in pairs]
    scored = sum(x is not None and y is not None for x, y in known)
    if scored < len(known):
        notes.append(f"{len(known) - scored} shared items have no correctness (no answer key); left out")
    if not scored:
        notes.append("no shared item has a known answer (test split?): accuracy cannot be compared")
        return []
    metric, a_only, b_only = _paired_accuracy(known, "accuracy", "Accuracy", resamples, seed)
    notes.append(f"{a_only} items only A answered correctly, {b_only} only B")
    out = [metric]
    judged = [(a1_judged_correct(a.output), a1_judged_correct(b.output)) for a, b in pairs]
    if any(x is not None and y is not None for x, y in judged):
        metric, a_only, b_only = _paired_accuracy(
            judged, "judged/accuracy", "Judged accuracy", resamples, seed
        )
        out.append(metric)
        notes.append(
            f"judged: {metric['n']} items judged in both runs ({a_only} only A right, {b_only} only B)"
        )
    return out


# -- A3 ----------------------------------------------------------------------------------------------------
def resample_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each resample row of ``idx`` (resamples x n, float)."""
    k = idx.shape[0]
    flat = (np.arange(k)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=k * n).reshape(k, n).astype(float)


def weighted_ranks(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The average rank (ties averaged, as scipy's) each item has in each resample that ``weights`` counts.

    A resample is a multiset of the original items, so ranks follow from counts: an item's rank is the
    number of drawn values below it plus half its own tie group. No sorting per resample is needed, which
    makes the SRCC bootstrap several times faster than ranking every resample.
    """
    uniq, inv = np.unique(x, return_inverse=True)
    k, u = weights.shape[0], len(uniq)
    groups = np.bincount(
        (np.arange(k)[:, None] * u + inv[None, :]).ravel(), weights=weights.ravel(), minlength=k * u
    ).reshape(k, u)
    rank = np.cumsum(groups, axis=1) - groups + (groups + 1) / 2
    return rank[:, inv]


def weighted_corr(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation per resample row, each item counted ``weights`` times (NaN when constant).

    ``x`` and ``y`` are one value per item (a vector, the same in every resample: BLAS matrix-vector
    products) or one row per resample (ranks). They are shifted to mean zero first, which changes no
    correlation but keeps the one-pass sums below free of cancellation.
    """
    x = x - x.mean()
    y = y - y.mean()

    def wsum(v: np.ndarray) -> np.ndarray:
        return weights @ v if v.ndim == 1 else np.einsum("ij,ij->i", weights, v)

    total = weights.sum(axis=1)
    sx, sy, sxx, syy = wsum(x), wsum(y), wsum(x * x), wsum(y * y)
    cov = wsum(x * y) - sx * sy / total
    vx, vy = sxx - sx * sx / total, syy - sy * sy / total
    constant = (vx <= 1e-12 * sxx) | (vy <= 1e-12 * syy)  # only rounding noise left: a constant resample
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, cov / np.sqrt(np.abs(vx * vy)))


def _correlation_diffs(
    pa: np.ndarray, pb: np.ndarray, gt: np.ndarray, weights: np.ndarray, strata: Sequence[np.ndarray]
) -> dict[str, np.ndarray]:
    """Per resample row: SRCC(A) - SRCC(B) and PLCC(A) - PLCC(B), each the mean over strata (the halves)."""
    srcc, plcc = [], []
    for items in strata:
        w, a, b, g = weights[:, items], pa[items], pb[items], gt[items]
        g_rank = weighted_ranks(g, w)
        srcc.append(
            weighted_corr(weighted_ranks(a, w), g_rank, w) - weighted_corr(weighted_ranks(b, w), g_rank, w)
        )
        plcc.append(weighted_corr(a, g, w) - weighted_corr(b, g, w))
    return {"srcc": np.mean(srcc, axis=0), "plcc": np.mean(plcc, axis=0)}


def _compare_a3(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[dict[str, Any]]:
    try:
        pa = np.array([number(a.output["score"]) for a, _ in pairs])  # null (a NaN) reads as NaN
        pb = np.array([number(b.output["score"]) for _, b in pairs])
        gt = np.array([float(a.output["mos"]) for a, _ in pairs])
        gt_b = np.array([float(b.output["mos"]) for _, b in pairs])
    except (KeyError, TypeError, ValueError):
        notes.append("records lack 'score' or 'mos': SRCC/PLCC cannot be compared")
        return []
    differ = int(np.count_nonzero(~np.isclose(gt, gt_b)))
    if differ:
        notes.append(f"MOS differs between the runs for {differ} shared items; run A's MOS is used")
    names = [str(a.output.get("img_path", a.id)) for a, _ in pairs]
    groups = _halves(dataset, names)
    if groups is not None:
        notes.append(f"{display_name(dataset)}: correlations are the mean of the {len(set(groups))} halves")
    labels = sorted(set(groups)) if groups is not None else ["all"]
    strata = [np.flatnonzero(np.asarray(groups) == g) for g in labels] if groups else [np.arange(len(gt))]
    if any(len(s) < 3 for s in strata):
        notes.append("fewer than 3 shared items (in a half): correlations are undefined")
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point_a = grouped_correlations(pa, gt, groups, label=f"{dataset} A")
        point_b = grouped_correlations(pb, gt, groups, label=f"{dataset} B")
    diffs: dict[str, list[np.ndarray]] = {"srcc": [], "plcc": []}
    for idx in resample_indices(strata, resamples, seed):
        chunk = _correlation_diffs(pa, pb, gt, resample_counts(idx, len(gt)), strata)
        for metric in diffs:
            diffs[metric].append(chunk[metric])
    out = []
    for metric in ("srcc", "plcc"):
        values = np.concatenate(diffs[metric])
        a_value, b_value = point_a[metric], point_b[metric]
        out.append(
            {
                "metric": metric,
                "label": metric.upper(),
                "a": a_value,
                "b": b_value,
                "diff": a_value - b_value,
                "ci": _interval(values),
                "p": bootstrap_p(values),
                "test": "paired bootstrap",
                "unit": "value",
                "n": len(pairs),
            }
        )
    return out


def _halves(dataset: str, names: Sequence[str]) -> list[str] | None:
    """The CGIQA-6K half of each item, as the A3 metrics use it; None for other databases or odd names."""
    db = find_database(dataset)
    if not db or not db.halves:
        return None
    groups = [half_of(name, db.halves) for name in names]
    return None if None in groups else [str(g) for g in groups]


# -- A2 ----------------------------------------------------------------------------------------------------
def a2_round_scores(output: Mapping[str, Any]) -> dict[str, list[int]] | None:
    """An item's valid judge scores per dimension (unparsable rounds dropped), or None when not judged.

    Reads the verdict's scores (what the A2 task writes, old records migrated); a record with plain
    per-dimension fields (a list of rounds or one number) is read too, so imported or hand-made records
    compare as well.
    """
    from qbench.tasks.description import DescriptionOutput

    verdict = DescriptionOutput.from_json(output).verdict
    holder = verdict.scores if verdict is not None else output
    if not isinstance(holder, Mapping):
        return None
    out: dict[str, list[int]] = {}
    for dimension in A2_DIMENSIONS:
        value = holder.get(dimension)
        rounds = value if isinstance(value, (list, tuple)) else [value]
        valid = [
            v for v in rounds if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if value is None or not valid:
            return None
        out[dimension] = valid
    return out


def _compare_a2(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[dict[str, Any]]:
    """The pooled A2 sum (as the task computes it: all valid rounds of all images) of A minus that of B.

    Per dimension each item contributes its score total and its valid-round count, so a resample or a swap
    only re-sums those: the bootstrap draws items, and the permutation test swaps A's and B's verdicts on a
    random half of the items (a paired sign flip of the pooled statistic).
    """
    scored = [(a2_round_scores(a.output), a2_round_scores(b.output)) for a, b in pairs]
    usable = [(x, y) for x, y in scored if x is not None and y is not None]
    if not usable:
        notes.append("records carry no judge scores (completeness/precision/relevance): A2 sum not compared")
        return []
    if len(usable) < len(scored):
        notes.append(f"{len(scored) - len(usable)} shared items lack judge scores in A or B; left out")

    def arrays(side: int) -> tuple[np.ndarray, np.ndarray]:
        total = np.array([[sum(item[side][d]) for item in usable] for d in A2_DIMENSIONS], dtype=float)
        valid = np.array([[len(item[side][d]) for item in usable] for d in A2_DIMENSIONS], dtype=float)
        return total, valid

    (ta, va), (tb, vb) = arrays(0), arrays(1)

    def pooled(total: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Sum over dimensions of pooled means; ``total``/``valid`` are (dimensions, resamples)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / valid).sum(axis=0)

    sum_a = float(pooled(ta.sum(axis=1, keepdims=True), va.sum(axis=1, keepdims=True))[0])
    sum_b = float(pooled(tb.sum(axis=1, keepdims=True), vb.sum(axis=1, keepdims=True))[0])
    diffs = []
    for idx in resample_indices([np.arange(len(usable))], resamples, seed):
        diffs.append(
            pooled(ta[:, idx].sum(axis=2), va[:, idx].sum(axis=2))
            - pooled(tb[:, idx].sum(axis=2), vb[:, idx].sum(axis=2))
        )
    observed = sum_a - sum_b
    rng = np.random.default_rng(seed + 1)
    extreme = 0
    for start in range(0, resamples, 500):
        swap = rng.integers(0, 2, size=(len(usable), min(500, resamples - start))).astype(float)
        total_a = ta.sum(axis=1, keepdims=True) + (tb - ta) @ swap
        valid_a = va.sum(axis=1, keepdims=True) + (vb - va) @ swap
        total_b = tb.sum(axis=1, keepdims=True) - (tb - ta) @ swap
        valid_b = vb.sum(axis=1, keepdims=True) - (vb - va) @ swap
        flipped = pooled(total_a, valid_a) - pooled(total_b, valid_b)
        extreme += int(np.count_nonzero(np.abs(flipped) >= abs(observed) - 1e-12))
    return [
        {
            "metric": "sum",
            "label": "Sum",
            "a": sum_a,
            "b": sum_b,
            "diff": observed,
            "ci": _interval(np.concatenate(diffs)),
            "p": (extreme + 1) / (resamples + 1),
            "test": "paired bootstrap CI; paired permutation test (swap A/B per item)",
            "unit": "value",
            "n": len(usable),
        }
    ]


# -- rendering ---------------------------------------------------------------------------------------------
def verdict(metric: Mapping[str, Any], alpha: float = ALPHA) -> str:
    """Plain words for one difference: who is better, or that the data cannot tell."""
    p, diff = metric.get("p"), metric.get("diff")
    if p is None or diff is None or not math.isfinite(p) or not math.isfinite(diff):
        return "undefined"
    if p < alpha and diff != 0:
        return "A better" if diff > 0 else "B better"
    return "not significant"


def _fmt_value(value: Any, unit: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if unit == "percent":
        return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _fmt_ci(ci: Sequence[float], unit: str) -> str:
    return f"[{_fmt_value(ci[0], unit, True)}, {_fmt_value(ci[1], unit, True)}]"


def format_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "NaN"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def title(result: Mapping[str, Any]) -> str:
    """``A3 LIVE-itw: llava_v1.5 (A) vs idefics (B)``."""
    where = display_name(str(result.get("dataset")))
    if result.get("split"):
        where += f" ({result['split']})"
    return f"{str(result['task']).upper()} {where}: {result['a']['model']} (A) vs {result['b']['model']} (B)"


def caption(result: Mapping[str, Any]) -> list[str]:
    """What the numbers rest on: how many items were paired, the method, and any caveats."""
    lines = [
        f"{result['n_shared']} shared finished samples ({result['n_only_a']} only in A, "
        f"{result['n_only_b']} only in B); {int(result['level'] * 100)}% intervals from "
        f"{result['resamples']} paired resamples (seed {result['seed']}); verdict at p < {ALPHA:g}.",
    ]
    if any(m["unit"] == "percent" for m in result["metrics"]):
        lines.append("Accuracies and differences in percentage points.")
    lines.extend(result["notes"])
    return lines


COLUMNS = ("Metric", "A", "B", "A - B", "95% CI", "p", "Verdict")


def _cells(metric: Mapping[str, Any]) -> list[str]:
    unit = metric["unit"]
    return [
        metric["label"],
        _fmt_value(metric["a"], unit),
        _fmt_value(metric["b"], unit),
        _fmt_value(metric["diff"], unit, True),
        _fmt_ci(metric["ci"], unit),
        format_p(metric["p"]),
        verdict(metric),
    ]


def comparison_table(result: Mapping[str, Any]) -> Any:
    """A rich table for the terminal."""
    from rich.table import Table

    table = Table(title=title(result), title_justify="left", caption_justify="left")
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if i in (0, 6) else "right", style="bold" if i == 0 else None)
    for metric in result["metrics"]:
        table.add_row(*_cells(metric))
    table.caption = "\n".join(caption(result))
    return table


def to_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for result in results:
        parts.append(f"### {title(result)}\n")
        if result["metrics"]:
            parts.append("| " + " | ".join(COLUMNS) + " |")
            parts.append("|---|" + "---:|" * 5 + "---|")
            parts.extend("| " + " | ".join(_cells(m)) + " |" for m in result["metrics"])
            parts.append("")
        parts.extend(f"- {line}" for line in caption(result))
        parts.append("")
    return "\n".join(parts)


def to_json(results: Sequence[Mapping[str, Any]]) -> str:
    """JSON with NaN as null (NaN is not JSON)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps([clean(dict(r)) for r in results], indent=2)


def to_csv(results: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "task",
            "dataset",
            "split",
            "model_a",
            "model_b",
            "n_shared",
            "metric",
            "a",
            "b",
            "diff",
            "ci_low",
            "ci_high",
            "p",
        ]
    )
    for r in results:
        for m in r["metrics"]:
            writer.writerow(
                [
                    r["task"],
                    r["dataset"],
                    r.get("split") or "",
                    r["a"]["model"],
                    r["b"]["model"],
                    r["n_shared"],
                    m["metric"],
                    m["a"],
                    m["b"],
                    m["diff"],
                    m["ci"][0],
                    m["ci"][1],
                    m["p"],
                ]
            )
    return buffer.getvalue()


RENDERERS: dict[str, Callable[[Sequence[Mapping[str, Any]]], str]] = {
    "md": to_markdown,
    "table": to_markdown,
    "json": to_json,
    "csv": to_csv,
}


def render_comparison(results: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """The comparison as text in ``fmt`` (md, json, csv; ``table`` as markdown when written to a file)."""
    if fmt == "html":
        from qbench.report.html import comparisons_page

        return comparisons_page(results)
    if fmt not in RENDERERS:
        raise UsageError(f"--compare cannot be written as {fmt}; use table, md, csv, json or html")
    return RENDERERS[fmt](results)

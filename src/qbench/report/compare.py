"""Paired comparison of two runs: does model A really beat model B on the same items?

Two leaderboard numbers with overlapping confidence intervals can still differ significantly, because both
models answered the *same* items: item difficulty is shared, and a paired analysis removes it. So the runs are
joined on sample id (only ids finished in both), and the task's own paired comparison
(``TaskReport.compare``, built from the methods of :mod:`qbench.report.paired`) computes the differences of
its headline metrics with intervals and p-values.

Everything is seeded: the same two runs always give the same intervals and p-values.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from qbench.errors import UsageError
from qbench.report.compare_text import COLUMNS, caption, cells, title
from qbench.report.paired import LEVEL
from qbench.report.spec import ComparedMetric, task_report
from qbench.store import Run, find_runs, load_run

log = logging.getLogger("qbench")

RunLike = Run | str | Path


class Side(TypedDict):
    """One of the two runs compared: its model, folder and number of finished samples."""

    model: str
    path: str
    finished: int


class Comparison(TypedDict):
    """The result of :func:`compare_runs` (JSON as it is; ``--compare --format json`` writes a list of them)."""

    task: str
    dataset: str
    split: str | None
    a: Side
    b: Side
    n_shared: int
    n_only_a: int
    n_only_b: int
    resamples: int
    seed: int
    level: float
    metrics: list[ComparedMetric]
    notes: list[str]


# -- entry points ------------------------------------------------------------------------------------------
def compare_runs(run_a: RunLike, run_b: RunLike, *, resamples: int = 2000, seed: int = 0) -> Comparison:
    """The paired differences A - B of the two runs' headline metrics, with intervals and p-values.

    ``metrics`` is empty (and a note says why) when the records lack what is needed, or the task defines no
    paired comparison.
    """
    a, b = _as_run(run_a), _as_run(run_b)
    task_a, task_b = a.manifest.task, b.manifest.task
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
    if a.manifest.dataset != b.manifest.dataset:
        notes.append(
            f"the runs are on different datasets ({a.manifest.dataset} vs {b.manifest.dataset});"
            " samples are paired by id"
        )
    recs_a = {rid: r for rid, r in a.records().items() if r.ok}
    recs_b = {rid: r for rid, r in b.records().items() if r.ok}
    shared = [rid for rid in recs_a if rid in recs_b]
    result: Comparison = {
        "task": task_a,
        "dataset": a.manifest.dataset,
        "split": a.manifest.split,
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
    compare = task_report(str(task_a)).compare
    if compare is None:
        notes.append(f"no paired comparison is defined for task {task_a}")
        return result
    result["metrics"] = compare(pairs, str(result["dataset"]), notes, resamples, seed)
    return result


def compare_paths(
    path_a: str | Path, path_b: str | Path, *, resamples: int = 2000, seed: int = 0
) -> list[Comparison]:
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


def _side(run: Run, finished: int) -> Side:
    return {"model": run.manifest.model, "path": str(run.path), "finished": finished}


def _by_key(runs: Sequence[Run], where: str | Path) -> dict[tuple[str, str, str], Run]:
    out: dict[tuple[str, str, str], Run] = {}
    for run in runs:
        m = run.manifest
        key = (m.task, m.dataset, m.split or "")
        if key in out:
            raise UsageError(
                f"{where} holds more than one {key[0]} run on {key[1]} ({out[key].path}, {run.path}); "
                "name the two run folders to compare"
            )
        out[key] = run
    return out


def comparison_table(result: Mapping[str, Any]) -> Any:
    """A rich table for the terminal."""
    from rich.table import Table

    table = Table(title=title(result), title_justify="left", caption_justify="left")
    for i, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if i in (0, 6) else "right", style="bold" if i == 0 else None)
    for metric in result["metrics"]:
        table.add_row(*cells(metric))
    table.caption = "\n".join(caption(result))
    return table


def to_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for result in results:
        parts.append(f"### {title(result)}\n")
        if result["metrics"]:
            parts.append("| " + " | ".join(COLUMNS) + " |")
            parts.append("|---|" + "---:|" * 5 + "---|")
            parts.extend("| " + " | ".join(cells(m)) + " |" for m in result["metrics"])
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

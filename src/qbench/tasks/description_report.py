"""A2's report: its board, HTML section, paired comparison, submission form and published rows (one
:class:`qbench.report.spec.TaskReport`, registered with the task as ``report``).

The submission: the golden descriptions are private, so an A2 number on the official board comes from
sending the descriptions to the authors (protocol.md 3). Two official shapes:

- single images: a JSON list of ``{"img_path": ..., "response": ...}`` in the order of the input;
- pairs: ``q-bench2-a2.jsonl`` itself, one ``{"img_path": ..., "response": ...}`` line per pair, in the
  original order, with the (empty in the release) ``response`` filled in.

``img_path`` is written exactly as the input file had it (Windows separators included), since that is the
key the authors match on; the response is the description with surrounding white space trimmed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbench.data.jsonfile import write_json_atomic, write_text_atomic
from qbench.errors import RunError, UsageError
from qbench.report import svg
from qbench.report.html_blocks import by_headline, finite, legend_note, metric_lines, table
from qbench.report.leaderboard import Board, metric_board
from qbench.report.paired import index_chunks, interval
from qbench.report.rows import ReportRow
from qbench.report.spec import ComparedMetric, HtmlContext, ReferenceQuery, Section, TaskReport
from qbench.report.submission import ordered_records, submission_target
from qbench.store import Run, slug
from qbench.tasks.description import DescriptionOutput, read
from qbench.types import Record

__all__ = [
    "A2_COLUMNS",
    "REPORT",
    "a2_round_scores",
    "a2_submission_items",
    "compare_a2",
    "reference_rows",
    "write_a2_submission",
]

A2_COLUMNS = [
    ("completeness", "Completeness"),
    ("precision", "Precision"),
    ("relevance", "Relevance"),
    ("sum", "Sum"),
]
A2_DIMENSIONS = ("completeness", "precision", "relevance")
A2_SHARE_COLORS = ("#D55E00", "#E69F00", "#009E73")  # score 0, 1, 2: bad to good
TITLE = "A2 description (0-2 each, sum 0-6)"


def a2_boards(rows: Sequence[ReportRow]) -> list[Board]:
    return [metric_board(TITLE, A2_COLUMNS, rows, percent=False)]


# -- HTML --------------------------------------------------------------------------------------------------
def a2_html(rows: Sequence[ReportRow], context: HtmlContext) -> list[Section]:
    rows = by_headline(rows, "sum")
    board = metric_board(TITLE, A2_COLUMNS, rows, percent=False)
    out = [
        legend_note(
            rows, "Each dimension 0-2, Sum 0-6; small lines are 95% bootstrap intervals over images."
        ),
        table(board, metric_lines(board, rows, A2_COLUMNS, percent=False), css="a2"),
    ]
    bars = []
    for (label, _), row in zip(board.rows, rows):
        if row.reference:
            continue
        for key, name in A2_COLUMNS[:3]:
            shares = [row.metrics.get(f"{key}/p{k}") for k in range(3)]
            if any(finite(s) for s in shares):
                bars.append((f"{label} · {name}", shares))
    if bars:
        out.append(
            '<figure class="wide">'
            + svg.stacked_bars(
                bars,
                ["score 0", "score 1", "score 2"],
                title="Judge scores per dimension (P0 / P1 / P2 over all images and rounds)",
                colors=A2_SHARE_COLORS,
            )
            + "<figcaption>The dimension's score is 0·P0 + 1·P1 + 2·P2; the shares show whether a middling "
            "score is many 1s or a mix of 0s and 2s.</figcaption></figure>"
        )
    elif not any(r.reference for r in rows) and all("sum" not in r.metrics for r in rows):
        out.append(
            '<p class="note">These A2 runs are not judged yet: their descriptions are in the run folders '
            "(score them with <code>qbench score RUN --judge MODEL</code> when references exist).</p>"
        )
    return [Section("a2", "A2 description", "".join(out))]


# -- paired comparison -------------------------------------------------------------------------------------
def a2_round_scores(output: DescriptionOutput) -> dict[str, list[float]] | None:
    """An item's valid judge scores per dimension (unparsable rounds dropped), or None when not judged.

    Reads the verdict's scores (what the A2 task writes, old records migrated); a record with plain
    per-dimension fields (a list of rounds or one number) is read too, so imported or hand-made records
    compare as well.
    """
    holder: Mapping[str, Any] = output.verdict.scores if output.verdict is not None else output.extra
    out: dict[str, list[float]] = {}
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


def compare_a2(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[ComparedMetric]:
    """The pooled A2 sum (as the task computes it: all valid rounds of all images) of A minus that of B.

    Per dimension each item contributes its score total and its valid-round count, so a resample or a swap
    only re-sums those: the bootstrap draws items, and the permutation test swaps A's and B's verdicts on a
    random half of the items (a paired sign flip of the pooled statistic).
    """
    scored = [(a2_round_scores(read(a)), a2_round_scores(read(b))) for a, b in pairs]
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
    for idx in index_chunks([np.arange(len(usable))], resamples, seed):
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
            "ci": interval(np.concatenate(diffs)),
            "p": (extreme + 1) / (resamples + 1),
            "test": "paired bootstrap CI; paired permutation test (swap A/B per item)",
            "unit": "value",
            "n": len(usable),
        }
    ]


# -- submission (protocol.md 3) ----------------------------------------------------------------------------
def a2_submission_items(run: Run) -> tuple[list[dict[str, Any]], bool]:
    """(items, is_pairs): one ``{"img_path", "response"}`` per finished record, in dataset order."""
    if run.manifest.task != "a2":
        raise UsageError(f"{run.path} is a {run.manifest.task} run, not an A2 description run")
    if not run.complete:
        raise RunError(
            f"{run.path} is not complete (status: {run.status}); run the same command again to finish it "
            "before exporting a submission"
        )
    records = [r for r in ordered_records(run) if r.ok]  # dataset order, also for merged shard runs
    typed = [(r, read(r)) for r in records]
    kinds = {bool(o.img_paths) for _, o in typed}
    if len(kinds) > 1:
        raise RunError(
            f"{run.path} mixes single images and pairs; the official forms hold one or the other",
            hint="run singles and pairs as separate data files",
        )
    items = [
        {
            "img_path": str(o.img_path if o.img_path is not None else r.id),
            "response": str(o.description if o.description is not None else "").strip(),
        }
        for r, o in typed
    ]
    return items, kinds == {True}


def write_a2_submission(run: Run, output: str | Path | None = None) -> Path:
    """Write ``run``'s descriptions as an official A2 submission; returns the file written.

    ``output`` may be a file, an existing folder (or a path ending in ``/``) to put the default name in, or
    None for the run folder itself. The default name is ``<model>_<dataset>_a2.json`` for single images and
    ``<model>_<dataset>_a2.jsonl`` for pairs (the pair form mirrors ``q-bench2-a2.jsonl`` line by line).
    """
    items, pairs = a2_submission_items(run)
    suffix = ".jsonl" if pairs else ".json"
    default = f"{slug(run.manifest.model or 'model')}_{slug(run.manifest.dataset or 'a2')}_a2"
    target = submission_target(run, output, f"{default}{suffix}")
    if pairs:
        write_text_atomic(target, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))
    else:
        write_json_atomic(target, items)
    return target


# -- published rows (protocol.md 5) ------------------------------------------------------------------------
SOURCE = "Q-Bench+ paper Tables IV-V = qbench_a2_{single,pair}.csv (protocol.md 5)"
A2_SIZES = {"single": 499, "pair": 450}  # protocol 3
# --- A2 (completeness, precision, relevance, sum; 0-2 each, sum 0-6) --------------------------------------
A2_SINGLE: dict[str, tuple[float, float, float, float]] = {
    "InternLM-XComposer-VL": (1.08, 1.26, 1.87, 4.21),
    "Emu2-Chat": (1.07, 1.24, 1.88, 4.19),
    "Kosmos-2": (1.12, 1.06, 1.85, 4.03),
    "LLaVA-v1.5-13B": (0.91, 1.28, 1.29, 3.47),
    "mPLUG-Owl2": (1.06, 1.24, 1.36, 3.67),
    "Qwen-VL": (0.98, 0.75, 1.63, 3.36),
}
A2_PAIR: dict[str, tuple[float, float, float, float]] = {
    "mPLUG-Owl2 (Q-Instruct)": (1.02, 0.79, 1.87, 3.69),
    "LLaVA-v1.5-13B": (0.89, 0.92, 1.63, 3.44),
}
A2_KEYS = ("completeness", "precision", "relevance", "sum")


def reference_rows(query: ReferenceQuery) -> list[ReportRow]:
    """Published A2 rows (0-2 each, sum 0-6) on ``lldescribe`` (single) and ``lldescribe-pair``."""
    rows = []
    for is_pair, published in ((False, A2_SINGLE), (True, A2_PAIR)):
        if query.pairs is not None and query.pairs != is_pair:
            continue
        dataset = "lldescribe-pair" if is_pair else "lldescribe"
        size = A2_SIZES["pair" if is_pair else "single"]
        for model, values in published.items():
            rows.append(
                ReportRow(
                    task="a2",
                    model=model,
                    dataset=dataset,
                    n=size,
                    metrics=dict(zip(A2_KEYS, values)),
                    status="reference",
                    reference=True,
                    source=SOURCE,
                    pair=is_pair,
                )
            )
    return rows


REPORT = TaskReport(
    boards=a2_boards,
    headline="sum",
    html=a2_html,
    compare=compare_a2,
    submission=write_a2_submission,
    references=reference_rows,
    unreadable=(("judge_failure_rate", "failed judge rounds"),),
    unreadable_note="A2: judge replies without a readable score, or failed calls (dropped from the scores).",
    method="A2 judge scores 0-2 per dimension pooled over images and rounds",
)

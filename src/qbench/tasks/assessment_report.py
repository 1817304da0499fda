"""A3's report: the official board (one SRCC/PLCC cell per database and the average), the details board,
the HTML section with score-against-MOS plots, the paired comparison and the published rows (one
:class:`qbench.report.spec.TaskReport`, registered with the task as ``report``).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from qbench.data.databases import DATABASES, display_name, find_database
from qbench.metrics import grouped_correlations
from qbench.protocol import half_of
from qbench.report import svg
from qbench.report.html_blocks import Line, cell_text, ci_text, finite, legend_note, metric_lines, table
from qbench.report.leaderboard import (
    Board,
    dataset_column,
    fmt,
    metric_board,
    partial_notes,
    row_label,
    undefined,
)
from qbench.report.paired import bootstrap_p, correlation_diffs, index_chunks, interval, resample_counts
from qbench.report.rows import ReportRow
from qbench.report.spec import ComparedMetric, HtmlContext, ReferenceQuery, Section, TaskReport
from qbench.store import Run
from qbench.tasks.assessment import read
from qbench.types import Record
from qbench.undefined import na, reason

__all__ = ["A3_DATABASES", "A3_TABLE", "MAX_POINTS", "REPORT", "a3_board", "compare_a3", "reference_rows"]

TITLE = "A3 assessment (SRCC/PLCC)"
# A3 details: every correlation measured, per run, and the number of images.
A3_DETAIL_COLUMNS = [("srcc", "SRCC"), ("plcc", "PLCC"), ("krcc", "KRCC")]
PLCC_LOGISTIC = ("plcc_logistic", "PLCC (logistic)")
#: Points drawn per scatter plot. Beyond this a scatter is a blot and the file grows; the sample is the same
#: images for every model (chosen by a hash of the sample id), so plots of one database stay comparable.
MAX_POINTS = 2000


# -- boards ------------------------------------------------------------------------------------------------
def _pair_cell(m: Mapping[str, Any]) -> str:
    """``SRCC/PLCC``; when both are undefined for one reason, that reason once."""
    if undefined(m, "srcc") and undefined(m, "plcc") and reason(m, "srcc") == reason(m, "plcc"):
        return na(m, "srcc")
    return "/".join(na(m, k) if undefined(m, k) else fmt(m.get(k)) for k in ("srcc", "plcc"))


def _database_order(name: str) -> tuple[int, str]:
    return (list(DATABASES).index(name) if name in DATABASES else len(DATABASES), name)


def a3_board(rows: Sequence[ReportRow]) -> Board:
    """Model rows, one SRCC/PLCC cell per database in the official order, and the average."""
    datasets = sorted(
        {r.dataset for r in rows}, key=lambda d: (list(DATABASES).index(d) if d in DATABASES else 99, d)
    )
    board = Board(
        TITLE,
        [dataset_column(d, rows) for d in datasets] + (["Average"] if len(datasets) > 1 else []),
    )
    labels = list(dict.fromkeys(row_label(r, with_dataset=False) for r in rows))
    partial: list[str] = []
    for model in labels:
        cells: list[Any] = []
        srcc_of: list[float] = []
        plcc_of: list[float] = []
        for dataset in datasets:
            match = [r for r in rows if row_label(r, with_dataset=False) == model and r.dataset == dataset]
            m = match[-1].metrics if match else {}
            srcc_of.append(float(m.get("srcc", math.nan) if m.get("srcc") is not None else math.nan))
            plcc_of.append(float(m.get("plcc", math.nan) if m.get("plcc") is not None else math.nan))
            cells.append(_pair_cell(m) if match else "-")
        if len(datasets) > 1:
            official = [d for d in datasets if d in DATABASES]
            have = [i for i, d in enumerate(datasets) if d in DATABASES and not math.isnan(srcc_of[i])]
            if have:
                avg = (
                    f"{fmt(sum(srcc_of[i] for i in have) / len(have))}/"
                    f"{fmt(sum(plcc_of[i] for i in have) / len(have))}"
                )
                cells.append(avg if len(have) == len(official) else f"{avg}*")
                if len(have) < len(official):
                    partial.append(model)
            else:
                cells.append("-")
        board.rows.append((model, cells))
    if partial:
        board.notes.append("* averaged over the official databases present: " + ", ".join(partial))
    board.notes += partial_notes(rows)
    return board


#: Columns a scoring mode or preset adds to the details board when any run has them (issue 14): the fitted
#: correlations beside the raw ones (a preset with a fit), the share of unparsed ratings, the spread across
#: ``samples=K``.
MODE_COLUMNS = [
    ("srcc_fitted", "SRCC (fitted)"),
    ("plcc_fitted", "PLCC (fitted)"),
    ("parse_failure_rate", "Unparsed"),
    ("spread_mean_std", "Spread (mean std)"),
]


def a3_detail_columns(rows: Sequence[ReportRow]) -> list[tuple[str, str]]:
    """SRCC, PLCC, KRCC, the logistic PLCC when any run computed it (``-T logistic=true``), and the columns of
    the scoring modes and presets that any run used (:data:`MODE_COLUMNS`)."""
    logistic = any(PLCC_LOGISTIC[0] in r.metrics for r in rows)
    modes = [c for c in MODE_COLUMNS if any(c[0] in r.metrics for r in rows)]
    return [*A3_DETAIL_COLUMNS, *([PLCC_LOGISTIC] if logistic else []), *modes]


def mode_notes(rows: Sequence[ReportRow]) -> list[str]:
    """Which scoring mode and preset made each number (one line per run that is not the official default)."""
    notes = []
    for row in rows:
        m = row.metrics
        scoring, preset = m.get("scoring"), m.get("preset")
        if not scoring and not preset:
            continue
        parts = [f"scoring {scoring}" if scoring else "", f"preset {preset}" if preset else ""]
        fit = m.get("fit")
        if isinstance(fit, Mapping):
            parts.append(f"fitted columns: 4-parameter logistic ({fit.get('type')}), raw columns unfitted")
        if m.get("replies"):
            parts.append(
                f"{m.get('unparsed', 0)} of {m['replies']} replies unparsed (not scored, not imputed)"
            )
        notes.append(f"{row_label(row)}: " + ", ".join(p for p in parts if p))
    return notes


def a3_details(rows: Sequence[ReportRow]) -> Board:
    """One line per run and database with every correlation measured and ``n``."""
    own = [r for r in rows if not r.reference]
    board = metric_board("A3 details", a3_detail_columns(own), own, percent=False, digits=4)
    board.notes = [n for n in board.notes if n not in partial_notes(own)]  # said once, under the A3 table
    board.notes += mode_notes(own)
    return board


def a3_boards(rows: Sequence[ReportRow]) -> list[Board]:
    """The official board; then the details of your runs (published rows have none)."""
    out = [a3_board(rows)]
    if any(not r.reference for r in rows):
        out.append(a3_details(rows))
    return out


# -- HTML --------------------------------------------------------------------------------------------------
def _mean_srcc(rows: Sequence[ReportRow]) -> float:
    values = [r.metrics.get("srcc") for r in rows]
    finite_values = [float(v) for v in values if finite(v)]
    return sum(finite_values) / len(finite_values) if finite_values else math.nan


def _label(row: ReportRow) -> str:
    return row_label(row, with_dataset=False)


def a3_html(rows: Sequence[ReportRow], context: HtmlContext) -> list[Section]:
    models = list(dict.fromkeys(_label(r) for r in rows))  # as the board labels its rows
    by_model = {m: [r for r in rows if _label(r) == m] for m in models}
    mean = {m: _mean_srcc(by_model[m]) for m in models}
    ranked = sorted(models, key=lambda m: -mean[m] if finite(mean[m]) else math.inf)  # best first
    ordered = [r for m in ranked for r in by_model[m]]
    board, *details = a3_boards(ordered)
    column_dataset = {dataset_column(r.dataset, ordered): r.dataset for r in rows}
    lines = []
    for label, cells in board.rows:
        model_rows = by_model[label]
        sort: list[float | None] = []
        cis: list[str | None] = []
        for column in board.columns:
            match = [r for r in model_rows if r.dataset == column_dataset.get(column)]
            metrics = match[-1].metrics if match else {}
            if column == "Average" and column not in column_dataset:
                sort.append(mean[label])
                cis.append(None)
                continue
            sort.append(metrics.get("srcc"))
            srcc_ci, plcc_ci = ci_text(metrics.get("srcc_ci")), ci_text(metrics.get("plcc_ci"))
            cis.append("\n".join(ci for ci in (srcc_ci, plcc_ci) if ci) or None)
        reference = all(r.reference for r in model_rows)
        source = str(model_rows[0].source or "") if reference else ""
        text = [cell_text(c).replace("n/a", "\0").replace("/", " / ").replace("\0", "n/a") for c in cells]
        lines.append(Line(label, text, sort, cis, reference, source))
    out = [
        legend_note(
            rows,
            "Each cell is SRCC / PLCC against human MOS; the small lines are their 95% bootstrap intervals "
            "(SRCC's, then PLCC's). "
            "Average: the mean over the databases (* when a model lacks some).",
        ),
        table(board, lines, css="a3"),
    ]
    if details:  # every correlation measured, per run, with n
        own = [r for r in ordered if not r.reference]
        columns = a3_detail_columns(own)
        out.append(table(details[0], metric_lines(details[0], own, columns, percent=False), css="a3d"))
    out.append(_scatters(rows, ranked, context))
    return [Section("a3", "A3 assessment", "".join(out))]


def _sample_key(sample_id: str) -> bytes:
    return hashlib.blake2b(sample_id.encode("utf-8"), digest_size=8).digest()


def _points(run: Run) -> tuple[list[tuple[float, float]], int]:
    """(score, MOS) of a run's finished images, at most :data:`MAX_POINTS` of them, and how many there are.

    A ``samples=K`` rating run has K records per image: an image's point is the mean of its parsed ratings."""
    pairs = []
    sampled: dict[str, list[tuple[float, float]]] = {}
    for rid, record in run.records().items():
        output = read(record) if record.ok else None
        if output is None or output.mos is None or not math.isfinite(output.score):
            continue  # failed, unscored (null score) or without MOS: nothing to draw
        image = output.extra.get("image_id")
        if image is not None:
            sampled.setdefault(str(image), []).append((output.score, output.mos))
            continue
        pairs.append((rid, output.score, output.mos))
    for image, values in sampled.items():
        pairs.append((image, sum(v for v, _ in values) / len(values), values[0][1]))
    total = len(pairs)
    if total > MAX_POINTS:
        pairs = sorted(pairs, key=lambda p: _sample_key(p[0]))[:MAX_POINTS]
    return [(score, mos) for _, score, mos in pairs], total


def _scatters(rows: Sequence[ReportRow], models: Sequence[str], context: HtmlContext) -> str:
    own = sorted(
        (r for r in rows if not r.reference),
        key=lambda r: models.index(_label(r)) if _label(r) in models else 0,
    )
    datasets = sorted({r.dataset for r in own}, key=_database_order)
    colour = {m: svg.color(i) for i, m in enumerate(m for m in models if any(_label(r) == m for r in own))}
    blocks = []
    for dataset in datasets:
        figures = []
        for row in (r for r in own if r.dataset == dataset):
            run = context.run(row)
            if run is None:
                continue
            points, total = _points(run)
            m = row.metrics
            subtitle = f"SRCC {_three(m.get('srcc'))} · PLCC {_three(m.get('plcc'))}"
            if finite(m.get("plcc_fitted")):
                subtitle += f" (fitted {_three(m.get('plcc_fitted'))})"
            subtitle += f" · n={total:,}" + (f" ({len(points):,} shown)" if len(points) < total else "")
            if m.get("replies"):
                subtitle += f" · unparsed {100 * float(m.get('parse_failure_rate') or 0):.1f}%"
            if finite(m.get("spread_mean_std")):
                subtitle += f" · spread (mean std) {_three(m.get('spread_mean_std'))}"
            figures.append(
                "<figure>"
                + svg.scatter(
                    points,
                    title=_label(row),
                    subtitle=subtitle,
                    x_label="predicted score",
                    y_label="MOS",
                    point_color=colour.get(_label(row), svg.color(0)),
                )
                + "</figure>"
            )
        if figures:
            blocks.append(
                f'<h3>{escape(display_name(dataset))} <span class="sub">predicted score against MOS</span></h3>'
                f'<div class="plots">{"".join(figures)}</div>'
            )
    if not blocks:
        return ""
    return (
        '<div class="scatters">'
        + "".join(blocks)
        + f'<p class="note">One dot per image; dashed: least-squares line. At most {MAX_POINTS:,} dots per plot, '
        "the same images for every model.</p></div>"
    )


def _three(value: Any) -> str:
    return f"{float(value):.3f}" if finite(value) else "n/a"


# -- paired comparison -------------------------------------------------------------------------------------
def compare_a3(
    pairs: Sequence[tuple[Record, Record]], dataset: str, notes: list[str], resamples: int, seed: int
) -> list[ComparedMetric]:
    """SRCC and PLCC: the difference with a paired bootstrap (each resample draws items, both models'
    correlations are computed on the same draw; CGIQA-6K is resampled within its halves and averaged as the
    official number is) and the bootstrap p-value."""
    typed = [(read(a), read(b)) for a, b in pairs]
    if any(a.mos is None or b.mos is None for a, b in typed):
        notes.append("records lack 'score' or 'mos': SRCC/PLCC cannot be compared")
        return []
    pa = np.array([a.score for a, _ in typed])  # a null score reads as NaN
    pb = np.array([b.score for _, b in typed])
    gt = np.array([a.mos for a, _ in typed], dtype=float)
    gt_b = np.array([b.mos for _, b in typed], dtype=float)
    differ = int(np.count_nonzero(~np.isclose(gt, gt_b)))
    if differ:
        notes.append(f"MOS differs between the runs for {differ} shared items; run A's MOS is used")
    names = [str(o.img_path if o.img_path is not None else rec.id) for (o, _), (rec, _) in zip(typed, pairs)]
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
    for idx in index_chunks(strata, resamples, seed):
        chunk = correlation_diffs(pa, pb, gt, resample_counts(idx, len(gt)), strata)
        for metric in diffs:
            diffs[metric].append(chunk[metric])
    out: list[ComparedMetric] = []
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
                "ci": interval(values),
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


# -- published rows (protocol.md 4.5) ----------------------------------------------------------------------
SOURCE = "Q-Bench+ paper Table VI = official leaderboard CSV qbench_a3_single.csv (protocol.md 4.5)"
# --- A3 (SRCC, PLCC) per database, in the official column order; then the published average -------------
A3_DATABASES = ("koniq", "spaq", "flive", "livec", "cgi", "agi", "kadid")
_A3_ROWS = """
NIQE 0.316/0.377 0.693/0.669 0.211/0.288 0.480/0.451 0.075/0.056 0.562/0.517 0.374/0.428 0.387/0.398
CLIP-ViT-L/14 0.468/0.505 0.385/0.389 0.218/0.237 0.307/0.308 0.285/0.290 0.436/0.458 0.376/0.388 0.354/0.368
InfiMM 0.507/0.547 0.616/0.633 0.269/0.299 0.548/0.580 0.229/0.245 0.706/0.767 0.466/0.452 0.477/0.503
Emu2-Chat 0.664/0.714 0.712/0.698 0.355/0.341 0.597/0.611 0.224/0.269 0.759/0.751 0.841/0.790 0.593/0.596
Fuyu-8B 0.124/0.123 0.125/0.179 0.164/0.133 0.225/0.176 0.118/0.116 0.368/0.317 0.099/0.088 0.174/0.161
BakLLava 0.389/0.390 0.406/0.398 0.227/0.216 0.335/0.337 0.179/0.209 0.542/0.561 0.344/0.361 0.346/0.353
mPLUG-Owl2 0.196/0.252 0.589/0.614 0.217/0.286 0.293/0.342 -0.024/-0.032 0.473/0.492 0.541/0.546 0.326/0.357
LLaVA-v1.5-7B 0.463/0.459 0.443/0.467 0.305/0.321 0.344/0.358 0.321/0.333 0.672/0.738 0.417/0.440 0.424/0.445
LLaVA-v1.5-13B 0.448/0.460 0.563/0.584 0.310/0.339 0.445/0.481 0.285/0.297 0.664/0.754 0.390/0.400 0.444/0.474
InternLM-XComposer-VL 0.564/0.615 0.730/0.750 0.360/0.416 0.612/0.676 0.243/0.265 0.732/0.775 0.546/0.572 0.541/0.581
IDEFICS-Instruct 0.375/0.400 0.474/0.484 0.235/0.240 0.409/0.428 0.244/0.227 0.562/0.622 0.370/0.373 0.381/0.396
Qwen-VL 0.470/0.546 0.676/0.669 0.298/0.338 0.504/0.532 0.273/0.284 0.617/0.686 0.486/0.486 0.475/0.506
Shikra 0.314/0.307 0.320/0.337 0.237/0.241 0.322/0.336 0.198/0.201 0.640/0.661 0.324/0.332 0.336/0.345
Otter-v1 0.406/0.406 0.436/0.441 0.143/0.142 -0.008/0.018 0.254/0.264 0.475/0.481 0.557/0.577 0.323/0.333
Kosmos-2 0.255/0.281 0.644/0.641 0.196/0.195 0.358/0.368 0.210/0.225 0.489/0.491 0.359/0.365 0.359/0.367
InstructBLIP-T5-XL 0.334/0.362 0.582/0.599 0.248/0.267 0.113/0.113 0.167/0.188 0.378/0.400 0.211/0.179 0.290/0.301
InstructBLIP-Vicuna-7B 0.359/0.437 0.683/0.689 0.200/0.283 0.253/0.367 0.263/0.304 0.629/0.663 0.337/0.382 0.389/0.446
VisualGLM-6B 0.247/0.234 0.498/0.507 0.146/0.154 0.110/0.116 0.209/0.183 0.342/0.349 0.127/0.131 0.240/0.239
mPLUG-Owl 0.409/0.427 0.634/0.644 0.241/0.271 0.437/0.487 0.148/0.180 0.687/0.711 0.466/0.486 0.432/0.458
LLaMA-Adapter-V2 0.354/0.363 0.464/0.506 0.275/0.329 0.298/0.360 0.257/0.271 0.604/0.666 0.412/0.425 0.381/0.417
LLaVA-v1 0.462/0.457 0.442/0.462 0.264/0.280 0.404/0.417 0.208/0.237 0.626/0.684 0.349/0.372 0.394/0.416
MiniGPT-4 0.239/0.257 0.238/0.253 0.170/0.183 0.339/0.340 0.252/0.246 0.572/0.591 0.239/0.233 0.293/0.300
"""


def _parse_a3(text: str) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]:
    table: dict[str, dict[str, tuple[float, float]]] = {}
    averages: dict[str, tuple[float, float]] = {}
    for line in text.strip().splitlines():
        model, *cells = line.rsplit(" ", len(A3_DATABASES) + 1)
        pairs = [tuple(float(v) for v in cell.split("/")) for cell in cells]
        table[model] = {db: (p[0], p[1]) for db, p in zip(A3_DATABASES, pairs[:-1])}
        averages[model] = (pairs[-1][0], pairs[-1][1])
    return table, averages


#: model -> database -> (SRCC, PLCC); and model -> the published (SRCC, PLCC) average over the seven.
A3_TABLE, A3_AVERAGES = _parse_a3(_A3_ROWS)


def reference_rows(query: ReferenceQuery) -> list[ReportRow]:
    """Published A3 rows, one per (model, database), on the database names of :mod:`qbench.data.databases`."""
    return [
        ReportRow(
            task="a3",
            model=model,
            dataset=db,
            n=DATABASES[db].size,
            metrics={"srcc": srcc, "plcc": plcc},
            status="reference",
            reference=True,
            source=SOURCE,
        )
        for model, cells in A3_TABLE.items()
        for db, (srcc, plcc) in cells.items()
    ]


REPORT = TaskReport(
    boards=a3_boards,
    headline="srcc",
    html=a3_html,
    compare=compare_a3,
    references=reference_rows,
    method="A3 plain SRCC/PLCC of the predicted score against MOS (CGIQA-6K: the mean of its two halves)",
)

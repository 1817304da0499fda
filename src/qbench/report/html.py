"""The single-file HTML report: leaderboards in the official layouts, intervals, published rows, and plots.

Why one file with inline CSS and SVG: a report gets mailed, attached to an issue, opened on a laptop on a
train; it must render offline and look the same everywhere. There is no external URL and no JS library; a
few lines of inline JS only make the table headers sortable (the page reads fine without them).

The tables are the very boards of :mod:`qbench.report.leaderboard` (the same cell text as markdown and the
terminal), with 95 % intervals as a small second line. Rows of your runs are highlighted; rows marked
``"reference": True`` (the published numbers) are grey with a "published" tag. Plots are drawn where a picture
says more than a number: score against MOS per database (A3), accuracy by question type and concern (A1),
the judge's score distribution per dimension (A2), and invalid-answer rates.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from qbench import __version__
from qbench.data.databases import DATABASES, display_name
from qbench.errors import QBenchError
from qbench.report import svg
from qbench.report.leaderboard import (
    A1_PAIR_COLUMNS,
    A1_SINGLE_COLUMNS,
    A2_COLUMNS,
    JUDGED,
    UNREADABLE,
    Board,
    a1_columns,
    a3_column,
    a3_detail_columns,
    boards,
    is_pair,
    row_label,
)
from qbench.store import Run, load_run

#: Points drawn per scatter plot. Beyond this a scatter is a blot and the file grows; the sample is the same
#: images for every model (chosen by a hash of the sample id), so plots of one database stay comparable.
MAX_POINTS = 2000
A2_SHARE_COLORS = ("#D55E00", "#E69F00", "#009E73")  # score 0, 1, 2: bad to good


@dataclass
class _Line:
    """One table row: its label, cell texts, sort values, interval lines and whether it is published."""

    label: str
    cells: list[str]
    sort: list[float | None]
    cis: list[str | None] = field(default_factory=list)
    reference: bool = False
    source: str = ""


# -- entry points ------------------------------------------------------------------------------------------
def to_html(
    rows: Sequence[Mapping[str, Any]],
    *,
    runs: Sequence[Run] | None = None,
    comparisons: Sequence[Mapping[str, Any]] | None = None,
    title: str = "qbench report",
) -> str:
    """The whole report as one HTML page.

    ``rows`` are report rows (:func:`qbench.report.rows.run_rows`, plus published rows with
    ``"reference": True``). Per-sample plots read ``records.jsonl`` of the run at each row's ``path``;
    pass ``runs`` to reuse Run objects already loaded. ``comparisons`` are results of
    :func:`qbench.report.compare.compare_runs`, shown first.
    """
    rows = [dict(r) for r in rows]
    index = {str(run.path): run for run in runs or ()}
    sections: list[tuple[str, str, str]] = []  # (anchor, heading, body)
    if comparisons:
        sections.append(("compare", "Paired comparison", _comparisons(comparisons)))
    a1 = [r for r in rows if r.get("task") == "a1"]
    single = [r for r in a1 if not is_pair(r)]
    pair = [r for r in a1 if is_pair(r)]
    if single:
        sections.append(("a1-single", "A1 perception — single images", _a1(single, A1_SINGLE_COLUMNS)))
    if pair:
        sections.append(("a1-pair", "A1 perception — image pairs", _a1(pair, A1_PAIR_COLUMNS)))
    a2 = [r for r in rows if r.get("task") == "a2"]
    if a2:
        sections.append(("a2", "A2 description", _a2(a2)))
    a3 = [r for r in rows if r.get("task") == "a3"]
    if a3:
        sections.append(("a3", "A3 assessment", _a3(a3, index)))
    invalid = _invalid_rates(rows)
    if invalid:
        sections.append(("invalid", "Invalid answers", invalid))
    own = [r for r in rows if not r.get("reference")]
    if own:
        sections.append(("runs", "Runs", _runs_table(own)))
    return _page(title, rows, sections)


def comparisons_page(results: Sequence[Mapping[str, Any]]) -> str:
    """A page for ``qbench report A B --compare --format html``: the comparison, then both runs' report."""
    from qbench.report.rows import run_rows

    runs: list[Run] = []
    for result in results:
        for side in ("a", "b"):
            path = result[side]["path"]
            if all(str(r.path) != path for r in runs):
                runs.append(load_run(path))
    return to_html(run_rows(runs), runs=runs, comparisons=results, title="qbench comparison")


# -- formatting --------------------------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cell_text(value: Any) -> str:
    """Board cells as text; NaN stays "NaN" (a real outcome: undefined correlation), None becomes a dash."""
    if value is None or value in ("None", "-"):
        return "–"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


def _ci(interval: Any, *, percent: bool = False) -> str | None:
    """``[0.40, 0.49]`` (or ``[56.1, 61.2]`` in percent), or None when there is no usable interval."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2 or not all(map(_finite, interval)):
        return None
    lo, hi = interval
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]" if percent else f"[{lo:.2f}, {hi:.2f}]"


def wilson_interval(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion: the A1 fallback when a run stored no bootstrap interval.

    Wilson rather than the normal approximation because it stays inside [0, 1] and is honest near 0 or 1.
    """
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _by_headline(rows: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Best first by the headline column (Overall, Sum); NaN and missing values last, order kept on ties."""

    def rank(row: Mapping[str, Any]) -> float:
        value = row["metrics"].get(key)
        return -value if _finite(value) else math.inf

    return sorted(rows, key=rank)


# -- tables ------------------------------------------------------------------------------------------------
def _table(board: Board, lines: Sequence[_Line], *, css: str = "") -> str:
    head = "".join(f'<th scope="col" title="sort">{escape(c)}</th>' for c in ["Model", *board.columns])
    body = []
    for line in lines:
        label = escape(line.label)
        if line.reference:  # the tag says it, more visibly than the board's " — published"
            tip = f' title="{escape(line.source)}"' if line.source else ""
            label = escape(line.label.removesuffix(" — published"))
            label += f' <span class="tag"{tip}>published</span>'
        cells = []
        for i, text in enumerate(line.cells):
            sort = line.sort[i] if i < len(line.sort) else None
            attr = f' data-v="{sort!r}"' if _finite(sort) else ' data-v="NaN"'
            ci = line.cis[i] if i < len(line.cis) else None
            extra = f'<span class="ci">{"<br>".join(map(escape, ci.splitlines()))}</span>' if ci else ""
            cells.append(f"<td{attr}>{escape(text)}{extra}</td>")
        kind = "ref" if line.reference else "own"
        body.append(f'<tr class="{kind}"><th scope="row">{label}</th>{"".join(cells)}</tr>')
    notes = f'<p class="note">{" · ".join(map(escape, board.notes))}</p>' if board.notes else ""
    return (
        f'<div class="scroll"><table class="board sortable {css}"><caption>{escape(board.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{notes}"
    )


def _metric_lines(
    board: Board, rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], *, percent: bool
) -> list[_Line]:
    """Lines for an A1/A2 board; ``metric_board`` keeps row order, so board rows and rows pair up."""
    lines = []
    for (label, cells), row in zip(board.rows, rows):
        metrics = row["metrics"]
        sort = [metrics.get(key) for key, _ in columns] + [row.get("n")]
        cis = [_ci(metrics.get(f"{key}_ci"), percent=percent) for key, _ in columns] + [None]
        n = row.get("n")
        for i, (key, _) in enumerate(columns):
            # Each share gets its own interval: accuracies over the items with answers, Unreadable over all.
            if not percent or cis[i] is not None or row.get("reference") or key not in WILSON_KEYS:
                continue
            count = metrics.get("n_scored", n) if key != UNREADABLE[0] else n
            if _finite(metrics.get(key)) and count:
                cis[i] = _ci(wilson_interval(float(metrics[key]), int(count)), percent=True)
        lines.append(
            _Line(
                label,
                [_cell_text(c) for c in cells],
                sort,
                cis,
                bool(row.get("reference")),
                str(row.get("source") or ""),
            )
        )
    return lines


#: Shares that get a Wilson interval when the run stored no bootstrap interval of their own.
WILSON_KEYS = ("accuracy", "judged/accuracy", UNREADABLE[0])


def _legend_note(rows: Sequence[Mapping[str, Any]], extra: str = "") -> str:
    parts = []
    if any(r.get("reference") for r in rows):
        parts.append(
            '<span class="tag">published</span> rows are the numbers of the Q-Bench papers and official '
            "leaderboard, not computed here."
        )
    if extra:
        parts.append(extra)
    parts.append("Click a column header to sort.")
    return f'<p class="legend">{" ".join(parts)}</p>'


# -- A1 ----------------------------------------------------------------------------------------------------
def _a1(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    rows = _by_headline(rows, "accuracy")
    (board,) = boards(rows)
    columns = a1_columns(rows, columns)
    out = [
        _legend_note(
            rows,
            "Accuracy in %; the small line under Overall is its 95% interval (bootstrap, or Wilson when the "
            "run stored none).",
        ),
        _table(board, _metric_lines(board, rows, columns, percent=True), css="a1"),
    ]
    columns = [c for c in columns if c not in (JUDGED, UNREADABLE)]  # the chart: the official columns
    own = [(label, r) for (label, _), r in zip(board.rows, rows) if not r.get("reference")]
    series = [(label, [r["metrics"].get(key) for key, _ in columns]) for label, r in own]
    series = [(label, values) for label, values in series if any(map(_finite, values))]
    if series:  # runs on the test split have no accuracies to draw
        out.append(
            '<figure class="wide">'
            + svg.bar_groups(
                [name for _, name in columns], series, title="Accuracy by question type and concern"
            )
            + "<figcaption>Yes-or-No / What / How are question types; the other groups are concerns. "
            "A missing bar means no question of that kind was asked.</figcaption></figure>"
        )
    return "".join(out)


# -- A2 ----------------------------------------------------------------------------------------------------
def _a2(rows: Sequence[dict[str, Any]]) -> str:
    rows = _by_headline(rows, "sum")
    (board,) = boards(rows)
    out = [
        _legend_note(
            rows, "Each dimension 0-2, Sum 0-6; small lines are 95% bootstrap intervals over images."
        ),
        _table(board, _metric_lines(board, rows, A2_COLUMNS, percent=False), css="a2"),
    ]
    bars = []
    for (label, _), row in zip(board.rows, rows):
        if row.get("reference"):
            continue
        for key, name in A2_COLUMNS[:3]:
            shares = [row["metrics"].get(f"{key}/p{k}") for k in range(3)]
            if any(_finite(s) for s in shares):
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
    elif not any(r.get("reference") for r in rows) and all("sum" not in r["metrics"] for r in rows):
        out.append(
            '<p class="note">These A2 runs are not judged yet: their descriptions are in the run folders '
            "(score them with <code>qbench score RUN --judge MODEL</code> when references exist).</p>"
        )
    return "".join(out)


# -- A3 ----------------------------------------------------------------------------------------------------
def _mean_srcc(rows: Sequence[Mapping[str, Any]]) -> float:
    values = [r["metrics"].get("srcc") for r in rows]
    finite = [float(v) for v in values if _finite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _a3(rows: Sequence[dict[str, Any]], index: dict[str, Run]) -> str:
    models = list(dict.fromkeys(_a3_label(r) for r in rows))  # as the board labels its rows
    by_model = {m: [r for r in rows if _a3_label(r) == m] for m in models}
    mean = {m: _mean_srcc(by_model[m]) for m in models}
    ranked = sorted(models, key=lambda m: -mean[m] if _finite(mean[m]) else math.inf)  # best first
    ordered = [r for m in ranked for r in by_model[m]]
    board, *details = boards(ordered)
    column_dataset = {a3_column(r["dataset"], ordered): r["dataset"] for r in rows}
    lines = []
    for label, cells in board.rows:
        model_rows = by_model[label]
        sort: list[float | None] = []
        cis: list[str | None] = []
        for column in board.columns:
            match = [r for r in model_rows if r["dataset"] == column_dataset.get(column)]
            metrics = match[-1]["metrics"] if match else {}
            if column == "Average" and column not in column_dataset:
                sort.append(mean[label])
                cis.append(None)
                continue
            sort.append(metrics.get("srcc"))
            srcc_ci, plcc_ci = _ci(metrics.get("srcc_ci")), _ci(metrics.get("plcc_ci"))
            cis.append("\n".join(ci for ci in (srcc_ci, plcc_ci) if ci) or None)
        reference = all(r.get("reference") for r in model_rows)
        source = str(model_rows[0].get("source") or "") if reference else ""
        text = [_cell_text(c).replace("n/a", "\0").replace("/", " / ").replace("\0", "n/a") for c in cells]
        lines.append(_Line(label, text, sort, cis, reference, source))
    out = [
        _legend_note(
            rows,
            "Each cell is SRCC / PLCC against human MOS; the small lines are their 95% bootstrap intervals "
            "(SRCC's, then PLCC's). "
            "Average: the mean over the databases (* when a model lacks some).",
        ),
        _table(board, lines, css="a3"),
    ]
    if details:  # every correlation measured, per run, with n
        own = [r for r in ordered if not r.get("reference")]
        columns = a3_detail_columns(own)
        out.append(_table(details[0], _metric_lines(details[0], own, columns, percent=False), css="a3d"))
    out.append(_scatters(rows, ranked, index))
    return "".join(out)


def _a3_label(row: Mapping[str, Any]) -> str:
    return row_label(dict(row), with_dataset=False)


def _database_order(name: str) -> tuple[int, str]:
    return (list(DATABASES).index(name) if name in DATABASES else len(DATABASES), name)


def _sample_key(sample_id: str) -> bytes:
    return hashlib.blake2b(sample_id.encode("utf-8"), digest_size=8).digest()


def _points(run: Run) -> tuple[list[tuple[float, float]], int]:
    """(score, MOS) of a run's finished samples, at most :data:`MAX_POINTS` of them, and how many there are."""
    pairs = []
    for rid, record in run.records().items():
        if not record.ok:
            continue
        try:
            pairs.append((rid, float(record.output["score"]), float(record.output["mos"])))
        except (KeyError, TypeError, ValueError):
            continue
    total = len(pairs)
    if total > MAX_POINTS:
        pairs = sorted(pairs, key=lambda p: _sample_key(p[0]))[:MAX_POINTS]
    return [(score, mos) for _, score, mos in pairs], total


def _find_run(row: Mapping[str, Any], index: dict[str, Run]) -> Run | None:
    path = row.get("path")
    if not path or row.get("reference"):
        return None
    if str(path) not in index:
        try:
            index[str(path)] = load_run(path)
        except (QBenchError, OSError):
            return None
    return index[str(path)]


def _scatters(rows: Sequence[Mapping[str, Any]], models: Sequence[str], index: dict[str, Run]) -> str:
    own = sorted(
        (r for r in rows if not r.get("reference")),
        key=lambda r: models.index(_a3_label(r)) if _a3_label(r) in models else 0,
    )
    datasets = sorted({r["dataset"] for r in own}, key=_database_order)
    colour = {m: svg.color(i) for i, m in enumerate(m for m in models if any(_a3_label(r) == m for r in own))}
    blocks = []
    for dataset in datasets:
        figures = []
        for row in (r for r in own if r["dataset"] == dataset):
            run = _find_run(row, index)
            if run is None:
                continue
            points, total = _points(run)
            m = row["metrics"]
            subtitle = f"SRCC {_three(m.get('srcc'))} · PLCC {_three(m.get('plcc'))}"
            subtitle += f" · n={total:,}" + (f" ({len(points):,} shown)" if len(points) < total else "")
            figures.append(
                "<figure>"
                + svg.scatter(
                    points,
                    title=_a3_label(row),
                    subtitle=subtitle,
                    x_label="predicted score",
                    y_label="MOS",
                    point_color=colour.get(_a3_label(row), svg.color(0)),
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
    return f"{float(value):.3f}" if _finite(value) else "n/a"


# -- invalid answers ---------------------------------------------------------------------------------------
#: How A1 answers were read (the ``rule/<name>`` counts of an A1 run), in the order shown, with colours:
#: blues and greens were read, warm colours were not.
RULE_COLORS = {
    "leading-letter": "#0072B2",
    "explicit": "#56B4E9",
    "option-text": "#009E73",
    "argmin-loss": "#0072B2",
    "empty": "#E69F00",
    "unreadable": "#D55E00",
    "letter-not-an-option": "#CC79A7",
    "tied-loss": "#F0E442",
    "non-finite-loss": "#000000",
}


def _row_label(row: Mapping[str, Any]) -> str:
    return f"{row['model']} ({row['dataset']}{', ' + row['split'] if row.get('split') else ''})"


def _invalid_rates(rows: Sequence[Mapping[str, Any]]) -> str:
    """Unreadable A1 answers and failed/unparsable judge rounds per run: a score is only as good as these."""
    items: list[tuple[str, float | None]] = []
    for row in rows:
        if row.get("reference"):
            continue
        label, metrics = _row_label(row), row["metrics"]
        for key, what in (
            ("invalid_rate", "unreadable answers"),
            ("judged/invalid_round_rate", "unparsable judge rounds"),
            ("judge_failure_rate", "failed judge rounds"),
        ):
            if key in metrics:
                items.append((f"{label}: {what}", metrics[key]))
    if not items:
        return ""
    out = [
        '<figure class="wide">'
        + svg.hbars(items, title="Share of answers that could not be read")
        + "<figcaption>A1: replies no extraction rule could read (counted wrong, never guessed); with a "
        "judge, its replies without a verdict. A2: judge replies without a readable score, or failed calls "
        "(dropped from the scores).</figcaption></figure>"
    ]
    out.append(_rules_chart(rows))
    return "".join(out)


def _rules_chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """How each A1 run's answers were read (leading letter, explicit statement, option text, unreadable...)."""
    counted = [
        (_row_label(r), {k[5:]: v for k, v in r["metrics"].items() if k.startswith("rule/") and _finite(v)})
        for r in rows
        if r.get("task") == "a1" and not r.get("reference")
    ]
    counted = [(label, counts) for label, counts in counted if counts]
    if not counted:
        return ""
    present = {rule for _, counts in counted for rule in counts}
    rules = [r for r in RULE_COLORS if r in present] + sorted(present - set(RULE_COLORS))
    colors = [RULE_COLORS.get(rule, "#999999") for rule in rules]
    bars = [(label, [counts.get(rule, 0) for rule in rules]) for label, counts in counted]
    return (
        '<figure class="wide">'
        + svg.stacked_bars(bars, rules, title="How the answers were read (A1 extraction rule)", colors=colors)
        + "<figcaption>Free-text replies: the rules of protocol 8.4, tried in this order: a leading option "
        "letter, an explicit statement (“answer is C”), the option's own text; otherwise unreadable. "
        "Options mode (close-set): the option with the lowest loss (argmin-loss); a tie gives no answer."
        "</figcaption></figure>"
    )


# -- runs and comparisons ----------------------------------------------------------------------------------
def _runs_table(rows: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("Task", "Model", "Dataset", "Split", "n", "Status", "Run folder")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(_cell_text(v))}</td>"
            for v in (
                str(r.get("task", "")).upper(),
                r.get("model"),
                r.get("dataset"),
                r.get("split"),
                r.get("n"),
                r.get("status", "complete"),
            )
        )
        + f'<td class="path">{escape(str(r.get("path") or ""))}</td></tr>'
        for r in rows
    )
    return f'<div class="scroll"><table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _comparisons(results: Sequence[Mapping[str, Any]]) -> str:
    from qbench.report.compare import COLUMNS, _cells, caption, title, verdict

    parts = []
    for result in results:
        rows = []
        for metric in result["metrics"]:
            cells = _cells(metric)
            word = verdict(metric)
            kind = (
                "win-a" if word.startswith("A better") else "win-b" if word.startswith("B better") else "tie"
            )
            rows.append(
                "<tr>"
                + "".join(f"<td>{escape(c)}</td>" for c in cells[:-1])
                + f'<td class="verdict {kind}">{escape(cells[-1])}</td></tr>'
            )
        head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
        table = (
            f'<table class="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows
            else ""
        )
        notes = "".join(f"<li>{escape(line)}</li>" for line in caption(result))
        parts.append(f"<h3>{escape(title(result))}</h3>{table}<ul class='notes'>{notes}</ul>")
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------------------
CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#d8dee4; --soft:#f6f8fa; --accent:#0072B2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: #0b3d5c; color: #fff; padding: 22px 32px 16px; }
header h1 { margin: 0; font-size: 24px; font-weight: 650; letter-spacing: .2px; }
header .meta { margin-top: 4px; color: #cfe3f1; font-size: 13px; }
nav { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px; }
nav a { color: #fff; text-decoration: none; font-size: 13px; padding: 3px 10px; border-radius: 12px;
  background: rgba(255,255,255,.14); }
nav a:hover { background: rgba(255,255,255,.28); }
main { max-width: 1240px; margin: 0 auto; padding: 8px 32px 48px; }
section { margin-top: 28px; }
h2 { font-size: 20px; margin: 0 0 6px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
h3 .sub { color: var(--muted); font-weight: 400; font-size: 13px; }
.legend, .note { color: var(--muted); font-size: 12.5px; margin: 6px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 8px 0; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; white-space: nowrap; }
th, td { padding: 6px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--soft); font-size: 12.5px; text-align: right; white-space: nowrap;
  border-bottom: 2px solid var(--line); }
thead th:first-child { text-align: left; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th:hover { background: #eaeef2; }
th[data-dir="desc"]::after { content: " ▼"; font-size: 10px; }
th[data-dir="asc"]::after { content: " ▲"; font-size: 10px; }
tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
td { text-align: right; white-space: nowrap; }
td .ci { display: block; font-size: 11px; color: var(--muted); }
tr.own th { border-left: 4px solid var(--accent); }
tr.own { background: #f1f8fd; }
tr.ref th, tr.ref td { color: #57606a; font-weight: 400; }
tr.ref th { border-left: 4px solid transparent; }
.tag { display: inline-block; font-size: 10.5px; font-weight: 600; color: #6e5600; background: #fff3c4;
  border: 1px solid #ead48a; border-radius: 8px; padding: 0 6px; margin-left: 6px; vertical-align: 1px; }
.plots { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 10px 0; }
figure svg { max-width: 100%; height: auto; background: #fff; }
.plots figure { border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 2px; }
table.runs td, table.runs th { text-align: left; }
table.runs td.path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px;
  white-space: normal; word-break: break-all; }
table.compare td { text-align: right; }
table.compare td:first-child, table.compare td.verdict { text-align: left; font-weight: 600; }
table.compare th:first-child, table.compare th:last-child { text-align: left; }
td.win-a { color: #0a6b3d; } td.win-b { color: #9a3412; } td.tie { color: var(--muted); }
ul.notes { color: var(--muted); font-size: 12.5px; margin: 4px 0 0; padding-left: 18px; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); margin-top: 36px;
  padding-top: 10px; }
code { background: var(--soft); padding: 0 4px; border-radius: 4px; }
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'desc' ? 'asc' : 'desc';
      table.querySelectorAll('thead th').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[col];
        return col === 0 ? cell.textContent.toLowerCase() : parseFloat(cell.dataset.v);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (col !== 0) {
          if (isNaN(x)) return isNaN(y) ? 0 : 1;
          if (isNaN(y)) return -1;
        }
        var c = x < y ? -1 : x > y ? 1 : 0;
        return dir === 'desc' ? -c : c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _page(title: str, rows: Sequence[Mapping[str, Any]], sections: Sequence[tuple[str, str, str]]) -> str:
    own = [r for r in rows if not r.get("reference")]
    published = len(rows) - len(own)
    tasks = sorted({str(r.get("task", "")).upper() for r in own})
    meta = f"{len(own)} run{'s' if len(own) != 1 else ''}"
    if tasks:
        meta += " · " + ", ".join(tasks)
    if published:
        meta += f" · {published} published reference rows"
    meta += f" · generated {time.strftime('%Y-%m-%d %H:%M')} by qbench {__version__}"
    nav = "".join(f'<a href="#{a}">{escape(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{a}"><h2>{escape(h)}</h2>{b}</section>' for a, h, b in sections)
    if not sections:
        body = '<p class="note">No runs to report.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><div class="meta">{escape(meta)}</div><nav>{nav}</nav></header>'
        f"<main>{body}<footer>Q-Bench metrics as in the official protocol: A1 accuracy over all items (micro "
        "average); A2 judge scores 0-2 per dimension pooled over images and rounds; A3 plain SRCC/PLCC of the "
        "predicted score against MOS (CGIQA-6K: the mean of its two halves). Intervals are 95%. "
        f"</footer></main><script>{SORT_JS}</script></body></html>\n"
    )

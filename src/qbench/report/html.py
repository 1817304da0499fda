"""The single-file HTML report: leaderboards in the official layouts, intervals, published rows, and plots.

Why one file with inline CSS and SVG: a report gets mailed, attached to an issue, opened on a laptop on a
train; it must render offline and look the same everywhere. There is no external URL and no JS library; a
few lines of inline JS only make the table headers sortable (the page reads fine without them).

The tables are the very boards of each task's report spec (the same cell text as markdown and the terminal),
with 95 % intervals as a small second line. Rows of your runs are highlighted; published reference rows are
grey with a "published" tag. Each task makes its own sections (``TaskReport.html``: tables and the plots that
say more than a number); this module assembles the page: comparisons first, the tasks' sections, the shares
of unreadable answers, and the runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from qbench.report import compare_text, svg
from qbench.report.html_blocks import cell_text, metric_lines, table
from qbench.report.rows import ReportRow, as_rows
from qbench.report.spec import HtmlContext, Section, TaskReport, rows_by_task, task_report, tasks_of
from qbench.store import Run, load_run
from qbench.version import __version__


# -- entry points ------------------------------------------------------------------------------------------
def to_html(
    rows: Sequence[ReportRow | Mapping[str, Any]],
    *,
    runs: Sequence[Run] | None = None,
    comparisons: Sequence[Mapping[str, Any]] | None = None,
    title: str = "qbench report",
) -> str:
    """The whole report as one HTML page.

    ``rows`` are report rows (:func:`qbench.report.rows.run_rows`, plus published rows). Per-sample plots
    read ``records.jsonl`` of the run at each row's ``path``; pass ``runs`` to reuse Run objects already
    loaded. ``comparisons`` are results of :func:`qbench.report.compare.compare_runs`, shown first.
    """
    report_rows = as_rows(rows)
    context = HtmlContext({str(run.path): run for run in runs or ()})
    sections: list[Section] = []
    if comparisons:
        sections.append(Section("compare", "Paired comparison", _comparisons(comparisons)))
    for task, own in rows_by_task(report_rows):
        sections += _task_sections(task_report(task), task, own, context)
    invalid = _invalid_rates(report_rows)
    if invalid:
        sections.append(Section("invalid", "Invalid answers", invalid))
    mine = [r for r in report_rows if not r.reference]
    if mine:
        sections.append(Section("runs", "Runs", _runs_table(mine)))
    return _page(title, report_rows, sections)


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


# -- sections ----------------------------------------------------------------------------------------------
def _task_sections(
    spec: TaskReport, task: str, rows: Sequence[ReportRow], context: HtmlContext
) -> list[Section]:
    """The task's own sections; for a task without them, its boards as plain tables."""
    if spec.html is not None:
        return spec.html(rows, context)
    body = "".join(table(board, _plain_lines(board, rows)) for board in spec.boards(rows))
    return [Section(task, task.upper(), body)]


def _plain_lines(board: Any, rows: Sequence[ReportRow]) -> list[Any]:
    """Lines of a board whose rows are ``rows`` in order (what ``metric_board`` makes), with no intervals."""
    return metric_lines(board, rows, [], percent=False) if len(board.rows) == len(rows) else []


def _row_label(row: ReportRow) -> str:
    return f"{row.model} ({row.dataset}{', ' + row.split if row.split else ''})"


def _invalid_rates(rows: Sequence[ReportRow]) -> str:
    """Unreadable answers and failed/unparsable judge rounds per run: a score is only as good as these."""
    items: list[tuple[str, float | None]] = []
    for row in rows:
        if row.reference:
            continue
        label, metrics = _row_label(row), row.metrics
        for key, what in task_report(row.task).unreadable:
            if key in metrics:
                items.append((f"{label}: {what}", metrics[key]))
    if not items:
        return ""
    notes = [spec.unreadable_note for spec in map(task_report, tasks_of(rows)) if spec.unreadable_note]
    out = [
        '<figure class="wide">'
        + svg.hbars(items, title="Share of answers that could not be read")
        + f"<figcaption>{' '.join(notes)}</figcaption></figure>"
    ]
    for task, own in rows_by_task(rows):
        figures = task_report(task).unreadable_figures
        out.append(figures(own) if figures is not None else "")
    return "".join(out)


# -- runs and comparisons ----------------------------------------------------------------------------------
def _runs_table(rows: Sequence[ReportRow]) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("Task", "Model", "Dataset", "Split", "n", "Status", "Run folder")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(cell_text(v))}</td>"
            for v in (str(r.task).upper(), r.model, r.dataset, r.split, r.n, r.status)
        )
        + f'<td class="path">{escape(str(r.path or ""))}</td></tr>'
        for r in rows
    )
    return f'<div class="scroll"><table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _comparisons(results: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for result in results:
        rows = []
        for metric in result["metrics"]:
            texts = compare_text.cells(metric)
            word = compare_text.verdict(metric)
            kind = (
                "win-a" if word.startswith("A better") else "win-b" if word.startswith("B better") else "tie"
            )
            rows.append(
                "<tr>"
                + "".join(f"<td>{escape(c)}</td>" for c in texts[:-1])
                + f'<td class="verdict {kind}">{escape(texts[-1])}</td></tr>'
            )
        head = "".join(f"<th>{escape(c)}</th>" for c in compare_text.COLUMNS)
        table_html = (
            f'<table class="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows
            else ""
        )
        notes = "".join(f"<li>{escape(line)}</li>" for line in compare_text.caption(result))
        parts.append(
            f"<h3>{escape(compare_text.title(result))}</h3>{table_html}<ul class='notes'>{notes}</ul>"
        )
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


def _page(title: str, rows: Sequence[ReportRow], sections: Sequence[Section]) -> str:
    own = [r for r in rows if not r.reference]
    published = len(rows) - len(own)
    tasks = sorted({str(r.task).upper() for r in own})
    meta = f"{len(own)} run{'s' if len(own) != 1 else ''}"
    if tasks:
        meta += " · " + ", ".join(tasks)
    if published:
        meta += f" · {published} published reference rows"
    meta += f" · generated {time.strftime('%Y-%m-%d %H:%M')} by qbench {__version__}"
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.heading)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{escape(s.heading)}</h2>{s.body}</section>' for s in sections
    )
    methods = [m for m in (task_report(task).method for task in tasks_of(rows)) if m]
    method = f"Q-Bench metrics as in the official protocol: {'; '.join(methods)}. " if methods else ""
    if not sections:
        body = '<p class="note">No runs to report.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><div class="meta">{escape(meta)}</div><nav>{nav}</nav></header>'
        f"<main>{body}<footer>{method}Intervals are 95%. "
        f"</footer></main><script>{SORT_JS}</script></body></html>\n"
    )

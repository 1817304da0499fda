"""Published numbers as report rows that leaderboards can show beside your own runs (``--references``).

Each task ships its own published rows (``TaskReport.references``: values copied from protocol.md, which
cites the papers and the official leaderboard files). Each row says ``reference=True`` and where it comes
from (``source``), so a leaderboard can mark it and nobody mistakes it for a run of theirs. Rows with only
an overall number carry only that metric; the other columns are absent rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench.report.rows import ReportRow
from qbench.report.spec import ReferenceQuery, rows_by_task, task_report, tasks_with

__all__ = ["ReferenceQuery", "reference_rows", "references_for"]


def reference_rows(
    task: str | None = None, *, split: str | None = None, pairs: bool | None = None, ppl: bool = False
) -> list[ReportRow]:
    """Published rows in the shape of :func:`qbench.report.rows.run_rows`, each marked ``reference=True``.

    ``task`` (None for every task that has published rows), ``split`` (None for all), ``pairs`` (True for
    pairs only, False for single images only), ``ppl`` (add the close-set pipeline's rows where a task has
    them). Rows use the dataset names of the task's importer and of :mod:`qbench.data.databases`.
    """
    query = ReferenceQuery(split=split, pairs=pairs, ppl=ppl)
    tasks = tasks_with("references") if task is None else [task]
    rows: list[ReportRow] = []
    for name in tasks:
        published = task_report(name).references
        if published is None:
            raise ValueError(f"no published numbers for task {name!r}")
        rows += published(query)
    return rows


def references_for(rows: Sequence[ReportRow]) -> list[ReportRow]:
    """The published rows that fit these runs: their tasks, and whatever else each task matches on."""
    return [ref for task, own in rows_by_task(rows) for ref in task_report(task).published_for(own)]

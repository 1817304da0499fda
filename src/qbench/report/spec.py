"""What a task tells the report layer: the neutral spec type, and how the report layer finds a task's spec.

``report/`` and the CLI know no task by name. Each task declares one :class:`TaskReport` (in its own module,
or a sibling ``tasks/<module>_report.py``) and registers it with the task registry::

    TASKS.register("a9", "mypkg.tasks:MyTask", "A9 ...", report="mypkg.tasks_report:REPORT")

(a plugin task may instead give its class an attribute ``report``). The report layer looks the spec up by the
run's task name with :func:`task_report`, lazily: a report of A3 runs never imports the A1 task. A task
without a spec still gets a plain board of its metrics (:func:`generic_report`).

This module imports no task, and the types here are all a task's report code needs from the report side
besides the building blocks (:mod:`qbench.report.leaderboard`, :mod:`qbench.report.html_blocks`,
:mod:`qbench.report.paired`, :mod:`qbench.report.svg`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypedDict

from qbench.errors import QBenchError
from qbench.report.leaderboard import Board, metric_board
from qbench.report.rows import ReportRow
from qbench.store import Run, load_run
from qbench.types import Record

log = logging.getLogger("qbench")

__all__ = [
    "ComparedMetric",
    "HtmlContext",
    "PairedComparison",
    "ReferenceQuery",
    "Section",
    "TaskReport",
    "boards",
    "generic_report",
    "rows_by_task",
    "task_report",
    "tasks_with",
]


class ComparedMetric(TypedDict):
    """One paired difference A - B (an item of ``compare_runs(...)["metrics"]``, JSON as it is)."""

    metric: str  # the metric key, e.g. "accuracy"
    label: str  # the column text, e.g. "Accuracy"
    a: float
    b: float
    diff: float
    ci: list[float]  # [low, high] of the difference
    p: float
    test: str  # the method, in words
    unit: str  # "percent" (shown x100) or "value"
    n: int  # items the difference rests on


class PairedComparison(Protocol):
    """A task's paired comparison of two runs' records, joined on sample id.

    ``pairs`` are (A's record, B's record) for the ids finished in both; ``notes`` collects caveats for the
    reader (append to it); everything drawn at random must come from ``seed``.
    """

    def __call__(
        self,
        pairs: Sequence[tuple[Record, Record]],
        dataset: str,
        notes: list[str],
        resamples: int,
        seed: int,
    ) -> list[ComparedMetric]: ...


@dataclass(frozen=True)
class ReferenceQuery:
    """Which published rows are wanted: ``split`` (None for all), ``pairs`` (True pairs only, False single
    images only, None both), ``ppl`` (also the close-set pipeline's rows, where a task has them)."""

    split: str | None = None
    pairs: bool | None = None
    ppl: bool = False


@dataclass(frozen=True)
class Section:
    """One section of the HTML report: anchor, heading, and its HTML body."""

    anchor: str
    heading: str
    body: str


@dataclass
class HtmlContext:
    """What HTML sections may read beyond the rows: the runs behind them (records for plots)."""

    runs: dict[str, Run] = field(default_factory=dict)

    def run(self, row: ReportRow) -> Run | None:
        """The run a row was made from (loaded once), or None for published rows and unreadable folders."""
        if not row.path or row.reference:
            return None
        if row.path not in self.runs:
            try:
                self.runs[row.path] = load_run(row.path)
            except (QBenchError, OSError):
                return None
        return self.runs[row.path]


@dataclass(frozen=True)
class TaskReport:
    """Everything the report layer needs from one task; only ``boards`` is required.

    - ``boards``: the task's leaderboards in the official layout from its rows (terminal, markdown, and the
      tables of the HTML page); rows may include published ones (``row.reference``).
    - ``headline``: the metric key that ranks models (best first, higher is better).
    - ``html``: the task's HTML sections (tables with intervals, plots); default: its boards as tables.
    - ``compare``: the paired comparison for ``qbench report A B --compare``.
    - ``submission``: writes one run's submission file ``(run, output) -> file written``; ``output`` is a
      file, a folder, or None for the run folder.
    - ``references``: the published rows that answer a :class:`ReferenceQuery`.
    - ``references_for``: the published rows that fit these rows of runs (``--references``); default: all.
    - ``unreadable``: ``(metric key, what)`` shares shown in the report's "Invalid answers" chart, and
      ``unreadable_note`` the sentence its caption says about them; ``unreadable_figures`` adds figures there.
    - ``method``: how its metrics are computed, one phrase for the report's footer.
    """

    boards: Callable[[Sequence[ReportRow]], list[Board]]
    headline: str | None = None
    html: Callable[[Sequence[ReportRow], HtmlContext], list[Section]] | None = None
    compare: PairedComparison | None = None
    submission: Callable[[Run, Path | None], Path] | None = None
    references: Callable[[ReferenceQuery], list[ReportRow]] | None = None
    references_for: Callable[[Sequence[ReportRow]], list[ReportRow]] | None = None
    unreadable: tuple[tuple[str, str], ...] = ()
    unreadable_note: str = ""
    unreadable_figures: Callable[[Sequence[ReportRow]], str] | None = None
    method: str = ""

    def published_for(self, rows: Sequence[ReportRow]) -> list[ReportRow]:
        """The published rows to show beside ``rows`` (runs of this task)."""
        if self.references_for is not None:
            return self.references_for(rows)
        return self.references(ReferenceQuery()) if self.references is not None else []


def generic_report(task: str) -> TaskReport:
    """A plain board of every metric, for a task that declares no report spec."""

    def boards(rows: Sequence[ReportRow]) -> list[Board]:
        keys = sorted({k for r in rows for k, v in r.metrics.items() if isinstance(v, (int, float))})
        keys = [k for k in keys if not k.endswith("_ci")]
        return [metric_board(task.upper(), [(k, k) for k in keys], rows, percent=False)]

    return TaskReport(boards=boards)


@functools.cache
def task_report(task: str) -> TaskReport:
    """The report spec the task ``task`` registered (see the module docstring); a generic one if none."""
    from qbench.registry import TASKS

    if task not in TASKS:
        log.warning("task %s is not known to this qbench: its runs get a plain board", task)
        return generic_report(task)
    spec = TASKS.hook(task, "report")
    if spec is None:
        return generic_report(task)
    if not isinstance(spec, TaskReport):
        raise QBenchError(f"task {task}: its report hook is a {type(spec).__name__}, not a TaskReport")
    return spec


def tasks_with(what: str) -> list[str]:
    """The registered tasks whose spec has ``what`` (e.g. "submission"), by name; for messages and lists."""
    from qbench.registry import TASKS

    out = []
    for name in TASKS.names():
        try:
            spec = task_report(name)
        except QBenchError:
            continue
        if getattr(spec, what, None):
            out.append(name)
    return out


def tasks_of(rows: Sequence[ReportRow]) -> list[str]:
    """The tasks of ``rows`` in report order (by name), each once."""
    return sorted({row.task for row in rows})


def rows_by_task(rows: Sequence[ReportRow]) -> list[tuple[str, list[ReportRow]]]:
    """``rows`` grouped by task, in report order, keeping their order within a task."""
    return [(task, [r for r in rows if r.task == task]) for task in tasks_of(rows)]


def boards(rows: Sequence[ReportRow]) -> list[Board]:
    """Every task's boards in the official layouts, task by task (by name): what renderers show."""
    return [board for task, own in rows_by_task(rows) for board in task_report(task).boards(own)]

"""A-Bench's report spec: its board (the category columns of :func:`qbench.tasks.abench.columns`), the paired
accuracy comparison (the A1 one: records say ``correct``) and the submission JSONL of the test answers.

A first version, registered so that the report layer finds A-Bench by name; its published rows
(:data:`qbench.tasks.abench.REFERENCE_ROWS`, by column label) are not wired in yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench.report.leaderboard import Board, metric_board
from qbench.report.rows import ReportRow
from qbench.report.spec import TaskReport
from qbench.tasks.abench import columns, write_run_submission
from qbench.tasks.perception_report import compare_a1

__all__ = ["REPORT", "abench_boards"]


def abench_boards(rows: Sequence[ReportRow]) -> list[Board]:
    """One board: the category leaves and part averages the runs have, then Overall (accuracy %)."""
    present = {key: None for row in rows for key in row.metrics}
    keys = columns(present)
    return [metric_board("A-Bench (accuracy %)", keys, rows, percent=True)]


REPORT = TaskReport(
    boards=abench_boards,
    headline="accuracy",
    compare=compare_a1,
    submission=write_run_submission,
    unreadable=(("invalid_rate", "unreadable answers"),),
    method="A-Bench accuracy over all items",
)

"""MICBench's report spec: accuracy by number of images and overall (:func:`qbench.tasks.micbench.columns`), the
paired accuracy comparison of A1 (records say ``correct``). MICBench publishes no leaderboard table to show."""

from __future__ import annotations

from collections.abc import Sequence

from qbench.report.leaderboard import Board, metric_board
from qbench.report.rows import ReportRow
from qbench.report.spec import TaskReport
from qbench.tasks.micbench import columns
from qbench.tasks.perception_report import compare_a1

__all__ = ["REPORT", "micbench_boards"]


def micbench_boards(rows: Sequence[ReportRow]) -> list[Board]:
    present = {key: None for row in rows for key in row.metrics}
    keys = [*columns(present), *([("invalid_rate", "Unreadable")] if "invalid_rate" in present else [])]
    return [metric_board("MICBench (accuracy %)", keys, rows, percent=True)]


REPORT = TaskReport(
    boards=micbench_boards,
    headline="accuracy",
    compare=compare_a1,
    unreadable=(("invalid_rate", "unreadable answers"),),
    unreadable_note="MICBench: replies no A1 rule could read (counted wrong).",
    method="MICBench accuracy by the A1 letter rules, overall and by number of images",
)

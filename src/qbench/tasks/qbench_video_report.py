"""Q-Bench-Video's report spec: the README's columns (question types, concerns, Overall) and the contexts a run
has (:func:`qbench.tasks.qbench_video.columns`), and the README's published rows, marked as published.

No paired comparison: an item scores 0/1 (multiple choice) or a judged mean in [0, 1] (open-ended), and the
A1 comparison would drop the open-ended half.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbench.report.leaderboard import Board, metric_board
from qbench.report.rows import ReportRow
from qbench.report.spec import ReferenceQuery, TaskReport
from qbench.tasks.qbench_video import REFERENCE_ROWS, REFERENCE_SOURCE, columns

__all__ = ["REPORT", "reference_rows", "video_boards"]


def video_boards(rows: Sequence[ReportRow]) -> list[Board]:
    present = {key: None for row in rows for key in row.metrics}
    keys = [*columns(present), *([("invalid_rate", "Unreadable")] if "invalid_rate" in present else [])]
    return [
        metric_board(
            "Q-Bench-Video (score %: multiple choice 0/1, open-ended mean s/2)", keys, rows, percent=True
        )
    ]


def reference_rows(query: ReferenceQuery) -> list[ReportRow]:
    """The README table's rows (open-ended "/" left out)."""
    return [
        ReportRow(
            task="qbench-video",
            model=model,
            dataset="Q_Bench_Video",
            metrics={k: v for k, v in values.items() if v is not None},
            status="reference",
            reference=True,
            source=REFERENCE_SOURCE,
        )
        for model, values in REFERENCE_ROWS.items()
    ]


REPORT = TaskReport(
    boards=video_boards,
    headline="accuracy",
    references=reference_rows,
    unreadable=(
        ("invalid_rate", "unreadable answers"),
        ("judged/invalid_round_rate", "unreadable judge rounds"),
    ),
    unreadable_note="Q-Bench-Video: unreadable multiple-choice replies (wrong) and judge rounds without a score.",
    method="Q-Bench-Video: A1 letter rules; open-ended judged 5 rounds, mean of s/2 over the valid rounds",
)

"""``qbench report RUN --format submission``: a run's replies in the form the benchmark's authors score.

The test answers (and A2's golden descriptions) are hidden; the authors score submitted replies themselves.
Each task that has such a form writes it with its own writer (``TaskReport.submission``, found by the run
manifest's ``task``); this module dispatches, and holds what the writers share: the records in the data
file's order, and where a file goes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from qbench.errors import UsageError
from qbench.report.spec import task_report, tasks_with
from qbench.store import Run, slug
from qbench.types import Record

log = logging.getLogger("qbench")

__all__ = ["ordered_records", "submission_name", "submission_target", "write_submissions"]


def ordered_records(run: Run) -> list[Record]:
    """The run's latest records in the data file's order.

    Runner records carry their dataset position as ``index`` (so merged shards sort back); imported ones
    have ids that are item positions. Otherwise the order of first appearance is kept.
    """
    records = list(run.records().values())
    if records and all(isinstance(r.output.get("index"), int) for r in records):
        records.sort(key=lambda r: r.output["index"])
    elif records and all(r.id.isdigit() for r in records):
        records.sort(key=lambda r: int(r.id))
    return records


def submission_name(run: Run) -> str:
    """``<model>_<dataset>_<split>_<task>.json``: distinct for the runs one would submit together."""
    m = run.manifest
    parts = [slug(m.model), slug(m.dataset)]
    if m.split:
        parts.append(m.split)
    return "_".join([*parts, m.task]) + ".json"


def submission_target(run: Run, output: str | Path | None, name: str) -> Path:
    """Where a writer puts ``run``'s file: ``output`` is a file, a folder (existing, or ending in ``/``) to
    put ``name`` in, or None for the run folder. The folder is created."""
    if output is None:
        target = run.path / name
    else:
        given = Path(output)
        folder = given.is_dir() or str(output).endswith(("/", "\\"))
        target = given / name if folder else given
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_submissions(runs: Sequence[Run], output: Path | None) -> list[Path]:
    """One submission file per run, by the writer of its task.

    ``output``: None puts each file in its run folder; a folder (existing, or several runs) gets them all
    under their default names; a file name is taken as it is (one run only).
    """
    for run in runs:
        task = run.manifest.task
        if task_report(task).submission is None:
            raise UsageError(
                f"{run.path}: no submission form for task {task}",
                hint=f"submission files exist for: {', '.join(tasks_with('submission'))}",
            )
    if output is not None and len(runs) > 1:
        if output.suffix.lower() in {".json", ".jsonl"} and not output.is_dir():
            raise UsageError(f"{len(runs)} runs give {len(runs)} files: name a folder with -o, not {output}")
        output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for run in runs:
        writer = task_report(run.manifest.task).submission
        assert writer is not None  # checked above
        target = writer(run, output)
        if target in written:
            log.warning(
                "%s: written again by %s (two runs of the same model, data and split)", target, run.path
            )
        written.append(target)
    return written

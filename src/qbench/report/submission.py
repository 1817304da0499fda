"""``qbench report RUN --format submission``: a run's replies in the form the benchmark's authors score.

The test answers are hidden; the authors score submitted replies themselves (protocol.md 1.5, "json with the
model response per item"). The form is the one their own script writes (``model_vqa_qbench.py``): the
original items, in their order, each with the model's raw ``response`` added, as a JSON list:

    {"type", "concern", "question", "img_path", "candidates", "response"}

plus ``correct_ans`` where the run knows the answer (a dev-split run, for a self-check). A run of the
close-set options mode (protocol 1.7) has no free-text reply; its chosen option is written as the reply
``"B. Low"``, which is how a reply naming that option reads to any grader. One file per run, by default in
the run folder (as the A2 writer does).

Each task has its own writer in :data:`WRITERS` (dispatch on the run manifest's ``task``): A1 here, A2 in
:mod:`qbench.report.submission_a2`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qbench.data.jsonfile import write_json_atomic
from qbench.errors import DataError, UsageError
from qbench.store import Run, slug
from qbench.tasks.prompts import OPTION_LETTERS
from qbench.types import Record

log = logging.getLogger("qbench")

__all__ = [
    "WRITERS",
    "a1_items",
    "ordered_records",
    "submission_name",
    "write_a1_submission",
    "write_submissions",
]


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


def a1_items(run: Run) -> list[dict[str, Any]]:
    """A1: each original item with the model's ``response`` (protocol 1.5)."""
    items = []
    for record in ordered_records(run):
        if not record.ok:
            raise DataError(f"has no reply ({record.error})", file=run.path, item=record.id)
        fields = record.output
        options = list(fields.get("options") or [])
        if "response" in fields:
            response = str(fields["response"] or "")
        else:
            letter = fields.get("letter")
            response = f"{letter}. {options[OPTION_LETTERS.index(letter)]}" if letter else ""
        item: dict[str, Any] = {
            "type": fields.get("qtype"),
            "concern": fields.get("concern"),
            "question": fields.get("question"),
            "img_path": fields.get("img_path", ""),
            "candidates": options,
        }
        answer = fields.get("answer")
        if answer:
            item["correct_ans"] = options[OPTION_LETTERS.index(answer)]
        item["response"] = response
        items.append(item)
    return items


def submission_name(run: Run) -> str:
    """``<model>_<dataset>_<split>_a1.json``: distinct for the runs one would submit together."""
    m = run.manifest
    parts = [slug(str(m.get("model"))), slug(str(m.get("dataset")))]
    if m.get("split"):
        parts.append(str(m["split"]))
    return "_".join([*parts, str(m.get("task"))]) + ".json"


def write_a1_submission(run: Run, output: str | Path | None = None) -> Path:
    """Write an A1 run's submission file; ``output`` is a file, a folder, or None for the run folder."""
    if not run.complete:
        raise DataError(f"run is not complete (status: {run.status}); finish it first", file=run.path)
    items = a1_items(run)
    if output is None:
        target = run.path / submission_name(run)
    else:
        given = Path(output)
        folder = given.is_dir() or str(output).endswith(("/", "\\"))
        target = given / submission_name(run) if folder else given
    target.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(target, items)
    return target


#: task name -> "module:function" writing one run's submission: ``(run, output) -> the file written``.
WRITERS: dict[str, str] = {
    "a1": "qbench.report.submission:write_a1_submission",
    "a2": "qbench.report.submission_a2:write_a2_submission",
    "abench": "qbench.tasks.abench:write_run_submission",
}


def _writer(task: str) -> Callable[[Run, Path | None], Path]:
    module, _, name = WRITERS[task].partition(":")
    return getattr(importlib.import_module(module), name)


def write_submissions(runs: Sequence[Run], output: Path | None) -> list[Path]:
    """One submission file per run, by the writer of its task.

    ``output``: None puts each file in its run folder; a folder (existing, or several runs) gets them all
    under their default names; a file name is taken as it is (one run only).
    """
    for run in runs:
        task = str(run.manifest.get("task"))
        if task not in WRITERS:
            raise UsageError(
                f"{run.path}: no submission form for task {task}",
                hint=f"submission files exist for: {', '.join(sorted(WRITERS))}",
            )
    if output is not None and len(runs) > 1:
        if output.suffix.lower() in {".json", ".jsonl"} and not output.is_dir():
            raise UsageError(f"{len(runs)} runs give {len(runs)} files: name a folder with -o, not {output}")
        output.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for run in runs:
        target = _writer(str(run.manifest["task"]))(run, output)
        if target in written:
            log.warning(
                "%s: written again by %s (two runs of the same model, data and split)", target, run.path
            )
        written.append(target)
    return written

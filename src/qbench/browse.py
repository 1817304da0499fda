"""``qbench runs`` and ``qbench show``: what is in a runs folder, and what one run saw, sample by sample.

``runs`` lists every run folder under a path (task, model, dataset, split, status, done/total, created,
short fingerprint, derived_from), incomplete and unusable ones included: that is where a user looks first
when a report skips a run. ``show`` prints one run's header and its samples, filtered to the ones that need
a look: ``--failed`` (samples whose model call failed), ``--unreadable`` (A1 replies no rule could read,
with the reply and the deciding rule; judge rounds without a verdict), ``--sample ID`` (one record whole).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbench.checks import short, task_hook
from qbench.errors import DataError
from qbench.store import Run, find_runs, load_run
from qbench.types import Record

SNIPPET = 70


@dataclass(frozen=True)
class RunLine:
    """One line of ``qbench runs``."""

    task: str
    model: str
    dataset: str
    split: str
    status: str
    done: int
    total: int
    created: str
    fingerprint: str
    derived_from: str
    path: str

    @classmethod
    def of(cls, run: Run) -> RunLine:
        m = run.manifest
        records = run.records()
        derived = m.derived_from or ""
        return cls(
            task=str(m.task or ""),
            model=str(m.model or ""),
            dataset=str(m.dataset or ""),
            split=str(m.split or ""),
            status=run.status,
            done=sum(r.ok for r in records.values()),
            total=int(m.n or 0),
            created=str(m.created or ""),
            fingerprint=str(m.fingerprint or run.path.name)[:8],
            derived_from=Path(derived).name[:8] if derived else "",
            path=str(run.path),
        )


def run_lines(paths: Sequence[Path]) -> list[RunLine]:
    """Every run under ``paths`` (any status), oldest first."""
    runs = find_runs(paths)
    if not runs:
        raise DataError("no qbench runs found here", file=", ".join(map(str, paths)))
    return sorted((RunLine.of(r) for r in runs), key=lambda line: (line.created, line.path))


def runs_table(lines: Sequence[RunLine]) -> Any:
    from rich.table import Table

    table = Table(title="runs", title_justify="left")
    for column in (
        "task",
        "model",
        "dataset",
        "split",
        "status",
        "done/total",
        "created",
        "fp",
        "derived_from",
    ):
        table.add_column(column, justify="right" if column == "done/total" else "left")
    for line in lines:
        table.add_row(
            line.task,
            line.model,
            line.dataset,
            line.split,
            line.status,
            f"{line.done}/{line.total}",
            line.created,
            line.fingerprint,
            line.derived_from,
        )
    return table


# -- show ----------------------------------------------------------------------------------------------
def unreadable(record: Record, task: str | None = None) -> bool:
    """A record that needs a look, as its task says (its ``unreadable_record`` hook, :mod:`qbench.checks`):
    e.g. a reply no rule could read, or a judge round that gave no verdict. Without the hook: none."""
    hook = task_hook(task, "unreadable_record")
    return bool(hook(record)) if hook is not None else False


def select_records(
    run: Run, *, failed: bool = False, unreadable_only: bool = False, sample: str | None = None
) -> list[Record]:
    """The run's latest records in file order, filtered; ``sample`` must name a sample of the run."""
    records = list(run.records().values())
    if sample is not None:
        chosen = [r for r in records if r.id == sample]
        if not chosen:
            raise DataError(f"no sample '{sample}' in this run ({len(records)} samples)", file=run.path)
        return chosen
    if failed:
        records = [r for r in records if not r.ok]
    if unreadable_only:
        records = [r for r in records if r.ok and unreadable(r, run.manifest.task)]
    return records


def header(run: Run) -> list[str]:
    m = run.manifest
    lines = [
        f"run: {run.path}",
        f"{m.task} {m.model} on {m.dataset}"
        + (f" ({m.split})" if m.split else "")
        + f": status {run.status}, {m.n} samples",
    ]
    if m.error:
        lines.append(f"error: {m.error}")
    if m.derived_from:
        lines.append(f"derived from: {m.derived_from}")
    return lines


def describe(record: Record, task: str | None = None) -> str:
    """One line per record, with what decided its outcome (the task's ``describe_record`` hook); a record
    whose task does not describe it shows its output as JSON."""
    if not record.ok:
        return f"{record.id}: FAILED {record.error}"
    hook = task_hook(task, "describe_record")
    text = hook(record) if hook is not None else None
    if text is None:
        text = short(json.dumps(dict(record.output), default=str), SNIPPET)
    return f"{record.id}: {text}"


def show_lines(
    path: Path,
    *,
    failed: bool = False,
    unreadable_only: bool = False,
    sample: str | None = None,
    limit: int | None = None,
) -> Iterable[str]:
    """The text of ``qbench show``: header, then one line per selected record (or one record whole)."""
    run = load_run(path)
    yield from header(run)
    records = select_records(run, failed=failed, unreadable_only=unreadable_only, sample=sample)
    if sample is not None:
        yield json.dumps(records[0].to_json(), indent=2, ensure_ascii=False, default=str)
        return
    what = "failed " if failed else "unreadable " if unreadable_only else ""
    yield f"{len(records)} {what}samples" + (f" (first {limit})" if limit and len(records) > limit else "")
    for record in records[:limit] if limit else records:
        yield describe(record, run.manifest.task)

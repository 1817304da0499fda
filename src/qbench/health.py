"""Is a finished run usable, suspect, or fine? One verdict for every path that ends a run.

A run whose numbers mean nothing must not end as a success: no reply could be read (A1), no judge round
gave a score (A1 with ``--judge``, A2), or no sample was selected at all. Such a run is recorded with status
``unusable``, its metrics are still written (they show what happened), and the command exits 3 with one line.
A run where more than :data:`SUSPECT_RATE` of the replies or judge rounds failed is kept, with a warning that
gives the rate and the commonest reasons, so a user looks before trusting it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qbench.checks import Tally, task_hook
from qbench.errors import QBenchError
from qbench.types import Record

log = logging.getLogger("qbench")

#: Above this share of unreadable replies or failed judge rounds a run is suspect and says so.
SUSPECT_RATE = 0.10
UNUSABLE_EXIT = 3


class UnusableRun(QBenchError):
    """A run that finished but measured nothing (exit code 3); its folder says ``unusable``."""

    exit_code = UNUSABLE_EXIT


@dataclass
class Health:
    """The verdict on a finished run: ``unusable`` is the reason it measured nothing, else None."""

    unusable: str | None = None
    warnings: list[str] = field(default_factory=list)

    def report(self) -> None:
        """Log the warnings (stderr); the caller raises :class:`UnusableRun` for an unusable run."""
        for warning in self.warnings:
            log.warning("%s", warning)


def no_samples(selected: int, total: int, limit: int | None, shard: str | None) -> str:
    """The reason for an empty selection, naming what emptied it."""
    how = ", ".join(
        p for p in (f"--limit {limit}" if limit else "", f"--shard {shard}" if shard else "") if p
    )
    return f"no samples selected: the data has {total} item(s), {selected} left after {how or 'selection'}"


def check(task: str, records: Sequence[Record], metrics: Mapping[str, Any]) -> Health:
    """The verdict for ``records`` of ``task`` and the metrics computed from them: the task counts what failed
    (its ``health_counts`` hook, :mod:`qbench.checks`); a task that counts nothing is judged on its finished
    samples alone."""
    ok = [r for r in records if r.ok]
    if not ok:
        return Health(unusable="no finished samples")
    health = Health()
    counts = task_hook(task, "health_counts")
    for tally in counts(ok, metrics) if counts is not None else ():
        _verdict(tally, health)
    return health


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.1f}%)"


def _commonest(counter: Counter[str], k: int = 3) -> str:
    return "; ".join(f"{name} x{count}" for name, count in counter.most_common(k))


def _verdict(tally: Tally, health: Health) -> None:
    """Unusable when all of the tally failed (the first such reason is kept), suspect above the rate."""
    if not tally.total or not tally.failed:
        return
    share = _share(tally.failed, tally.total)
    if tally.kind == "answers":
        reasons = f"commonest rules: {_commonest(tally.reasons)}"
        if tally.replies:
            reasons += f"; commonest replies: {_commonest(tally.replies, 2)}"
        unusable = f"no answer could be read: {share} unreadable ({reasons})"
        suspect = f"suspect run: {share} answers unreadable ({reasons})"
    else:
        what = "scores are not finite numbers" if tally.kind == "scores" else "judge rounds gave no verdict"
        text = f"{share} {what} (commonest: {_commonest(tally.reasons)})"
        none = "no score could be computed" if tally.kind == "scores" else "no judge round could be read"
        unusable = f"{none}: {text}"
        suspect = f"suspect run: {text}"
    if tally.failed == tally.total:
        health.unusable = health.unusable or unusable
    elif tally.failed / tally.total > SUSPECT_RATE:
        health.warnings.append(suspect)


def raise_if_unusable(runs: Sequence[Any]) -> None:
    """After writing ``runs`` (imports, re-scorings, merges): exit 3 naming each run that measured nothing."""
    bad = [run for run in runs if run.manifest.status == "unusable"]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UnusableRun(f"unusable run: {first.manifest.error}; recorded in {first.path}{more}")

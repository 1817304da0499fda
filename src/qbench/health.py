"""Is a finished run usable, suspect, or fine? One verdict for every path that ends a run.

A run whose numbers mean nothing must not end as a success: no reply could be read (A1), no judge round
gave a score (A1 with ``--judge``, A2), or no sample was selected at all. Such a run is recorded with status
``unusable``, its metrics are still written (they show what happened), and the command exits 3 with one line.
A run where more than :data:`SUSPECT_RATE` of the replies or judge rounds failed is kept, with a warning that
gives the rate and the commonest reasons, so a user looks before trusting it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

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
    """The verdict for ``records`` of ``task`` (``a1``, ``a2``, ``a3``) and the metrics computed from them."""
    ok = [r for r in records if r.ok]
    if not ok:
        return Health(unusable="no finished samples")
    health = Health()
    if task == "a2":
        from qbench.tasks.description import DescriptionOutput

        _a2_judge([DescriptionOutput.from_json(r.output) for r in ok], metrics, health)
    elif task == "a3":
        from qbench.tasks.assessment import AssessmentOutput

        _a3_scores([AssessmentOutput.from_json(r.output) for r in ok], health)
    elif task in ("a1", "abench", "micbench", "qbench-video"):
        # choice records all have A1's letter, rule, reply and judge verdict (old A1 ``judge`` migrated)
        from qbench.tasks.perception import PerceptionOutput

        outputs = [PerceptionOutput.from_json(r.output) for r in ok]
        if task == "qbench-video":  # letters of the multiple-choice items, judge rounds of open-ended ones
            mcq = [f for f in outputs if str(f.qtype) != "open-ended"]
            if mcq:
                _a1_replies(mcq, health)
        else:
            _a1_replies(outputs, health)
        _a1_judge(outputs, health)
    return health


def _a3_scores(ok: Sequence[Any], health: Health) -> None:
    bad = [f for f in ok if not _finite(f.score)]
    if not bad:
        return
    reasons = Counter(str(f.score_form or "not a number") for f in bad)
    text = f"{_share(len(bad), len(ok))} scores are not finite numbers (commonest: {_commonest(reasons)})"
    if len(bad) == len(ok):
        health.unusable = f"no score could be computed: {text}"
    elif len(bad) / len(ok) > SUSPECT_RATE:
        health.warnings.append(f"suspect run: {text}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.1f}%)"


def _commonest(counter: Counter[str], k: int = 3) -> str:
    return "; ".join(f"{name} x{count}" for name, count in counter.most_common(k))


def _snippet(text: Any, width: int = 60) -> str:
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= width else flat[: width - 3] + "...")


def _a1_replies(ok: Sequence[Any], health: Health) -> None:
    unreadable = [f for f in ok if f.letter is None]
    if not unreadable:
        return
    rules = Counter(str(f.rule) for f in unreadable)
    replies = Counter(_snippet(f.response) for f in unreadable if f.response is not None)
    reasons = f"commonest rules: {_commonest(rules)}"
    if replies:
        reasons += f"; commonest replies: {_commonest(replies, 2)}"
    if len(unreadable) == len(ok):
        health.unusable = (
            f"no answer could be read: {_share(len(unreadable), len(ok))} unreadable ({reasons})"
        )
    elif len(unreadable) / len(ok) > SUSPECT_RATE:
        health.warnings.append(
            f"suspect run: {_share(len(unreadable), len(ok))} answers unreadable ({reasons})"
        )


def _a1_judge(ok: Sequence[Any], health: Health) -> None:
    rounds = [
        (v, reply)
        for f in ok
        if f.verdict is not None
        for q in f.verdict.replies
        for v, reply in zip_longest(f.verdict.scores.get(q) or [], f.verdict.replies[q])
    ]
    if not rounds:
        return
    failed = [reply for v, reply in rounds if v is None]
    _judge_verdict(len(failed), len(rounds), Counter(_reply_reason(r) for r in failed), health)


def _a2_judge(ok: Sequence[Any], metrics: Mapping[str, Any], health: Health) -> None:
    total = int(metrics.get("judge_rounds_total") or 0)
    if not total:
        return
    failed = int(metrics.get("judge_failed_calls") or 0) + int(metrics.get("judge_unparsable") or 0)
    reasons: Counter[str] = Counter()
    for f in ok:
        verdict = f.verdict
        if verdict is None:
            continue
        for dimension, replies in verdict.replies.items():
            scores = verdict.scores.get(dimension, [])
            for reply, score in zip(replies, scores, strict=False):
                if score is None:
                    reasons[_reply_reason(reply)] += 1
    _judge_verdict(failed, total, reasons, health)


def _reply_reason(reply: Any) -> str:
    return "call failed" if reply is None else f"no 'Score: k' in {_snippet(reply, 40)}"


def _judge_verdict(failed: int, total: int, reasons: Counter[str], health: Health) -> None:
    if not failed:
        return
    text = f"{_share(failed, total)} judge rounds gave no verdict (commonest: {_commonest(reasons)})"
    if failed == total:
        health.unusable = health.unusable or f"no judge round could be read: {text}"
    elif failed / total > SUSPECT_RATE:
        health.warnings.append(f"suspect run: {text}")


def raise_if_unusable(runs: Sequence[Any]) -> None:
    """After writing ``runs`` (imports, re-scorings, merges): exit 3 naming each run that measured nothing."""
    bad = [run for run in runs if run.manifest.status == "unusable"]
    if bad:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UnusableRun(f"unusable run: {first.manifest.error}; recorded in {first.path}{more}")

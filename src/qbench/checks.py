"""What a task tells the run's health check and ``qbench show``: the neutral types, helpers and the look-up.

:mod:`qbench.health` and :mod:`qbench.browse` know no task by name. A task declares, as attributes of its
class (or hooks registered with it, like ``report=``), up to three pure functions of its stored records:

- ``health_counts(records, metrics) -> [Tally, ...]``: what failed in the finished ``records``, counted
  (unreadable answers, judge rounds without a verdict, scores that are not numbers), each with its reasons;
  the health check turns these into the run's verdict and its warnings;
- ``describe_record(record) -> str | None``: what decided one finished record's outcome, for ``qbench show``
  (the sample id is put in front), or None for the plain JSON line;
- ``unreadable_record(record) -> bool``: does the record need a look (``qbench show --unreadable``).

A task without them gets no counts, the plain JSON line, and no unreadable records. This module imports no task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Literal

from qbench.errors import QBenchError

__all__ = [
    "Tally",
    "answers_tally",
    "choice_line",
    "judge_tally",
    "letter_line",
    "letter_unreadable",
    "quoted",
    "scores_tally",
    "short",
    "task_hook",
    "verdict_unreadable",
    "verdicts_tally",
]

Kind = Literal["answers", "judge rounds", "scores"]


@dataclass(frozen=True)
class Tally:
    """``failed`` of ``total`` of one ``kind``: unreadable answers (``reasons`` are the deciding rules,
    ``replies`` the unreadable replies), judge rounds without a verdict, or scores that are not numbers
    (``reasons``: why each one failed)."""

    kind: Kind
    failed: int
    total: int
    reasons: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)


def answers_tally(unreadable: Iterable[tuple[Any, Any]], total: int) -> Tally:
    """The (rule, reply) of each answer no rule could read, of ``total`` answers (a reply may be None)."""
    found = list(unreadable)
    return Tally(
        "answers",
        len(found),
        total,
        Counter(str(rule) for rule, _ in found),
        Counter(quoted(reply) for _, reply in found if reply is not None),
    )


def judge_tally(failed_replies: Iterable[Any], total: int, failed: int | None = None) -> Tally:
    """Judge rounds without a verdict, of ``total``: their replies (None for a failed call) give the reasons;
    ``failed`` when the count comes from elsewhere (the run's metrics) rather than from the replies."""
    replies = list(failed_replies)
    reasons = Counter(
        "call failed" if reply is None else f"no 'Score: k' in {quoted(reply, 40)}" for reply in replies
    )
    return Tally("judge rounds", len(replies) if failed is None else failed, total, reasons)


def verdicts_tally(verdicts: Iterable[Any]) -> Tally:
    """The judge rounds of ``verdicts`` (:class:`qbench.judging.Verdict` or None): a round without a score,
    or a score without its reply, has no verdict."""
    rounds = [
        (score, reply)
        for verdict in verdicts
        if verdict is not None
        for question in verdict.replies
        for score, reply in zip_longest(verdict.scores.get(question) or [], verdict.replies[question])
    ]
    return judge_tally([reply for score, reply in rounds if score is None], len(rounds))


def verdict_unreadable(verdict: Any) -> bool:
    """A judge verdict (or None) with a round that gave no score."""
    return verdict is not None and any(s is None for s in verdict.all_scores())


def choice_line(letter: Any, rule: Any, correct: Any, reply: Any, verdict: Any = None) -> str:
    """``qbench show``'s line for a letter read (or not) from a reply: the letter, the deciding rule, right
    or wrong, the reply, and the judge's votes with the first reply that gave none."""
    outcome = "right" if correct else "wrong" if correct is False else "no answer key"
    text = f"{letter or '-'} ({rule}) {outcome}"
    if reply is not None:
        text += f"; reply: {short(reply)!r}"
    if verdict is not None:
        replies = [r for rs in verdict.replies.values() for r in rs]
        votes = verdict.all_scores()
        text += f"; judge votes {votes}"
        failed = [r for r, v in zip(replies, votes) if v is None]
        if failed:
            text += f", unreadable judge reply: {short(failed[0], 40)!r}"
    return text


def letter_line(output: Any) -> str | None:
    """:func:`choice_line` of a multiple-choice output (``letter``, ``rule``, ``correct``, ``response`` and, if
    judged, ``verdict``); None for an item no rule read (an open-ended one)."""
    if output.rule is None:
        return None
    verdict = getattr(output, "verdict", None)
    return choice_line(output.letter, output.rule, output.correct, output.response, verdict)


def letter_unreadable(output: Any) -> bool:
    """A multiple-choice output whose reply no rule could read, or whose judge verdict has a round without a
    score."""
    return (output.rule is not None and output.letter is None) or verdict_unreadable(
        getattr(output, "verdict", None)
    )


def scores_tally(failed_forms: Iterable[Any], total: int) -> Tally:
    """Scores that are not finite numbers, of ``total``: the form each one was computed in, if known."""
    forms = [str(form or "not a number") for form in failed_forms]
    return Tally("scores", len(forms), total, Counter(forms))


def quoted(text: Any, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` with ``...``, quoted (as the health check's warnings show it)."""
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= width else flat[: width - 3] + "...")


def short(text: Any, width: int = 70) -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis (as ``qbench show`` shows it)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def task_hook(task: str | None, key: str) -> Callable[..., Any] | None:
    """The ``key`` hook of ``task`` (see the module docstring), or None: no task, a task not known here, a
    plugin that cannot be loaded, or a task that does not declare it (the caller's default applies)."""
    from qbench.registry import TASKS

    if not task or task not in TASKS:
        return None
    try:
        hook = TASKS.hook(task, key)
    except QBenchError:
        return None
    return hook if callable(hook) else None

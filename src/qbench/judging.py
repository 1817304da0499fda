"""Judging with an LLM: one verdict shape, and the one driver of rounds, cache and concurrency for A1 and A2.

A task that can be judged stays pure (:class:`Judgeable`): it says which questions to ask about a record
(OpenAI-style chat messages per question), how a reply is read, and where a verdict goes in its output. This
module does the effects: it decides which records still need this judge, sends every question for several
sampled rounds (``greedy=False``; round ``r`` of a request is cached under its own key, so a resumed or
repeated judging reuses exactly the replies it already paid for), and hands back one :class:`Verdict` per
record. A1 (the optional GPT-assisted judge, protocol.md 8.5) asks one question, ``result``; A2 (8.6) asks
three, one per dimension.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qbench.errors import QBenchError, RunError, StopRun, UsageError
from qbench.types import Record, Request, Text

if TYPE_CHECKING:
    from qbench.cache import ResponseCache

log = logging.getLogger("qbench")

JUDGE_MAX_NEW_TOKENS = 256


# -- the verdict shape -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeIdentity:
    """What makes two judgings comparable: the judge model (name, fingerprint), the prompts' version, rounds."""

    name: str
    fingerprint: str
    version: str
    rounds: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "version": self.version,
            "rounds": self.rounds,
        }

    def keyed(self) -> dict[str, Any]:
        """The ``{key, model, version, rounds}`` form in which A1 (and Q-Bench-Video) manifests name their judge:
        it is part of their fingerprints, so it stays as it was."""
        return {
            "key": f"{self.fingerprint}:{self.version}:{self.rounds}",
            "model": self.name,
            "version": self.version,
            "rounds": self.rounds,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> JudgeIdentity:
        """Also reads the forms written before one verdict shape: A1's ``{key, model, version, rounds}`` (the key
        is ``fingerprint:version:rounds``) and A2's ``{name, fingerprint, prompt_version, rounds}``."""
        if "key" in obj and "fingerprint" not in obj:
            fingerprint = str(obj["key"]).split(":", 1)[0]
            name = obj.get("model", obj.get("name", ""))
        else:
            fingerprint = str(obj.get("fingerprint", ""))
            name = obj.get("name", obj.get("model", ""))
        version = obj.get("version", obj.get("prompt_version", ""))
        return _identity(str(name), fingerprint, str(version), int(obj.get("rounds", 0) or 0))


@functools.lru_cache(maxsize=256)
def _identity(name: str, fingerprint: str, version: str, rounds: int) -> JudgeIdentity:
    """One shared (frozen) identity per judge: a run's thousands of verdicts name the same few judges."""
    return JudgeIdentity(name, fingerprint, version, rounds)


@dataclass(frozen=True)
class Verdict:
    """One judge's opinion of one record: the raw reply of every round per question and the parsed scores.

    ``replies[q][r]`` is ``None`` for a call that failed (asked again next time); ``scores[q][r]`` is ``None``
    for a reply that could not be read (dropped and counted, never guessed). Raw replies are kept so that a
    parser fix can re-read them (:meth:`reparsed`). ``judge`` is ``None`` only for hand-made partial records.
    """

    judge: JudgeIdentity | None
    replies: dict[str, list[str | None]] = field(default_factory=dict)
    scores: dict[str, list[int | None]] = field(default_factory=dict)

    def complete(self, identity: JudgeIdentity) -> bool:
        """True when this is ``identity``'s verdict with every round of every question answered."""
        return (
            self.judge == identity
            and bool(self.replies)
            and all(len(r) == identity.rounds and None not in r for r in self.replies.values())
        )

    def reparsed(self, parse: Callable[[str], int | None]) -> Verdict:
        """The same replies read again (after a parser fix)."""
        scores = {q: [None if text is None else parse(text) for text in rs] for q, rs in self.replies.items()}
        return Verdict(self.judge, self.replies, scores)

    def all_scores(self) -> list[int | None]:
        return [s for scores in self.scores.values() for s in scores]

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": None if self.judge is None else self.judge.to_json(),
            "replies": {q: list(r) for q, r in self.replies.items()},
            "scores": {q: list(s) for q, s in self.scores.items()},
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], *, question: str = "result") -> Verdict:
        """Also reads the old shapes: A1's ``judge`` (flat ``replies``/``verdicts`` lists and the identity
        beside them, read under ``question``) and A2's ``judgement`` (the same as this one but for the
        identity's ``prompt_version``)."""
        if isinstance(obj.get("verdicts"), list) or isinstance(obj.get("replies"), list):  # old A1 form
            replies = list(obj.get("replies") or [])
            verdicts = list(obj.get("verdicts", obj.get("scores")) or [])  # Q-Bench-Video named them scores
            return cls(JudgeIdentity.from_json(obj), {question: replies}, {question: verdicts})
        judge = obj.get("judge")
        return cls(
            JudgeIdentity.from_json(judge) if isinstance(judge, Mapping) else None,
            {str(q): list(r) for q, r in (obj.get("replies") or {}).items()},
            {str(q): list(s) for q, s in (obj.get("scores") or {}).items()},
        )


VERDICT_KEYS = (
    "verdict",
    "previous_verdicts",
    "judge",
    "judgement",
    "previous_judgements",
)  # today's, then old


def stored_verdicts(
    output: Mapping[str, Any], question: str = "result"
) -> tuple[Verdict | None, tuple[Verdict, ...]]:
    """(latest, earlier) verdicts of a record's fields: ``verdict`` and ``previous_verdicts``, or an old
    record's ``judge`` (A1, Q-Bench-Video) or ``judgement`` / ``previous_judgements`` (A2)."""
    latest = output.get("verdict")
    if latest is None:
        latest = output.get("judge") if isinstance(output.get("judge"), Mapping) else output.get("judgement")
    verdict = Verdict.from_json(latest, question=question) if isinstance(latest, Mapping) else None
    if "previous_verdicts" not in output and "previous_judgements" not in output:
        return verdict, ()
    earlier = [*(output.get("previous_judgements") or []), *(output.get("previous_verdicts") or [])]
    return verdict, tuple(Verdict.from_json(v, question=question) for v in earlier if isinstance(v, Mapping))


def verdicts_json(latest: Verdict | None, earlier: Sequence[Verdict]) -> dict[str, Any]:
    """The record fields of a judged output (``verdict``, ``previous_verdicts``; absent when empty): what
    :func:`stored_verdicts` reads back."""
    out: dict[str, Any] = {}
    if latest is not None:
        out["verdict"] = latest.to_json()
    if earlier:
        out["previous_verdicts"] = [v.to_json() for v in earlier]
    return out


def verdict_fields(
    latest: Verdict | None, earlier: Sequence[Verdict], new: Verdict
) -> tuple[Verdict, tuple[Verdict, ...]]:
    """(latest, earlier) after ``new``: another judge's earlier verdict is kept, not lost."""
    if latest is not None and latest.judge != new.judge:
        return new, (*earlier, latest)
    return new, tuple(earlier)


def identify(judge: Any, version: str, rounds: int) -> JudgeIdentity:
    """The identity of a judge model for a task's judge prompts (``version``) and ``rounds``."""
    from qbench.models.base import model_fingerprint, model_name

    return JudgeIdentity(model_name(judge), model_fingerprint(judge), version, rounds)


# -- what a judged task provides (pure) --------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeSpec:
    """How a task is judged: its judge prompts' version, rounds, how a reply reads, and its policies.

    ``nothing_to_judge``: (message, hint) of the usage error when records exist but none can be judged (A2
    without references), or ``None`` to skip such records quietly (A1's hidden answers).
    ``all_failed_is_error``: a judging whose every call failed stops the run (A2 scores nothing without it)
    instead of warning (A1, whose extraction accuracy stands on its own).
    """

    task: str
    version: str
    rounds: int
    parse: Callable[[str], int | None]
    nothing_to_judge: tuple[str, str] | None = None
    all_failed_is_error: bool = False


class Judgeable(Protocol):
    """A task that can be judged. All pure: the driver (:func:`judge_records`) does the calls and the cache."""

    def judge_spec(self) -> JudgeSpec: ...
    def use_judge(self, identity: JudgeIdentity) -> None: ...
    def judge_questions(self, record: Record) -> Mapping[str, Sequence[Mapping[str, str]]] | None: ...
    def current_verdict(self, record: Record) -> Verdict | None: ...
    def with_verdict(self, record: Record, verdict: Verdict) -> Record: ...


def judge_records(
    task: Judgeable, records: Sequence[Record], judge: Any, cache: ResponseCache | None = None
) -> list[Record]:
    """``records`` with ``judge``'s verdicts: the one way A1 and A2 are judged (runner and ``qbench score``).

    A record that already holds this judge's complete verdict comes back unchanged (the same object), so a
    resumed judging is free; one with failed calls is judged again, its answered rounds coming from the cache.
    """
    from qbench.cache import ResponseCache

    spec = task.judge_spec()
    identity = identify(judge, spec.version, spec.rounds)
    task.use_judge(identity)
    asks: dict[str, Mapping[str, Sequence[Mapping[str, str]]]] = {}
    judgeable = 0
    for record in records:
        questions = task.judge_questions(record) if record.ok else None
        if questions is None:
            continue
        judgeable += 1
        current = task.current_verdict(record)
        if current is None or not current.complete(identity):
            asks[record.id] = questions
    if records and not judgeable and spec.nothing_to_judge is not None:
        message, hint = spec.nothing_to_judge
        raise UsageError(message, hint=hint)
    if not asks:
        return list(records)
    jobs = [
        JudgeJob(key=_job_key(rid, q), messages=messages)
        for rid, questions in asks.items()
        for q, messages in questions.items()
    ]
    own_cache = cache is None
    used = ResponseCache(enabled=False) if cache is None else cache
    try:
        result = judge_rounds(judge, jobs, spec.rounds, used)
    finally:
        if own_cache:
            used.close()
    asked = len(jobs) * spec.rounds - result.cache_hits
    if spec.all_failed_is_error and asked and result.failed_calls == asked:
        # A judge that answers nothing (a bad key, a wrong model name, a server that is down) must not leave a
        # "complete" run of NaNs behind: stop, and let the same command resume once it is fixed.
        raise RunError(
            f"every one of {asked} calls to the judge {identity.name} failed (see the warnings above); "
            "fix the judge and run the same command again"
        )
    verdicts: dict[str, Verdict] = {}
    for rid, questions in asks.items():
        replies = {q: result.replies[_job_key(rid, q)] for q in questions}
        verdicts[rid] = Verdict(identity, replies, {}).reparsed(spec.parse)
    _log_judging(spec, list(verdicts.values()), result.failed_calls)
    return [task.with_verdict(r, verdicts[r.id]) if r.id in verdicts else r for r in records]


_KEY_SEP = "\x1f"  # between record id and question in a job key; never part of an id


def _job_key(record_id: str, question: str) -> str:
    return f"{record_id}{_KEY_SEP}{question}"


def _log_judging(spec: JudgeSpec, verdicts: Sequence[Verdict], failed_calls: int) -> None:
    unparsable = sum(
        reply is not None and score is None
        for v in verdicts
        for q in v.replies
        for reply, score in zip(v.replies[q], v.scores[q])
    )
    if unparsable:
        log.warning(
            "%s judge: %d replies could not be read; they are dropped and counted", spec.task, unparsable
        )
    if failed_calls:
        log.warning(
            "%s judge: %d call(s) failed; they are counted and asked again when the same command is run again",
            spec.task,
            failed_calls,
        )


# -- rounds, cache and concurrency -------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeJob:
    """One thing to judge: ``key`` names it in the results; ``messages`` are OpenAI-style chat messages."""

    key: str
    messages: Sequence[Mapping[str, str]]


@dataclass
class JudgeReplies:
    replies: dict[str, list[str | None]]  # job key -> one reply per round (None: the call failed)
    failed_calls: int = 0
    cache_hits: int = 0


def to_request(messages: Sequence[Mapping[str, str]]) -> Request:
    system = next((m["content"] for m in messages if m["role"] == "system"), None)
    user = "\n".join(m["content"] for m in messages if m["role"] == "user")
    return Request(content=(Text(user),), system=system, max_new_tokens=JUDGE_MAX_NEW_TOKENS, greedy=False)


def judge_rounds(
    judge: Any,
    jobs: Sequence[JudgeJob],
    rounds: int,
    cache: ResponseCache,
    *,
    chunk: int = 64,
    progress: bool | None = None,
) -> JudgeReplies:
    """Every job judged ``rounds`` times; cached rounds are reused, failed calls are None (and retried next time)."""
    from qbench.cache import cache_key
    from qbench.models.base import model_fingerprint
    from qbench.progress import Progress

    fingerprint = model_fingerprint(judge)
    wanted = []
    for job in jobs:
        request = to_request(job.messages)
        for r in range(rounds):
            wanted.append((job.key, r, request, cache_key(fingerprint, "judge", request.describe(), r)))
    cached = cache.get_many(k for *_, k in wanted)
    replies: dict[str, list[str | None]] = {job.key: [None] * rounds for job in jobs}
    todo = []
    for job_key, r, request, key in wanted:
        if key in cached:
            replies[job_key][r] = cached[key]
        else:
            todo.append((job_key, r, request, key))
    failed = 0
    with Progress(len(todo), f"judge {getattr(judge, 'name', 'judge')}", progress) as bar:
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            for group in _judge_groups(judge, [req for _, _, req, _ in part]):
                fresh = {}
                for i, text in group:
                    job_key, r, _, key = part[i]
                    if isinstance(text, BaseException) or text is None:
                        failed += 1
                        continue
                    replies[job_key][r] = str(text)
                    fresh[key] = str(text)
                cache.put_many(fresh)  # each reply is kept the moment it arrives
                bar.advance(len(group))
    return JudgeReplies(replies=replies, failed_calls=failed, cache_hits=len(cached))


def _judge_groups(judge: Any, requests: list[Request]) -> Any:
    """``(index, reply or exception)`` groups as the judge answers (one group unless it can ``stream``)."""
    waiting = set(range(len(requests)))
    try:
        if callable(getattr(judge, "stream", None)):
            for group in judge.stream("generate", requests):
                waiting.difference_update(i for i, _ in group)
                yield group
        else:
            texts = judge.generate(requests)
            waiting.clear()
            yield list(enumerate(texts))
        return
    except StopRun:
        raise
    except QBenchError as exc:
        if exc.exit_code == 2:  # a wrong key, model or server: stop, do not warn per round
            raise
        failure: Exception = exc
    except Exception as exc:  # these rounds stay None and are retried later
        failure = exc
    log.warning("judge call failed for %d round(s): %s", len(waiting), failure)
    yield [(i, failure) for i in sorted(waiting)]

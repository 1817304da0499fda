"""Running an LLM judge: several sampled rounds per item, each cached under its own key.

Used by A1 (the optional GPT-assisted judge, protocol.md 8.5) and A2 (the description judge, 8.6). The judge
is any model with ``generate``; rounds use its default sampling (``greedy=False``), and round ``r`` of an
item is cached separately, so a resumed or repeated judging reuses exactly the replies it already paid for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbench.cache import ResponseCache, cache_key
from qbench.errors import QBenchError, StopRun
from qbench.models.base import model_fingerprint
from qbench.progress import Progress
from qbench.types import Request, Text

log = logging.getLogger("qbench")

JUDGE_MAX_NEW_TOKENS = 256


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

"""A2 description: the model describes low-level quality; an LLM judge scores it against a golden description.

Two phases, because the official references are private (protocol.md 3):

1. **Generate.** Every image (or pair) gets the official description prompt, greedy decoding. Without
   references this is the whole run; its records are what ``qbench report --format submission`` exports.
2. **Judge** (``--judge SPEC``, only with references). Each description is scored on the three dimensions of
   protocol 3 (completeness, precision, relevance), each prompt run for ``judge_rounds`` (5) sampled rounds,
   every round one cached request (:func:`qbench.judging.judge_rounds`). A reply is read as ``Score: k`` with
   k in {0, 1, 2}; an unparsable reply or a failed call is dropped and counted, never scored as 0
   (protocol 8.6).

What a judged record holds (``judgement``): the judge's identity (name, fingerprint, prompt version, rounds),
the raw reply of every round (``None`` for a call that failed) and the parsed scores. Raw replies are kept so
that :meth:`DescriptionTask.rescore` can re-read them after a parser fix, and a record judged by another judge
before keeps that earlier verdict under ``previous_judgements`` (``qbench score RUN --judge OTHER`` then holds
both judges' opinions side by side, and the old run is untouched).

Aggregation (a decision, documented here and in the manifest's prompt versions): per dimension the scores of
all valid rounds of all images are **pooled**. P0/P1/P2 are their frequencies and the dimension's score is
0*P0 + 1*P1 + 2*P2, which is exactly how the official tables are built ("frequency over all images x rounds").
When every round is valid this equals the mean of per-image means; when some rounds are dropped, an image
simply contributes fewer rounds (the alternative, averaging per-image means, would weight a single surviving
round as much as five). ``sum`` is the sum of the three dimension scores (max 6).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qbench.data.dataset import Dataset
from qbench.errors import RunError, UsageError
from qbench.judging import JudgeJob, judge_rounds
from qbench.metrics import bootstrap_interval
from qbench.models.base import model_fingerprint, model_name
from qbench.tasks import prompts
from qbench.tasks.base import task_options
from qbench.tasks.judge import (
    A2_DIMENSIONS,
    A2_JUDGE_ROUNDS,
    A2_JUDGE_VERSION,
    a2_distribution,
    a2_judge_messages,
    parse_a2_score,
)
from qbench.types import Record, Request, Sample

log = logging.getLogger("qbench")

OPTIONS = {"max_new_tokens": int, "judge_rounds": int, "bootstrap": int}

#: Generation budget. The official IDEFICS demo used ``max_length=240`` for prompt *and* answer, about 215 new
#: tokens for that model; a total length cannot be carried over to models that spend hundreds of tokens on an
#: image, so we bound the new tokens instead. Golden descriptions average 58 words (~80 tokens), but MLLM
#: descriptions, and pair comparisons in particular, often run to 150-300 words: cutting them would lower
#: completeness for a reason that is ours, not the model's. 512 leaves room for that while still stopping a
#: degenerate, repeating generation. ``-T max_new_tokens=215`` approximates the demo's budget.
DEFAULT_MAX_NEW_TOKENS = 512

_KEY_SEP = "\x1f"  # between record id and dimension in a judge job key; never part of an id


class DescriptionTask:
    """A2: describe single images or pairs (``generate``); judge the descriptions when references exist."""

    name = "a2"
    needs = ("generate",)

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        opts = task_options(options or {}, OPTIONS, "a2")
        self.max_new_tokens: int = opts.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        self.rounds: int = opts.get("judge_rounds", A2_JUDGE_ROUNDS)
        self.bootstrap: int = opts.get("bootstrap", 1000)
        for key, value in (("max_new_tokens", self.max_new_tokens), ("judge_rounds", self.rounds)):
            if value < 1:
                raise UsageError(f"task option '{key}' must be at least 1, got {value}")
        if self.bootstrap < 0:
            raise UsageError("task option 'bootstrap' must not be negative (0 turns intervals off)")
        self.capability = "generate"
        self.judge_identity: dict[str, Any] | None = None
        self._references: tuple[int, int] | None = None  # (items with a reference, items), known after setup

    # -- the Task protocol -------------------------------------------------------------------------------
    def setup(self, capability: str, dataset: Dataset) -> None:
        if dataset.kind != "describe":
            raise UsageError(
                f"task a2 needs images to describe; '{dataset.name}' is {dataset.format} data",
                hint="give a JSON/JSONL list of img_path items, q-bench2-a2.jsonl, or an image folder",
            )
        self.capability = capability
        self._references = (sum(s.reference is not None for s in dataset.samples), len(dataset.samples))

    def manifest(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "task": "a2",
            "capability": self.capability,
            "prompt_version": prompts.A2_PROMPT_VERSION,
            "max_new_tokens": self.max_new_tokens,
            "metric_options": {"bootstrap": self.bootstrap},  # a number in metrics.json: part of identity
        }
        if self.judge_identity is not None:
            info["judge"] = self.judge_identity  # name, fingerprint, prompt_version, rounds
        return info

    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        return Request(
            content=prompts.a2_content(len(images)),
            images=images,
            image_keys=image_keys,
            max_new_tokens=self.max_new_tokens,
            greedy=True,
        )

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        if not isinstance(result, str):
            raise TypeError(f"a description must be text, got {type(result).__name__}")
        out: dict[str, Any] = {"img_path": sample.source or sample.id}
        if sample.extra.get("pair"):
            out["img_paths"] = list(sample.extra["pair"])
        if sample.reference is not None:
            out["reference"] = sample.reference
        out["description"] = result
        return out

    # -- the JudgedTask protocol -------------------------------------------------------------------------
    def set_judge(self, judge: Any) -> None:
        """Adopt ``judge`` (its identity enters the manifest and so the run fingerprint); refuse if pointless."""
        if self._references is not None:
            with_reference, total = self._references
            if with_reference == 0:
                raise UsageError(_NO_REFERENCES, hint=_NO_REFERENCES_HINT)
            if with_reference < total:
                log.warning(
                    "%d of %d items have no reference description; only the others are judged (see n_judged)",
                    total - with_reference,
                    total,
                )
        self.judge_identity = judge_identity(judge, self.rounds)

    def restore_judge(self, task_info: Mapping[str, Any]) -> None:
        """Re-scoring without ``--judge``: keep counting the verdicts of the judge the run was made with."""
        stored = task_info.get("judge")
        self.judge_identity = dict(stored) if isinstance(stored, Mapping) else None

    def judge(self, records: Sequence[Record], judge: Any, cache: Any = None) -> list[Record]:
        """``records`` with this judge's verdicts; records it has fully judged already come back unchanged.

        A record whose earlier judging had failed calls is judged again: the rounds that succeeded come from
        the response cache, so only the failed ones are asked again.
        """
        from qbench.cache import ResponseCache

        identity = judge_identity(judge, self.rounds)
        self.judge_identity = identity
        usable = [r for r in records if r.ok and r.output.get("reference") is not None]
        if records and not usable:
            raise UsageError(_NO_REFERENCES, hint=_NO_REFERENCES_HINT)
        todo = [r for r in usable if not _judged_by(r, identity)]
        if not todo:
            return list(records)
        jobs = [
            JudgeJob(
                key=f"{r.id}{_KEY_SEP}{dimension}",
                messages=a2_judge_messages(
                    dimension, str(r.output.get("description") or ""), str(r.output["reference"])
                ),
            )
            for r in todo
            for dimension in A2_DIMENSIONS
        ]
        own_cache = cache is None
        cache = ResponseCache(enabled=False) if own_cache else cache
        try:
            result = judge_rounds(judge, jobs, self.rounds, cache)
        finally:
            if own_cache:
                cache.close()
        asked = len(jobs) * self.rounds - result.cache_hits
        if asked and result.failed_calls == asked:
            # A judge that answers nothing (a bad key, a wrong model name, a server that is down) must not
            # leave a "complete" run of NaNs behind: stop, and let the same command resume once it is fixed.
            raise RunError(
                f"every one of {asked} calls to the judge {identity['name']} failed (see the warnings above); "
                "fix the judge and run the same command again"
            )
        judged: dict[str, Record] = {}
        for record in todo:
            replies = {d: result.replies[f"{record.id}{_KEY_SEP}{d}"] for d in A2_DIMENSIONS}
            verdict = {"judge": identity, "replies": replies, "scores": _parse(replies)}
            judged[record.id] = Record(record.id, _with_verdict(record.output, verdict), record.error)
        _log_judging(list(judged.values()), result.failed_calls)
        return [judged.get(r.id, r) for r in records]

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Scores parsed again from the stored raw replies (after a parser fix); descriptions untouched."""
        out = []
        for record in records:
            output = dict(record.output)
            changed = False
            if isinstance(output.get("judgement"), Mapping):
                fresh = _reparsed(output["judgement"])
                changed |= fresh != output["judgement"]
                output["judgement"] = fresh
            if isinstance(output.get("previous_judgements"), list):
                previous = [
                    _reparsed(j) if isinstance(j, Mapping) else j for j in output["previous_judgements"]
                ]
                changed |= previous != output["previous_judgements"]
                output["previous_judgements"] = previous
            out.append(Record(record.id, output, record.error) if changed else record)
        return out

    # -- metrics -----------------------------------------------------------------------------------------
    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        """``n`` and description statistics always; with verdicts, the protocol 8.10 keys and their details.

        Keys: ``completeness``, ``precision``, ``relevance`` (pooled mean score, 0-2), ``sum`` (0-6), each
        with ``/p0``, ``/p1``, ``/p2`` (fractions) and ``/valid_rounds``; ``*_ci`` bootstrap intervals
        (resampling images); ``judge_failure_rate`` = (unparsable replies + failed calls) / all rounds.
        """
        ok = [r for r in records if r.ok]
        words = [len(str(r.output.get("description") or "").split()) for r in ok]
        metrics: dict[str, Any] = {
            "n": len(ok),
            "description_words": float(np.mean(words)) if words else math.nan,
            "empty_descriptions": sum(w == 0 for w in words),
        }
        judged = [v for v in (self._verdict(r) for r in ok) if v is not None]
        metrics["n_judged"] = len(judged)
        if not judged:
            return metrics
        means = {}
        for dimension in A2_DIMENSIONS:
            dist = a2_distribution([s for v in judged for s in v["scores"][dimension]])
            means[dimension] = math.nan if dist["mean"] is None else dist["mean"]
            metrics[dimension] = means[dimension]
            for share in ("p0", "p1", "p2"):
                value = dist[share]  # type: ignore[literal-required]
                metrics[f"{dimension}/{share}"] = math.nan if value is None else value
            metrics[f"{dimension}/valid_rounds"] = dist["n"]
        metrics["sum"] = float(sum(means.values()))
        total = sum(len(v["replies"][d]) for v in judged for d in A2_DIMENSIONS)
        failed = sum(reply is None for v in judged for d in A2_DIMENSIONS for reply in v["replies"][d])
        unparsable = sum(
            reply is not None and score is None
            for v in judged
            for d in A2_DIMENSIONS
            for reply, score in zip(v["replies"][d], v["scores"][d])
        )
        metrics.update(
            judge_rounds_total=total,
            judge_failed_calls=failed,
            judge_unparsable=unparsable,
            judge_failure_rate=(failed + unparsable) / total if total else math.nan,
        )
        if self.bootstrap and len(judged) >= 3:
            metrics.update(_intervals(judged, self.bootstrap))
        return metrics

    def _verdict(self, record: Record) -> Mapping[str, Any] | None:
        """The record's verdict by the current judge (its latest, when no judge is known), else None.

        A verdict kept under ``previous_judgements`` counts too, so the numbers of an earlier judge can be
        recomputed from a record that a later judge has judged again.
        """
        latest = record.output.get("judgement")
        if self.judge_identity is None:
            return latest if isinstance(latest, Mapping) else None
        for verdict in [latest, *reversed(record.output.get("previous_judgements") or [])]:
            if isinstance(verdict, Mapping) and verdict.get("judge") == self.judge_identity:
                return verdict
        return None


_NO_REFERENCES = "this A2 data has no reference descriptions, so there is nothing to judge against"
_NO_REFERENCES_HINT = (
    "give each item a 'golden_description' (or 'reference') to score; without them run without --judge "
    "and export the descriptions with: qbench report RUN --format submission"
)


def judge_identity(judge: Any, rounds: int) -> dict[str, Any]:
    """What makes two judgings comparable: the judge model, the A2 judge prompts' version and the rounds."""
    return {
        "name": model_name(judge),
        "fingerprint": model_fingerprint(judge),
        "prompt_version": A2_JUDGE_VERSION,
        "rounds": rounds,
    }


def _judged_by(record: Record, identity: Mapping[str, Any]) -> bool:
    """True when ``record`` holds a complete verdict of this judge (no failed call left to retry)."""
    verdict = record.output.get("judgement")
    if not isinstance(verdict, Mapping) or verdict.get("judge") != identity:
        return False
    replies = verdict.get("replies") or {}
    return all(
        len(replies.get(d) or []) == identity["rounds"] and None not in replies[d] for d in A2_DIMENSIONS
    )


def _parse(replies: Mapping[str, Sequence[str | None]]) -> dict[str, list[int | None]]:
    return {d: [None if text is None else parse_a2_score(text) for text in replies[d]] for d in replies}


def _reparsed(verdict: Mapping[str, Any]) -> dict[str, Any]:
    return {**verdict, "scores": _parse(verdict.get("replies") or {})}


def _with_verdict(output: Mapping[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """``output`` with ``verdict`` as its judgement; a different judge's earlier verdict is kept, not lost."""
    new = dict(output)
    old = output.get("judgement")
    if isinstance(old, Mapping) and old.get("judge") != verdict["judge"]:
        new["previous_judgements"] = [*output.get("previous_judgements", []), dict(old)]
    new["judgement"] = verdict
    return new


def _log_judging(judged: Sequence[Record], failed_calls: int) -> None:
    unparsable = sum(
        reply is not None and score is None
        for r in judged
        for d in A2_DIMENSIONS
        for reply, score in zip(r.output["judgement"]["replies"][d], r.output["judgement"]["scores"][d])
    )
    if unparsable:
        log.warning(
            "%d judge replies had no readable 'Score: 0/1/2'; they are dropped and counted", unparsable
        )
    if failed_calls:
        log.warning(
            "%d judge calls failed; they are counted in judge_failure_rate and retried when the same "
            "command is run again",
            failed_calls,
        )


def _intervals(judged: Sequence[Mapping[str, Any]], resamples: int) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of each dimension and of ``sum``, resampling images (not rounds).

    Each resample pools the valid rounds of the drawn images, as the point estimate does.
    """
    valid = np.array([[sum(s is not None for s in v["scores"][d]) for v in judged] for d in A2_DIMENSIONS])
    total = np.array([[sum(s or 0 for s in v["scores"][d]) for v in judged] for d in A2_DIMENSIONS])

    def means(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return total[:, idx].sum(axis=1) / valid[:, idx].sum(axis=1)

    n = len(judged)
    out = {
        f"{d}_ci": bootstrap_interval(lambda idx, i=i: float(means(idx)[i]), n, resamples=resamples)
        for i, d in enumerate(A2_DIMENSIONS)
    }
    out["sum_ci"] = bootstrap_interval(lambda idx: float(means(idx).sum()), n, resamples=resamples)
    return out

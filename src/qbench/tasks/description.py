"""A2 description: the model describes low-level quality; an LLM judge scores it against a golden description.

Two phases, because the official references are private (protocol.md 3):

1. **Generate.** Every image (or pair) gets the official description prompt, greedy decoding. Without
   references this is the whole run; its records are what ``qbench report --format submission`` exports.
2. **Judge** (``--judge SPEC``, only with references). Each description is scored on the three dimensions of
   protocol 3 (completeness, precision, relevance), each prompt run for ``judge_rounds`` (5) sampled rounds,
   every round one cached request (:func:`qbench.judging.judge_rounds`). A reply is read as ``Score: k`` with
   k in {0, 1, 2}; an unparsable reply or a failed call is dropped and counted, never scored as 0
   (protocol 8.6).

What a judged record holds (``verdict``, a :class:`qbench.judging.Verdict`): the judge's identity (name,
fingerprint, prompt version, rounds), the raw reply of every round (``None`` for a call that failed) and the
parsed scores, per dimension. Raw replies are kept so that :meth:`DescriptionTask.rescore` can re-read them
after a parser fix, and a record judged by another judge before keeps that earlier verdict under
``previous_verdicts`` (``qbench score RUN --judge OTHER`` then holds both judges' opinions side by side, and
the old run is untouched). Records written before one verdict shape (``judgement``, ``previous_judgements``)
are read as such (:class:`DescriptionOutput`).

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qbench.checks import Tally, judge_tally, short, verdict_unreadable
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.judging import VERDICT_KEYS, JudgeIdentity, JudgeSpec, Verdict, stored_verdicts, verdicts_json
from qbench.metrics import bootstrap_interval
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


@dataclass(frozen=True)
class DescriptionOutput:
    """One A2 record's output: the image(s), the reference, the description and the judges' verdicts.

    This class is the only place that knows the A2 record keys. ``img_paths`` is set for a pair; ``reference``
    when the item has a golden description. ``verdict`` is the latest judge's, ``previous_verdicts`` those of
    earlier judges (a record judged again by another judge keeps both opinions side by side). ``extra`` keeps
    keys this version does not know (``index``, ...) as they were.
    """

    img_path: str | None = None
    img_paths: list[str] | None = None
    reference: str | None = None
    description: str | None = None
    verdict: Verdict | None = None
    previous_verdicts: tuple[Verdict, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "img_path": self.img_path}
        if self.img_paths is not None:
            out["img_paths"] = list(self.img_paths)
        if self.reference is not None:
            out["reference"] = self.reference
        out["description"] = self.description
        out.update(verdicts_json(self.verdict, self.previous_verdicts))
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> DescriptionOutput:
        """Reads today's records and those written before one verdict shape (``judgement`` and
        ``previous_judgements``)."""
        data = dict(obj)
        verdict, previous = stored_verdicts(data)
        for key in VERDICT_KEYS:
            data.pop(key, None)
        values = {k: data.pop(k) for k in ("img_path", "img_paths", "reference", "description") if k in data}
        return cls(**values, verdict=verdict, previous_verdicts=previous, extra=data)

    def verdict_of(self, judge: JudgeIdentity | None) -> Verdict | None:
        """The verdict of ``judge`` (the latest or an earlier one); the latest when ``judge`` is None."""
        if judge is None:
            return self.verdict
        for verdict in (self.verdict, *reversed(self.previous_verdicts)):
            if verdict is not None and verdict.judge == judge:
                return verdict
        return None

    def round_scores(self) -> dict[str, list[int]] | None:
        """The latest verdict's valid scores per dimension (unreadable rounds dropped); None if not judged."""
        if self.verdict is None:
            return None
        out: dict[str, list[int]] = {}
        for dimension in A2_DIMENSIONS:
            valid = [s for s in self.verdict.scores.get(dimension) or [] if s is not None]
            if not valid:
                return None
            out[dimension] = valid
        return out


def read(record: Record) -> DescriptionOutput:
    """The typed output of an A2 record."""
    return DescriptionOutput.from_json(record.output)


# -- what the health check and ``qbench show`` need (qbench.checks) -------------------------------------------
def health_counts(records: Sequence[Record], metrics: Mapping[str, Any]) -> list[Tally]:
    """Judge rounds without a verdict: counted by the run's metrics, the reasons read from the verdicts."""
    total = int(metrics.get("judge_rounds_total") or 0)
    failed = int(metrics.get("judge_failed_calls") or 0) + int(metrics.get("judge_unparsable") or 0)
    replies = [
        reply
        for verdict in (read(r).verdict for r in records)
        if verdict is not None
        for dimension, rounds in verdict.replies.items()
        for reply, score in zip(rounds, verdict.scores.get(dimension, []), strict=False)
        if score is None
    ]
    return [judge_tally(replies, total, failed)]


def describe_record(record: Record) -> str | None:
    """The description, the judge's scores per dimension and the first reply that gave none."""
    out = read(record)
    text = f"{short(out.description)!r}"
    if out.verdict is not None:
        scores = out.verdict.scores
        text += "; " + ", ".join(f"{d} {s}" for d, s in scores.items())
        bad = [
            reply
            for d, replies in out.verdict.replies.items()
            for reply, score in zip(replies, scores.get(d, []))
            if score is None
        ]
        if bad:
            text += f"; no verdict in: {short(bad[0] if bad[0] is not None else 'call failed', 40)!r}"
    return text


def unreadable_record(record: Record) -> bool:
    """A judge round without a verdict."""
    return verdict_unreadable(read(record).verdict)


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
        self.judge_identity: JudgeIdentity | None = None
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
            info["judge"] = _judge_info(self.judge_identity)  # name, fingerprint, prompt_version, rounds
        return info

    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        return Request(
            content=prompts.a2_content(len(images)),
            images=images,
            image_keys=image_keys,
            max_new_tokens=self.max_new_tokens,
            greedy=True,
        )

    def outcome(self, sample: Sample, result: Any) -> DescriptionOutput:
        if not isinstance(result, str):
            raise TypeError(f"a description must be text, got {type(result).__name__}")
        return DescriptionOutput(
            img_path=sample.source or sample.id,
            img_paths=list(sample.extra["pair"]) if sample.extra.get("pair") else None,
            reference=sample.reference,
            description=result,
        )

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        """The record fields (:meth:`outcome` as JSON)."""
        return self.outcome(sample, result).to_json()

    read = staticmethod(read)
    health_counts = staticmethod(health_counts)
    describe_record = staticmethod(describe_record)
    unreadable_record = staticmethod(unreadable_record)

    # -- judging (pure: qbench.judging.judge_records asks the judge) --------------------------------------
    def set_judge(self, judge: Any) -> None:
        """Adopt ``judge`` (its identity enters the manifest and so the run fingerprint); refuse if pointless."""
        from qbench.judging import identify

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
        self.use_judge(identify(judge, A2_JUDGE_VERSION, self.rounds))

    def restore_judge(self, task_info: Mapping[str, Any]) -> None:
        """Re-scoring without ``--judge``: keep counting the verdicts of the judge the run was made with."""
        stored = task_info.get("judge")
        self.judge_identity = JudgeIdentity.from_json(stored) if isinstance(stored, Mapping) else None

    def judge_spec(self) -> JudgeSpec:
        return JudgeSpec(
            "a2",
            A2_JUDGE_VERSION,
            self.rounds,
            parse_a2_score,
            nothing_to_judge=(_NO_REFERENCES, _NO_REFERENCES_HINT),
            all_failed_is_error=True,
        )

    def use_judge(self, identity: JudgeIdentity) -> None:
        self.judge_identity = identity

    def judge_questions(self, record: Record) -> dict[str, list[dict[str, str]]] | None:
        out = read(record)
        if out.reference is None:
            return None
        return {d: a2_judge_messages(d, out.description or "", out.reference) for d in A2_DIMENSIONS}

    def current_verdict(self, record: Record) -> Verdict | None:
        return read(record).verdict

    def with_verdict(self, record: Record, verdict: Verdict) -> Record:
        """The record with ``verdict`` as its latest; a different judge's earlier verdict is kept, not lost."""
        out = read(record)
        previous = out.previous_verdicts
        if out.verdict is not None and out.verdict.judge != verdict.judge:
            previous = (*previous, out.verdict)
        return Record(
            record.id, replace(out, verdict=verdict, previous_verdicts=previous).to_json(), record.error
        )

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Scores parsed again from the stored raw replies (after a parser fix); descriptions untouched."""
        result = []
        for record in records:
            out = read(record)
            fresh = replace(
                out,
                verdict=None if out.verdict is None else out.verdict.reparsed(parse_a2_score),
                previous_verdicts=tuple(v.reparsed(parse_a2_score) for v in out.previous_verdicts),
            )
            result.append(record if fresh == out else Record(record.id, fresh.to_json(), record.error))
        return result

    # -- metrics -----------------------------------------------------------------------------------------
    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        """``n`` and description statistics always; with verdicts, the protocol 8.10 keys and their details.

        Keys: ``completeness``, ``precision``, ``relevance`` (pooled mean score, 0-2), ``sum`` (0-6), each
        with ``/p0``, ``/p1``, ``/p2`` (fractions) and ``/valid_rounds``; ``*_ci`` bootstrap intervals
        (resampling images); ``judge_failure_rate`` = (unparsable replies + failed calls) / all rounds.
        """
        ok = [read(r) for r in records if r.ok]
        words = [len(str(r.description or "").split()) for r in ok]
        metrics: dict[str, Any] = {
            "n": len(ok),
            "description_words": float(np.mean(words)) if words else math.nan,
            "empty_descriptions": sum(w == 0 for w in words),
        }
        judged = [v for v in (r.verdict_of(self.judge_identity) for r in ok) if v is not None]
        metrics["n_judged"] = len(judged)
        if not judged:
            return metrics
        means = {}
        for dimension in A2_DIMENSIONS:
            dist = a2_distribution([s for v in judged for s in v.scores[dimension]])
            means[dimension] = math.nan if dist["mean"] is None else dist["mean"]
            metrics[dimension] = means[dimension]
            for share in ("p0", "p1", "p2"):
                value = dist[share]
                metrics[f"{dimension}/{share}"] = math.nan if value is None else value
            metrics[f"{dimension}/valid_rounds"] = dist["n"]
        metrics["sum"] = float(sum(means.values()))
        total = sum(len(v.replies[d]) for v in judged for d in A2_DIMENSIONS)
        failed = sum(reply is None for v in judged for d in A2_DIMENSIONS for reply in v.replies[d])
        unparsable = sum(
            reply is not None and score is None
            for v in judged
            for d in A2_DIMENSIONS
            for reply, score in zip(v.replies[d], v.scores[d])
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


_NO_REFERENCES = "this A2 data has no reference descriptions, so there is nothing to judge against"
_NO_REFERENCES_HINT = (
    "give each item a 'golden_description' (or 'reference') to score; without them run without --judge "
    "and export the descriptions with: qbench report RUN --format submission"
)


def _judge_info(identity: JudgeIdentity) -> dict[str, Any]:
    """The judge as A2 run manifests have always named it (part of the run's fingerprint: kept as it was)."""
    return {
        "name": identity.name,
        "fingerprint": identity.fingerprint,
        "prompt_version": identity.version,
        "rounds": identity.rounds,
    }


def _intervals(judged: Sequence[Verdict], resamples: int) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of each dimension and of ``sum``, resampling images (not rounds).

    Each resample pools the valid rounds of the drawn images, as the point estimate does.
    """
    valid = np.array([[sum(s is not None for s in v.scores[d]) for v in judged] for d in A2_DIMENSIONS])
    total = np.array([[sum(s or 0 for s in v.scores[d]) for v in judged] for d in A2_DIMENSIONS])

    def means(idx: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return total[:, idx].sum(axis=1) / valid[:, idx].sum(axis=1)

    def dimension(i: int) -> Callable[[np.ndarray], float]:
        return lambda idx: float(means(idx)[i])

    n = len(judged)
    out = {
        f"{d}_ci": bootstrap_interval(dimension(i), n, resamples=resamples)
        for i, d in enumerate(A2_DIMENSIONS)
    }
    out["sum_ci"] = bootstrap_interval(lambda idx: float(means(idx).sum()), n, resamples=resamples)
    return out

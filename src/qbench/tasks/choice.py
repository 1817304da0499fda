"""What the family's multiple-choice tasks share (A-Bench, MICBench): ask, read the letter by the A1 rules, count.

A subclass gives its prompt (:meth:`ChoiceTask.content`), the record fields of its own breakdown
(:meth:`ChoiceTask.fields`) and the groups each record counts in (:meth:`ChoiceTask.groups`). Everything else
is the A1 way (protocol.md 8.4): the letter is read with :func:`qbench.tasks.answers.extract_choice`, an
unreadable reply is wrong and counted in ``invalid_rate``, never guessed; accuracies are over the items with a
known answer (``n_scored``), and a test split without answers reports only ``n`` and ``invalid_rate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qbench.checks import Tally, answers_tally, letter_line, letter_unreadable
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.metrics import bootstrap_interval
from qbench.tasks import answers
from qbench.tasks.base import task_options
from qbench.types import Part, Record, Request, Sample

OPTIONS: dict[str, type] = {"max_new_tokens": int, "bootstrap": int}
DEFAULT_MAX_NEW_TOKENS = 1024  # as A1: long-winded replies are not cut before their letter


@dataclass(frozen=True)
class ChoiceOutput:
    """One record's output: the item as asked, the reply, the letter read from it, and the item's breakdown
    fields (A-Bench ``category``, MICBench ``num_img``; None when the task has none).

    The only place that knows these tasks' record keys; ``extra`` keeps keys it does not know (``index``).
    """

    question: str | None = None
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    img_path: str | None = None
    category: str | None = None
    num_img: int | None = None
    response: str | None = None
    letter: str | None = None
    rule: str | None = None
    correct: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.extra,
            "question": self.question,
            "options": list(self.options),
            "answer": self.answer,
            "img_path": self.img_path,
        }
        if self.category is not None:
            out["category"] = self.category
        if self.num_img is not None:
            out["num_img"] = self.num_img
        if self.response is not None:
            out["response"] = self.response
        out.update(letter=self.letter, rule=self.rule, correct=self.correct)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ChoiceOutput:
        data = dict(obj)
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: data.pop(k) for k in list(data) if k in known}
        values["options"] = list(values.get("options") or [])
        return cls(**values, extra=data)

    def reread(self) -> ChoiceOutput:
        """The letter read again from the stored reply with today's rules."""
        if self.response is None:
            return self
        found = answers.extract_choice(self.response, self.options)
        correct = None if self.answer is None else found.letter == self.answer
        return replace(self, letter=found.letter, rule=found.rule, correct=correct)


def read(record: Record) -> ChoiceOutput:
    """The typed output of an A-Bench or MICBench record."""
    return ChoiceOutput.from_json(record.output)


# -- what the health check and ``qbench show`` need (qbench.checks) -------------------------------------------
def health_counts(records: Sequence[Record], metrics: Mapping[str, Any]) -> list[Tally]:
    """Replies no rule could read."""
    outputs = [read(r) for r in records]
    return [answers_tally([(f.rule, f.response) for f in outputs if f.letter is None], len(outputs))]


def describe_record(record: Record) -> str | None:
    """The letter, its rule, right or wrong, and the reply."""
    return letter_line(read(record))


def unreadable_record(record: Record) -> bool:
    """A reply no rule could read."""
    return letter_unreadable(read(record))


class ChoiceTask:
    """A multiple-choice task answered in free text (``generate``); see the module docstring."""

    name = "choice"
    prompt_version = ""
    needs: tuple[str, ...] = ("generate",)

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        opts = task_options(options or {}, OPTIONS, self.name)
        self.max_new_tokens: int = opts.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
        self.bootstrap: int = opts.get("bootstrap", 1000)
        if self.max_new_tokens < 1:
            raise UsageError("task option 'max_new_tokens' must be at least 1")
        if self.bootstrap < 0:
            raise UsageError("task option 'bootstrap' must not be negative")

    # -- what a subclass says ----------------------------------------------------------------------------------
    def content(self, sample: Sample, n_images: int) -> tuple[Part, ...]:
        raise NotImplementedError

    def fields(self, sample: Sample) -> dict[str, Any]:
        """The record fields of the task's breakdown (category, num_img, ...)."""
        return {}

    def groups(self, output: ChoiceOutput) -> Iterable[str]:
        """The metric keys (after ``accuracy/``) a record counts in, besides overall."""
        return ()

    def check_dataset(self, dataset: Dataset) -> None:
        """Refuse data this task cannot ask (before any work)."""

    # -- the runner's side ----------------------------------------------------------------------------------
    def setup(self, capability: str, dataset: Dataset) -> None:
        if dataset.kind != "mcq":
            raise UsageError(
                f"task {self.name} needs multiple-choice questions; '{dataset.name}' is {dataset.format} data"
            )
        self.check_dataset(dataset)

    def manifest(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "mode": "generate",
            "capability": "generate",
            "prompt_version": self.prompt_version,
            "rules_version": answers.RULES_VERSION,
            "max_new_tokens": self.max_new_tokens,
            "metric_options": {"bootstrap": self.bootstrap},
        }

    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        return Request(
            content=self.content(sample, len(images)),
            images=images,
            image_keys=image_keys,
            max_new_tokens=self.max_new_tokens,
        )

    read = staticmethod(read)
    health_counts = staticmethod(health_counts)
    describe_record = staticmethod(describe_record)
    unreadable_record = staticmethod(unreadable_record)

    def outcome(self, sample: Sample, result: Any) -> ChoiceOutput:
        if not isinstance(result, str):
            raise TypeError(f"generate must return text, got {type(result).__name__}")
        asked = ChoiceOutput(
            question=sample.question,
            options=list(sample.options),
            answer=sample.answer,
            img_path=sample.source,
            response=result,
            **self.fields(sample),
        )
        return asked.reread()

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        return self.outcome(sample, result).to_json()

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Letters re-read from the stored replies with today's rules (no model)."""
        return [Record(r.id, read(r).reread().to_json(), r.error) if r.ok else r for r in records]

    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        return choice_metrics([read(r) for r in records if r.ok], self.groups, self.bootstrap)


def choice_metrics(rows: Sequence[ChoiceOutput], groups: Any, resamples: int = 1000) -> dict[str, Any]:
    """``n``, ``invalid_rate``, rule counts, and over the answered items ``accuracy`` and ``accuracy/<group>``."""
    n = len(rows)
    metrics: dict[str, Any] = {"n": n}
    if not n:
        return metrics
    metrics["invalid_rate"] = sum(f.letter is None for f in rows) / n
    for rule, count in sorted(Counter(str(f.rule) for f in rows).items()):
        metrics[f"rule/{rule}"] = count
    scored = [f for f in rows if f.answer is not None]
    metrics["n_scored"] = len(scored)
    if not scored:
        return metrics  # a test split: the authors score it from the submission
    hits = [f.letter == f.answer for f in scored]
    metrics["accuracy"] = sum(hits) / len(hits)
    per: dict[str, list[bool]] = {}
    for fields, hit in zip(scored, hits):
        for group in groups(fields):
            per.setdefault(group, []).append(hit)
    for group, values in sorted(per.items()):
        metrics[f"accuracy/{group}"] = sum(values) / len(values)
        metrics[f"n/{group}"] = len(values)
    if resamples and len(hits) >= 3:
        import numpy as np

        correct = np.array(hits, dtype=float)
        metrics["accuracy_ci"] = bootstrap_interval(
            lambda idx: float(correct[idx].mean()), len(correct), resamples=resamples
        )
    return metrics

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
from typing import Any

from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.metrics import bootstrap_interval
from qbench.tasks import answers
from qbench.tasks.base import task_options
from qbench.types import Part, Record, Request, Sample

OPTIONS: dict[str, type] = {"max_new_tokens": int, "bootstrap": int}
DEFAULT_MAX_NEW_TOKENS = 1024  # as A1: long-winded replies are not cut before their letter


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

    def groups(self, fields: Mapping[str, Any]) -> Iterable[str]:
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

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        if not isinstance(result, str):
            raise TypeError(f"generate must return text, got {type(result).__name__}")
        found = answers.extract_choice(result, sample.options)
        return {
            "question": sample.question,
            "options": list(sample.options),
            "answer": sample.answer,
            "img_path": sample.source,
            **self.fields(sample),
            "response": result,
            "letter": found.letter,
            "rule": found.rule,
            "correct": None if sample.answer is None else found.letter == sample.answer,
        }

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Letters re-read from the stored replies with today's rules (no model)."""
        out = []
        for record in records:
            fields = dict(record.output)
            if "response" not in fields:
                out.append(record)
                continue
            found = answers.extract_choice(str(fields["response"] or ""), list(fields.get("options") or []))
            fields.update(letter=found.letter, rule=found.rule)
            fields["correct"] = None if fields.get("answer") is None else found.letter == fields["answer"]
            out.append(Record(record.id, fields, record.error))
        return out

    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        return choice_metrics([r.output for r in records if r.ok], self.groups, self.bootstrap)


def choice_metrics(rows: Sequence[Mapping[str, Any]], groups: Any, resamples: int = 1000) -> dict[str, Any]:
    """``n``, ``invalid_rate``, rule counts, and over the answered items ``accuracy`` and ``accuracy/<group>``."""
    n = len(rows)
    metrics: dict[str, Any] = {"n": n}
    if not n:
        return metrics
    metrics["invalid_rate"] = sum(f.get("letter") is None for f in rows) / n
    for rule, count in sorted(Counter(str(f.get("rule")) for f in rows).items()):
        metrics[f"rule/{rule}"] = count
    scored = [f for f in rows if f.get("answer") is not None]
    metrics["n_scored"] = len(scored)
    if not scored:
        return metrics  # a test split: the authors score it from the submission
    hits = [f.get("letter") == f.get("answer") for f in scored]
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

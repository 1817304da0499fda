"""What the runner needs from a task, and the softmax every A3 path shares.

A task turns samples into model requests, model results into record fields, and records into metrics. It
never names a model: it states which capabilities it can use, in order of preference. It does no effects:
judging (rounds, cache, concurrency) is done by :func:`qbench.judging.judge_records` through the task's pure
:class:`qbench.judging.Judgeable` methods, imports are written by :mod:`qbench.importer`, runs by the store.

Records stay the stored unit (``records.jsonl``); each task's module owns a typed output dataclass with
``to_json``/``from_json`` (the only place that knows its record keys) and gives it to readers as
``read(record)`` (also ``TASKS.get(name).read``); ``outcome(sample, result)`` makes one, and ``output`` is its
JSON for the record. What the run's health check and ``qbench show`` need, a task's class gives as optional
attributes ``health_counts``, ``describe_record`` and ``unreadable_record`` (:mod:`qbench.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from qbench.data.dataset import Dataset
from qbench.options import parse_options, to_bool
from qbench.scoring.official import A3_SCORE_VERSION, a3_score, two_way_softmax
from qbench.types import Record, Request, Sample

# the A3 score lives in qbench.scoring.official; re-exported for callers of its old home
__all__ = [
    "A3_SCORE_VERSION",
    "JudgedTask",
    "Task",
    "a3_score",
    "flag",
    "task_options",
    "two_way_softmax",
]


class Task(Protocol):
    name: str
    needs: tuple[str, ...]  # capabilities the task can use, preferred first

    def setup(self, capability: str, dataset: Dataset) -> None: ...
    def manifest(self) -> dict[str, Any]: ...
    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request: ...
    def output(self, sample: Sample, result: Any) -> dict[str, Any]: ...
    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]: ...


class JudgedTask(Task, Protocol):
    """A task that takes ``--judge`` (A1 optionally, A2 to score) and can be re-scored from its records.

    - ``set_judge(judge)``: called before the run's fingerprint is made (the judge's identity is part of it).
    - the pure :class:`qbench.judging.Judgeable` methods (``judge_spec``, ``judge_questions``, ...), through
      which :func:`qbench.judging.judge_records` judges its records: the task itself asks no model.
    - ``rescore(records) -> records``: derived fields recomputed from the stored raw outputs (e.g. the A1
      extraction after a rule fix), without any model.
    """

    def set_judge(self, judge: Any) -> None: ...
    def rescore(self, records: Sequence[Record]) -> list[Record]: ...


flag = to_bool  # a boolean -T option (1/true/yes/on, 0/false/no/off): the one parser's


def task_options(given: Mapping[str, str], allowed: Mapping[str, Any], task: str) -> dict[str, Any]:
    """Validate ``-T key=value`` options for a task, with did-you-mean (the one parser: :mod:`qbench.options`)."""
    return parse_options(given, allowed, task, what="task option")

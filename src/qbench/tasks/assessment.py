"""A3 assessment: a quality score per image, correlated with human opinion (protocol.md 4 and 8.1-8.3).

With a model that can ``score_tokens`` the score is the official one: the next-token logits of the two level
words after "The quality of the image is", softmax at T=100. A model that only has ``quality`` (classical
IQA) gives its scalar directly. Metrics are scipy's SRCC/PLCC/KRCC, CGIQA-6K as the mean of its halves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from qbench.data.databases import find_database
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.metrics import bootstrap_interval, degenerate, fast_plcc, fast_srcc, grouped_correlations
from qbench.protocol import half_of
from qbench.tasks import prompts
from qbench.tasks.base import A3_SCORE_VERSION, a3_score, flag, task_options
from qbench.types import Record, Request, Sample
from qbench.undefined import number

# half_of lives in qbench.protocol (reports and data use it too); re-exported here for older imports.
__all__ = ["AssessmentTask", "half_of", "iqa_metrics", "rescore_record"]

OPTIONS = {"positive": str, "negative": str, "temperature": float, "logistic": flag, "bootstrap": int}


class AssessmentTask:
    name = "a3"
    needs = ("score_tokens", "quality")

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        opts = task_options(options or {}, OPTIONS, "a3")
        self.positive: str = opts.get("positive", prompts.A3_WORDS[0])
        self.negative: str = opts.get("negative", prompts.A3_WORDS[1])
        self.temperature: float = opts.get("temperature", prompts.A3_TEMPERATURE)
        self.logistic: bool = opts.get("logistic", False)
        self.bootstrap: int = opts.get("bootstrap", 1000)
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise UsageError(f"task option 'temperature={self.temperature}' for a3 must be a positive number")
        if not self.positive.strip() or not self.negative.strip():
            raise UsageError("task options 'positive' and 'negative' for a3 must be words, not empty")
        if self.positive.strip() == self.negative.strip():
            raise UsageError(
                f"task options 'positive' and 'negative' for a3 are both '{self.positive}'; "
                "the score compares two different words"
            )
        if self.bootstrap < 0:
            raise UsageError("task option 'bootstrap' must not be negative (0 turns intervals off)")
        self.capability = "score_tokens"

    def setup(self, capability: str, dataset: Dataset) -> None:
        if dataset.kind != "iqa":
            raise UsageError(
                f"task a3 needs images with opinion scores; '{dataset.name}' is {dataset.format} data"
            )
        self.capability = capability

    def manifest(self) -> dict[str, Any]:
        # logistic and bootstrap change numbers in metrics.json, so they are part of the run's identity
        info: dict[str, Any] = {
            "task": "a3",
            "capability": self.capability,
            "metric_options": {"logistic": self.logistic, "bootstrap": self.bootstrap},
        }
        if self.capability == "score_tokens":
            info.update(
                prompt_version=prompts.A3_PROMPT_VERSION,
                words=[self.positive, self.negative],
                temperature=self.temperature,
                score_version=A3_SCORE_VERSION,
            )
        return info

    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        return Request(
            content=prompts.a3_content(),
            images=images,
            image_keys=image_keys,
            assistant_prefix=prompts.A3_PREFIX,
            words=(self.positive, self.negative),
        )

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"img_path": sample.source, "mos": sample.mos}
        if self.capability == "score_tokens":
            logits = {word: float(result[word]) for word in (self.positive, self.negative)}
            out["logits"] = logits
            out["score"], out["score_form"] = a3_score(
                logits[self.positive], logits[self.negative], self.temperature
            )
        else:
            out["score"] = float(result)
        return out

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Scores recomputed from the stored logits with today's form (``qbench score``); scalars stay."""
        return [rescore_record(r, self.positive, self.negative, self.temperature) for r in records]

    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        return iqa_metrics(dataset, records, logistic=self.logistic, resamples=self.bootstrap)


def iqa_metrics(
    dataset: str, records: Sequence[Record], *, logistic: bool = False, resamples: int = 1000
) -> dict[str, Any]:
    """SRCC/PLCC/KRCC of record scores against MOS, with the database's halves rule and bootstrap intervals."""
    pred = np.array([number(r.output["score"]) for r in records])
    gt = np.array([float(r.output["mos"]) for r in records])
    names = [str(r.output.get("img_path", r.id)) for r in records]
    db = find_database(dataset)
    groups = None
    if db and db.halves:
        groups = [half_of(name, db.halves) for name in names]
        if None in groups:
            groups = None  # names do not follow the rule (a subset or a renamed copy): plain correlations
    metrics: dict[str, Any] = grouped_correlations(pred, gt, groups, logistic=logistic, label=dataset)  # type: ignore[arg-type]
    metrics["n"] = len(records)
    why = degenerate(pred, gt)
    if why:
        metrics["undefined"] = dict.fromkeys(metrics.keys() - {"n"}, f"correlation undefined: {why}")
    if groups is not None:
        metrics["halves"] = list(db.halves) if db else []
    if resamples and len(records) >= 3 and math.isfinite(metrics["srcc"]):
        metrics["srcc_ci"] = bootstrap_interval(
            lambda idx: fast_srcc(pred[idx], gt[idx]), len(pred), resamples=resamples
        )
        metrics["plcc_ci"] = bootstrap_interval(
            lambda idx: fast_plcc(pred[idx], gt[idx]), len(pred), resamples=resamples
        )
    return metrics


def rescore_record(record: Record, positive: str, negative: str, temperature: float) -> Record:
    """The record with its score (and ``score_form``) recomputed from its logits, if it has both words."""
    logits = record.output.get("logits")
    if not isinstance(logits, dict) or positive not in logits or negative not in logits:
        return record
    score, form = a3_score(number(logits[positive]), number(logits[negative]), temperature)
    return replace(record, output={**record.output, "score": score, "score_form": form})

"""A3 assessment: a quality score per image, correlated with human opinion (protocol.md 4 and 8.1-8.3).

With a model that can ``score_tokens`` the score is the official one: the next-token logits of the two level
words after "The quality of the image is", softmax at T=100. A model that only has ``quality`` (classical
IQA) gives its scalar directly. Metrics are scipy's SRCC/PLCC/KRCC, CGIQA-6K as the mean of its halves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qbench.checks import Tally, scores_tally
from qbench.data.databases import find_database
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.metrics import bootstrap_interval, degenerate, fast_plcc, fast_srcc, grouped_correlations
from qbench.protocol import half_of
from qbench.scoring.official import A3_SCORE_VERSION, a3_score
from qbench.tasks import prompts
from qbench.tasks.assessment_modes import MODE_OPTIONS, mode_from_options
from qbench.tasks.base import flag, task_options
from qbench.types import Record, Request, Sample
from qbench.undefined import number

# half_of lives in qbench.protocol (reports and data use it too); re-exported here for older imports.
__all__ = ["AssessmentOutput", "AssessmentTask", "half_of", "iqa_metrics", "read", "rescore_record"]

OPTIONS = {"positive": str, "negative": str, "temperature": float, "logistic": flag, "bootstrap": int}
OPTIONS |= (
    MODE_OPTIONS  # -T scoring=qalign|levels|ensemble|rating, preset=..., ... (tasks/assessment_modes.py)
)


@dataclass(frozen=True)
class AssessmentOutput:
    """One A3 record's output: the image, its MOS, the level words' logits and the score computed from them.

    This class is the only place that knows the A3 record keys. ``logits`` and ``score_form`` are set when the
    score comes from logits (``score_tokens``); a classical IQA model gives ``score`` alone. A score that is
    not a number is stored as null and read back as NaN. ``extra`` keeps keys this version does not know.
    """

    img_path: str | None = None
    mos: float | None = None
    logits: dict[str, float] | None = None
    score: float = math.nan
    score_form: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "img_path": self.img_path, "mos": self.mos}
        if self.logits is not None:
            out["logits"] = dict(self.logits)
        out["score"] = self.score
        if self.score_form is not None:
            out["score_form"] = self.score_form
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AssessmentOutput:
        data = dict(obj)
        logits = data.pop("logits", None)
        mos = data.pop("mos", None)
        return cls(
            img_path=data.pop("img_path", None),
            mos=None if mos is None else float(mos),
            logits={str(w): number(v) for w, v in logits.items()} if isinstance(logits, Mapping) else None,
            score=number(data.pop("score", None)),
            score_form=data.pop("score_form", None),
            extra=data,
        )


def read(record: Record) -> AssessmentOutput:
    """The typed output of an A3 record."""
    return AssessmentOutput.from_json(record.output)


# -- what the health check and ``qbench show`` need (qbench.checks) -------------------------------------------
def health_counts(records: Sequence[Record], metrics: Mapping[str, Any]) -> list[Tally]:
    """Scores that are not finite numbers, by the form that computed them."""
    outputs = [read(r) for r in records]
    return [scores_tally([f.score_form for f in outputs if not math.isfinite(f.score)], len(outputs))]


def describe_record(record: Record) -> str | None:
    """The score (and its form) against the MOS."""
    out = read(record)
    form = f" ({out.score_form})" if out.score_form else ""
    score = "n/a" if not math.isfinite(out.score) else f"{out.score:.6g}"
    return f"score {score}{form}, mos {out.mos}"


class AssessmentTask:
    name = "a3"
    needs: tuple[str, ...] = ("score_tokens", "quality")

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
        # None: the official default path below, untouched; else a scoring mode and/or preset (issue 14)
        self.mode = mode_from_options(
            opts, positive=self.positive, negative=self.negative, temperature=opts.get("temperature")
        )
        self.selection: dict[str, Any] | None = None
        if self.mode is not None:
            self.needs = self.mode.needs

    def choose_samples(self, dataset: Dataset) -> list[Sample]:
        """The samples to run before --limit/--shard: a preset's split list, ``samples=K`` copies (issue 14)."""
        if self.mode is None:
            return list(dataset.samples)
        chosen, self.selection = self.mode.select(dataset.name, dataset.samples)
        return chosen

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
        if self.mode is not None:
            info.update(self.mode.describe())
            if self.selection is not None:
                info["selection"] = self.selection
        elif self.capability == "score_tokens":
            info.update(
                prompt_version=prompts.A3_PROMPT_VERSION,
                words=[self.positive, self.negative],
                temperature=self.temperature,
                score_version=A3_SCORE_VERSION,
            )
        return info

    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        if self.mode is not None:
            return self.mode.request(sample, images, image_keys)
        return Request(
            content=prompts.a3_content(),
            images=images,
            image_keys=image_keys,
            assistant_prefix=prompts.A3_PREFIX,
            words=(self.positive, self.negative),
        )

    def outcome(self, sample: Sample, result: Any) -> AssessmentOutput:
        if self.mode is not None and self.capability != "quality":
            # a scoring mode's own fields (probs, reply, rating, ...) travel in ``extra``
            return AssessmentOutput.from_json(self.mode.output(sample, result))
        if self.capability == "score_tokens":
            logits = {word: float(result[word]) for word in (self.positive, self.negative)}
            score, form = a3_score(logits[self.positive], logits[self.negative], self.temperature)
            return AssessmentOutput(sample.source, sample.mos, logits, score, form)
        return AssessmentOutput(sample.source, sample.mos, score=float(result))

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        """The record fields (:meth:`outcome` as JSON)."""
        return self.outcome(sample, result).to_json()

    read = staticmethod(read)
    health_counts = staticmethod(health_counts)
    describe_record = staticmethod(describe_record)

    def rescore(self, records: Sequence[Record]) -> list[Record]:
        """Scores recomputed from the stored logits with today's form (``qbench score``); scalars stay."""
        if self.mode is not None:
            return [self.mode.rescore(r) for r in records]
        return [rescore_record(r, self.positive, self.negative, self.temperature) for r in records]

    def metrics(self, dataset: str, records: Sequence[Record]) -> dict[str, Any]:
        if self.mode is not None:
            return self.mode.metrics(
                dataset,
                records,
                lambda d, rs: iqa_metrics(d, rs, logistic=self.logistic, resamples=self.bootstrap),
            )
        return iqa_metrics(dataset, records, logistic=self.logistic, resamples=self.bootstrap)


def iqa_metrics(
    dataset: str, records: Sequence[Record], *, logistic: bool = False, resamples: int = 1000
) -> dict[str, Any]:
    """SRCC/PLCC/KRCC of record scores against MOS, with the database's halves rule and bootstrap intervals."""
    outputs = [read(r) for r in records]
    pred = np.array([o.score for o in outputs])
    gt = np.array([float(o.mos) for o in outputs])  # type: ignore[arg-type]  # an A3 record has a MOS
    names = [str(r.id if o.img_path is None else o.img_path) for r, o in zip(records, outputs)]
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
    out = read(record)
    if out.logits is None or positive not in out.logits or negative not in out.logits:
        return record
    score, form = a3_score(out.logits[positive], out.logits[negative], temperature)
    return replace(record, output=replace(out, score=score, score_form=form).to_json())

"""A3 scoring modes and presets (``-T scoring=...``, ``-T preset=...``; issue 14), used by the A3 task.

The default (``scoring=qbench``, no preset) never reaches this module: the A3 task keeps its own official path,
so old runs keep their identity. Anything else builds an :class:`A3Mode`, which

- builds the request (Q-Align's prompt with the question before the image; a rating prompt; padding to a
  square with the preset's colour),
- turns the model's result into record fields (``logits``/``probs``/``score`` for the level modes,
  ``reply``/``rating``/``score`` for ``rating``; an unparsed reply keeps ``score: null`` and its reason),
- selects the samples (a preset's split list; ``samples=K`` copies of each image as ``ID#k``, each its own
  seeded, cached and resumable request),
- adds to the metrics: the parse failure rate and the spread across samples (``rating``), the fitted SRCC/PLCC
  beside the raw ones (a preset with a fit), and which preset made the numbers.

Everything it does is described by :meth:`A3Mode.describe`, which the task puts into its manifest (and so into
the run's identity).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qbench.errors import DataError, UsageError
from qbench.protocol import LOWEST_LISTED
from qbench.scoring.fit import fit_logistic4
from qbench.scoring.levels import (
    DEFAULT_ENSEMBLE,
    ENSEMBLE_VERSION,
    LEVELS_VERSION,
    QALIGN_LEVELS,
    QALIGN_PREFIX,
    QALIGN_PROMPT_VERSION,
    Ensemble,
    Levels,
    ensemble_score,
    level_score,
    parse_levels,
    parse_words,
    qalign_content,
)
from qbench.scoring.presets import Preset, Selection, get_preset, load_selection, pad_to_square
from qbench.scoring.rating import PROMPTS, RATING_PARSE_VERSION, RatingPrompt, parse_rating
from qbench.scoring.samples import DEFAULT_SEED, PUBLISHED, aggregate
from qbench.types import ImageSlot, Record, Request, Sample, Text

log = logging.getLogger("qbench")

MODES = ("qbench", "qalign", "levels", "ensemble", "rating")
#: The -T options of the A3 task that belong to the modes (parsed here).
MODE_OPTIONS: dict[str, type] = {
    "scoring": str,
    "levels": str,
    "prompt": str,
    "samples": int,
    "seed": int,
    "missing": str,
    "pad": str,
    "preset": str,
    "home": str,
}
SAMPLE_SEPARATOR = "#"


@dataclass(frozen=True)
class A3Mode:
    """One A3 scoring mode with everything that changes its numbers."""

    name: str
    words: tuple[str, ...] = ()  # level words asked for (token modes)
    levels: Levels | None = None
    ensemble: Ensemble | None = None
    temperature: float = 100.0  # qbench mode's two-way softmax
    prompt: RatingPrompt | None = None
    samples: int = 0  # 0: greedy, one request per image
    seed: int = DEFAULT_SEED
    missing: str = "fail"  # "fail" | "floor"
    pad: tuple[int, int, int] | None = None
    preset: Preset | None = None
    home: Path | None = None  # the data home holding the preset's lists (QBENCH_DATA_DIR when None)

    @property
    def needs(self) -> tuple[str, ...]:
        # a quality-only model (classical IQA) still runs a preset's split and fit with its own scalar
        return ("generate",) if self.name == "rating" else ("score_tokens", "quality")

    @property
    def fit(self) -> str:
        return self.preset.fit if self.preset else "none"

    # -- identity --------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scoring": self.name}
        if self.name == "qbench":
            out["words"] = list(self.words)
            out["temperature"] = self.temperature
        elif self.name in ("qalign", "levels"):
            assert self.levels is not None
            out.update(levels=self.levels.describe(), score_version=LEVELS_VERSION)
            if self.name == "qalign":
                out["prompt_version"] = QALIGN_PROMPT_VERSION
        elif self.name == "ensemble":
            assert self.ensemble is not None
            out.update(ensemble=self.ensemble.describe(), score_version=ENSEMBLE_VERSION)
        else:
            assert self.prompt is not None
            out.update(rating_prompt=self.prompt.describe(), parse_version=RATING_PARSE_VERSION)
            if self.samples:
                sampling = PUBLISHED[self.prompt.name]
                out["sampling"] = {
                    "samples": self.samples,
                    "seeds": [self.seed + k for k in range(self.samples)],
                }
                out["sampling"].update(sampling.describe() | {"seed": None})
            else:
                out["sampling"] = {"samples": 0, "decoding": "greedy"}
        if self.name != "rating":
            out["missing"] = self.missing
        if self.pad:
            out["pad"] = {"to": "square", "rgb": list(self.pad)}
        if self.preset:
            out["preset"] = self.preset.describe()
        return out

    # -- samples ---------------------------------------------------------------------------------------------
    def select(
        self, dataset_name: str, samples: Sequence[Sample]
    ) -> tuple[list[Sample], dict[str, Any] | None]:
        """The samples this mode runs (a preset's list; K copies per image) and the record of the selection."""
        chosen = list(samples)
        info: dict[str, Any] | None = None
        if self.preset is not None:
            info = {"preset": self.preset.name, "database": dataset_name}
            selection: Selection | None = None
            if dataset_name in self.preset.databases:
                selection = load_selection(self.preset, dataset_name, self.home)
            else:
                log.warning(
                    "preset %s does not cover dataset '%s': it runs on its full set",
                    self.preset.name,
                    dataset_name,
                )
            info["covered"] = dataset_name in self.preset.databases
            if selection is not None:
                kept = [s for s in chosen if Path(s.source or s.id).name in selection.names]
                info["split"] = selection.describe(kept=len(kept), missing=len(selection.names) - len(kept))
                if not kept:
                    raise DataError(
                        f"none of the {len(selection.names)} images of the preset's list are in '{dataset_name}'",
                        file=selection.path,
                    )
                chosen = kept
            else:
                info["split"] = "full set"
        if self.samples:
            chosen = [
                replace(s, id=f"{s.id}{SAMPLE_SEPARATOR}{k}", extra={**s.extra, "rating_sample": k})
                for s in chosen
                for k in range(self.samples)
            ]
        return chosen, info

    # -- requests and records --------------------------------------------------------------------------------
    def request(self, sample: Sample, images: tuple[Any, ...], image_keys: tuple[str, ...]) -> Request:
        if self.pad is not None:
            images = tuple(pad_to_square(img, self.pad) for img in images)
            image_keys = tuple(f"{key}:pad{'-'.join(map(str, self.pad))}" for key in image_keys)
        if self.name == "rating":
            assert self.prompt is not None
            text = Text(self.prompt.text)
            content: tuple[Any, ...] = (
                (ImageSlot(0), text) if self.prompt.image_first else (text, ImageSlot(0))
            )
            k = sample.extra.get("rating_sample")
            sampling: tuple[tuple[str, Any], ...] = ()
            if k is not None:  # the authors' published settings, seed + k (recorded in the task info)
                given = PUBLISHED[self.prompt.name].with_seed(self.seed + int(k)).describe()
                sampling = tuple(sorted((name, v) for name, v in given.items() if v is not None))
            return Request(
                content=content,
                images=images,
                image_keys=image_keys,
                system=self.prompt.system,
                max_new_tokens=self.prompt.max_new_tokens,
                greedy=k is None,  # greedy by default; a sample k is decoded with sampling (and never cached)
                sampling=sampling,
            )
        if self.name == "qalign":
            content = qalign_content()
            prefix = QALIGN_PREFIX
        else:
            from qbench.tasks import prompts

            content, prefix = prompts.a3_content(), prompts.A3_PREFIX
        return Request(
            content=content, images=images, image_keys=image_keys, assistant_prefix=prefix, words=self.words
        )

    def output(self, sample: Sample, result: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"img_path": sample.source, "mos": sample.mos}
        if self.name == "rating":
            return {**out, **self._rating(sample, result)}
        logits, bounded = read_words(result, self.words, self.missing)
        out["logits"] = logits
        if bounded:
            out["bounded"] = bounded  # words missing from the reply, bounded by the lowest listed log-prob
        return {**out, **self._scored(logits)}

    def _scored(self, logits: Mapping[str, float]) -> dict[str, Any]:
        """``score`` and ``score_form`` (and Q-Align's ``probs``) from the level words' logits."""
        if self.name in ("qalign", "levels"):
            assert self.levels is not None
            scored = level_score(logits, self.levels)
            return {"score": scored.score, "probs": list(scored.probs), "score_form": scored.form}
        if self.name == "ensemble":
            assert self.ensemble is not None
            score, form = ensemble_score(logits, self.ensemble)
            return {"score": score, "score_form": form}
        from qbench.scoring.official import a3_score

        score, form = a3_score(logits[self.words[0]], logits[self.words[1]], self.temperature)
        return {"score": score, "score_form": form}

    def rescore(self, record: Record) -> Record:
        """The record's score recomputed with today's rules from what it stored: the logits, or the reply (a
        rating re-parsed). Records without them (a classical model's scalar) stay as they are."""
        out = dict(record.output)
        if self.name == "rating":
            if not isinstance(out.get("reply"), str):
                return record
            for key in ("rating", "score", "score_form", "parse_error"):
                out.pop(key, None)
            return replace(record, output={**out, **self._parsed(out["reply"])})
        logits = out.get("logits")
        if not isinstance(logits, Mapping) or any(w not in logits for w in self.words):
            return record
        values = {w: math.nan if logits[w] is None else float(logits[w]) for w in self.words}
        return replace(record, output={**out, **self._scored(values)})

    def _parsed(self, reply: str) -> dict[str, Any]:
        assert self.prompt is not None
        parsed = parse_rating(reply, self.prompt)
        fields: dict[str, Any] = {
            "rating": parsed.rating,
            "score": parsed.rating,  # None when unparsed: never imputed, counted in the metrics
            "score_form": parsed.form if parsed.ok else "unparsed",
        }
        if not parsed.ok:
            fields["parse_error"] = parsed.reason
        return fields

    def _rating(self, sample: Sample, result: Any) -> dict[str, Any]:
        assert self.prompt is not None
        reply = result if isinstance(result, str) else str(result)
        parsed = parse_rating(reply, self.prompt)
        fields: dict[str, Any] = {
            "reply": reply,
            "rating": parsed.rating,
            "score": parsed.rating,  # None when unparsed: never imputed, counted in the metrics
            "score_form": parsed.form if parsed.ok else "unparsed",
        }
        if not parsed.ok:
            fields["parse_error"] = parsed.reason
        k = sample.extra.get("rating_sample")
        if k is not None:
            fields.update(
                image_id=sample.id.rsplit(SAMPLE_SEPARATOR, 1)[0], sample=int(k), seed=self.seed + int(k)
            )
        return fields

    # -- metrics ---------------------------------------------------------------------------------------------
    def metrics(
        self, dataset: str, records: Sequence[Record], base: Callable[[str, Sequence[Record]], dict[str, Any]]
    ) -> dict[str, Any]:
        """``base`` (the task's SRCC/PLCC/KRCC) over the scored images, plus this mode's own figures."""
        extra: dict[str, Any] = {"scoring": self.name}
        scored = list(records)
        if self.name == "rating":
            scored, extra_rating = _rating_images(records)
            extra.update(extra_rating)
        metrics: dict[str, Any] = base(dataset, scored) if len(scored) else {"n": 0}
        metrics.update(extra)
        if self.preset is not None:
            metrics["preset"] = self.preset.name
        if self.fit == "logistic4-deqa" and len(scored) >= 4:
            import numpy as np

            from qbench.undefined import number

            pred = np.array([number(r.output["score"]) for r in scored])
            gt = np.array([float(r.output["mos"]) for r in scored])
            fit = fit_logistic4(pred, gt)
            metrics["srcc_fitted"], metrics["plcc_fitted"] = fit.srcc, fit.plcc
            metrics["fit"] = fit.describe()
            if fit.error:
                metrics.setdefault("undefined", {}).update(
                    srcc_fitted=f"logistic fit: {fit.error}", plcc_fitted=f"logistic fit: {fit.error}"
                )
        return metrics


def read_words(result: Any, words: Sequence[str], missing: str) -> tuple[dict[str, float], list[str]]:
    """Each word's logit/log-prob from the model's result; a missing word fails the sample, or, with
    ``missing=floor``, takes the lowest log-prob the server listed (and is named in ``bounded``)."""
    values: dict[str, float] = {}
    bounded: list[str] = []
    for word in words:
        try:
            values[word] = float(result[word])
        except KeyError as exc:
            floor = result.get(LOWEST_LISTED) if isinstance(result, Mapping) else None
            if missing != "floor" or floor is None:
                raise KeyError(
                    f"level word '{word}' is missing from the reply ({exc.args[0] if exc.args else ''})"
                ) from None
            values[word] = float(floor)
            bounded.append(word)
    return values, bounded


def _rating_images(records: Sequence[Record]) -> tuple[list[Record], dict[str, Any]]:
    """One record per image (the mean of its parsed samples) and the parse/spread figures."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(str(r.output.get("image_id", r.id)), []).append(r)
    images: list[Record] = []
    spreads: list[float] = []
    replies = unparsed = 0
    for image_id, group in groups.items():
        ratings = [r.output.get("rating") for r in group]
        replies += len(ratings)
        spread = aggregate([None if v is None else float(v) for v in ratings])
        unparsed += spread.unparsed
        if spread.n == 0:
            continue
        if len(group) > 1:
            spreads.append(spread.std)
        first = group[0].output
        images.append(
            Record(
                image_id, {"img_path": first.get("img_path"), "mos": first.get("mos"), "score": spread.mean}
            )
        )
    extra: dict[str, Any] = {
        "replies": replies,
        "unparsed": unparsed,
        "parse_failure_rate": unparsed / replies if replies else math.nan,
        "images_unscored": len(groups) - len(images),
    }
    if spreads:
        extra["spread_mean_std"] = float(sum(spreads) / len(spreads))
        extra["spread_max_std"] = float(max(spreads))
    return images, extra


def image_spreads(records: Sequence[Record]) -> dict[str, tuple[float, float, int]]:
    """Per image: (mean, std, parsed samples) of a ``samples=K`` rating run (for reports)."""
    groups: dict[str, list[Any]] = {}
    for r in records:
        groups.setdefault(str(r.output.get("image_id", r.id)), []).append(r.output.get("rating"))
    out = {}
    for image_id, ratings in groups.items():
        spread = aggregate([None if v is None else float(v) for v in ratings])
        out[image_id] = (spread.mean, spread.std, spread.n)
    return out


def mode_from_options(
    opts: Mapping[str, Any], *, positive: str, negative: str, temperature: float | None
) -> A3Mode | None:
    """The mode the A3 options ask for, or None for the untouched official default."""
    preset = get_preset(opts["preset"]) if "preset" in opts else None
    name = opts.get("scoring") or (preset.scoring if preset else "qbench")
    if name not in MODES:
        from qbench.registry import did_you_mean

        raise UsageError(
            f"task option 'scoring={name}' for a3 must be one of {', '.join(MODES)}",
            hint=did_you_mean(name, list(MODES)),
        )
    mode_keys = set(opts) & (set(MODE_OPTIONS) - {"scoring"})
    if name == "qbench" and not mode_keys:
        return None
    missing = opts.get("missing", "fail")
    if missing not in ("fail", "floor"):
        raise UsageError(f"task option 'missing={missing}' for a3 must be fail or floor")
    samples = int(opts.get("samples", 0))
    if samples < 0:
        raise UsageError("task option 'samples' must not be negative (0: greedy)")
    if samples and name != "rating":
        raise UsageError("task option 'samples' is for scoring=rating (level scores are deterministic)")
    if "prompt" in opts and name != "rating":
        raise UsageError("task option 'prompt' is for scoring=rating")
    if "levels" in opts and name != "levels":
        raise UsageError("task option 'levels' is for scoring=levels")
    pad = _pad(opts.get("pad"), preset)
    common: dict[str, Any] = {
        "missing": missing,
        "pad": pad,
        "preset": preset,
        "seed": int(opts.get("seed", DEFAULT_SEED)),
        "home": Path(opts["home"]) if opts.get("home") else None,
    }
    try:
        if name == "qbench":
            t = 100.0 if temperature is None else temperature
            return A3Mode("qbench", words=(positive, negative), temperature=t, **common)
        if name == "qalign":
            levels = QALIGN_LEVELS if temperature is None else replace(QALIGN_LEVELS, temperature=temperature)
            return A3Mode("qalign", words=levels.words, levels=levels, **common)
        if name == "levels":
            if "levels" not in opts:
                raise UsageError(
                    "scoring=levels needs -T levels=WORD:WEIGHT,... (e.g. excellent:5,good:4,fair:3)"
                )
            levels = parse_levels(str(opts["levels"]), 1.0 if temperature is None else temperature)
            return A3Mode("levels", words=levels.words, levels=levels, **common)
        if name == "ensemble":
            # without -T positive/negative: Q-Bench+ Table VIII's largest sets (good+high+fine vs poor+low+bad)
            pos = parse_words(str(opts["positive"])) if "positive" in opts else DEFAULT_ENSEMBLE.positive
            neg = parse_words(str(opts["negative"])) if "negative" in opts else DEFAULT_ENSEMBLE.negative
            ens = Ensemble(pos, neg, DEFAULT_ENSEMBLE.temperature if temperature is None else temperature)
            return A3Mode("ensemble", words=ens.words, ensemble=ens, **common)
        prompt_name = str(
            opts.get("prompt") or (preset.rating_prompt if preset and preset.rating_prompt else "plain")
        )
        if prompt_name not in PROMPTS:
            raise UsageError(f"task option 'prompt={prompt_name}' for a3 must be one of {', '.join(PROMPTS)}")
        return A3Mode("rating", prompt=PROMPTS[prompt_name], samples=samples, **common)
    except ValueError as exc:
        raise UsageError(f"a3 {name}: {exc}") from None


def _pad(value: Any, preset: Preset | None) -> tuple[int, int, int] | None:
    if value is None:
        return preset.pad_rgb if preset and preset.resize == "pad-square-mean" else None
    text = str(value).strip().lower()
    if text in ("none", "no", "0"):
        return None
    if text == "mean":
        from qbench.scoring.presets import CLIP_MEAN_RGB

        return CLIP_MEAN_RGB
    parts = text.split(",")
    try:
        rgb = tuple(int(p) for p in parts)
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise UsageError(f"task option 'pad={value}' must be none, mean or R,G,B (0..255 each)")
    return (rgb[0], rgb[1], rgb[2])

"""What the A1 builders share: regions, the seeded drawing helper, the checks, and the plan of each item.

A template draws a question (images, text, answer, wrong options) from a :class:`_Gen`; a draw whose check
fails raises :class:`_Retry` and is drawn again from the same seeded stream, so answers are certain and the
output still fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbench.data.synthetic.distortions import Step, apply_steps
from qbench.data.synthetic.files import _grey_sources, _pick, _rng, _uniform, load_sources
from qbench.data.synthetic.measures import (
    BLUR_RATIO_MAX,
    BRIGHT_MIN,
    DARK_MAX,
    GRAIN_MAX,
    NORMAL_LUMA,
    TEXTURE_MIN,
    _clipped_fraction,
    _mean_luma,
    sharpness,
)

_MAX_TRIES = 200


# --------------------------------------------------------------------------------------------------------
# Regions (in-context questions)
# --------------------------------------------------------------------------------------------------------

_HALVES = ("left", "right", "top", "bottom")
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


def _region_mask(shape: tuple[int, ...], region: str) -> np.ndarray:
    h, w = shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    if region == "left":
        mask[:, : w // 2] = True
    elif region == "right":
        mask[:, w // 2 :] = True
    elif region == "top":
        mask[: h // 2] = True
    elif region == "bottom":
        mask[h // 2 :] = True
    elif region in ("centre", "border"):
        mask[h // 4 : h - h // 4, w // 4 : w - w // 4] = True
        if region == "border":
            mask = ~mask
    else:
        raise ValueError(f"unknown region {region!r}")
    return mask


def _composite(base: np.ndarray, distorted: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``distorted`` inside ``mask``, ``base`` elsewhere: a hard edge, so the region is unmistakable."""
    return np.where(mask[..., None], distorted, base)


def _half(region: str) -> str:
    return f"the {region} half of the image"


# --------------------------------------------------------------------------------------------------------
# Question machinery
# --------------------------------------------------------------------------------------------------------

YES, NO = "Yes", "No"

_LABEL = {
    "blur": "Blur",
    "noise": "Noise",
    "jpeg": "JPEG compression artifacts",
    "pixelation": "Pixelation",
    "overexposure": "Overexposure",
    "underexposure": "Underexposure",
}
# Distortions that could be mistaken for one another at high strength are never offered side by side
# (heavy JPEG is blocky *and* smooth; pixelation is blocky; dark or washed-out images look low in contrast).
_CONFUSABLE = {
    "blur": {"jpeg", "pixelation"},
    "jpeg": {"blur", "pixelation", "noise"},
    "pixelation": {"jpeg", "blur"},
    "noise": {"jpeg"},
    "overexposure": set(),
    "underexposure": {"noise"},
}
# Strengths that make a distortion unmistakable (see each function for the physical values).
_STRONG = {
    "blur": (0.8, 1.0),
    "noise": (0.7, 1.0),
    "jpeg": (0.92, 1.0),
    "pixelation": (0.7, 1.0),
    "overexposure": (0.8, 1.0),
    "underexposure": (0.8, 1.0),
    "low_contrast": (0.9, 1.0),
    "colour_cast": (0.8, 1.0),
}
_TINT_WORD = {"red": "Reddish", "green": "Greenish", "blue": "Bluish", "yellow": "Yellowish"}


class _Retry(Exception):
    """A draw whose check failed; the builder draws again from the same seeded stream."""


def _check(ok: bool) -> None:
    if not ok:
        raise _Retry


@dataclass
class _Draft:
    """A question before its candidates are ordered: images, text, the answer and the wrong options."""

    images: list[np.ndarray]
    question: str
    correct: str
    wrong: list[str] = field(default_factory=list)


class _Gen:
    """Seeded drawing helpers shared by the question templates."""

    def __init__(self, rng: np.random.Generator, sources: Mapping[str, np.ndarray]) -> None:
        self.rng = rng
        self.sources = sources
        grey = _grey_sources()
        self.colour = [n for n in sources if n not in grey]
        self.grey = [n for n in sources if n in grey]

    def source(self, names: Sequence[str] | None = None) -> np.ndarray:
        return self.sources[_pick(self.rng, list(names or self.sources))]

    def strong(self, name: str) -> float:
        return _uniform(self.rng, *_STRONG[name])

    def distort(
        self, img: np.ndarray, name: str, strength: float | None = None, tint: str | None = None
    ) -> np.ndarray:
        s = self.strong(name) if strength is None else strength
        return apply_steps(img, [Step(name, s, tint)], rng=self.rng)

    def choice(self, seq: Sequence[Any]) -> Any:
        return _pick(self.rng, seq)

    def sample(self, seq: Sequence[Any], k: int) -> list[Any]:
        idx = self.rng.permutation(len(seq))[:k]
        return [seq[int(i)] for i in idx]


def _is_blurred(orig: np.ndarray, img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    before = sharpness(orig, mask)
    return before >= TEXTURE_MIN and sharpness(img, mask) <= BLUR_RATIO_MAX * before


def _is_sharp(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    return sharpness(img, mask) >= TEXTURE_MIN


def _distortion_visible(name: str, orig: np.ndarray, img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """The check behind any claim that ``name`` is (strongly) present."""
    if name == "blur":
        return _is_blurred(orig, img, mask)
    if name == "overexposure":
        return (
            _mean_luma(img, mask) >= BRIGHT_MIN - 0.05
            and _mean_luma(img, mask) - _mean_luma(orig, mask) > 0.25
        )
    if name == "underexposure":
        return _mean_luma(img, mask) <= DARK_MAX
    if name in ("pixelation", "jpeg"):
        return _is_sharp(orig, mask)  # blocks only show on detail
    return True


def _quiet(img: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """Not busy with fine grain: only such content may be called noise-free (a lawn is not, to the eye)."""
    return sharpness(img, mask) <= GRAIN_MAX


def _pristine_ok(img: np.ndarray) -> bool:
    """A pristine photo offered as "no distortion": textured, not grainy, neither dark nor blown out."""
    return (
        _is_sharp(img)
        and _quiet(img)
        and NORMAL_LUMA[0] - 0.05 <= _mean_luma(img)
        and _clipped_fraction(img) < 0.1
    )


Template = Callable[..., _Draft]


# --------------------------------------------------------------------------------------------------------
# Shared planning: which template and which Yes/No answer each item gets
# --------------------------------------------------------------------------------------------------------

NO_SHARE = 0.4  # as in the official data (protocol.md 1.1): about 40 % of Yes/No questions answer "No"


@dataclass(frozen=True)
class _Plan:
    qtype: int
    concern: int
    template: Template
    answer: str | None


def _plan(
    templates: Mapping[tuple[int, int], Sequence[Template]], per_cell: int, rng: np.random.Generator
) -> list[_Plan]:
    """Every (type, concern) cell gets ``per_cell`` items, its templates used in turn (in a seeded order), and
    exactly ``round(0.4 * n)`` of the ``n`` Yes/No items answer "No"; the item order is then shuffled."""
    cells = sorted(templates)
    n_yn = per_cell * sum(1 for t, _ in cells if t == 0)
    answers = [NO] * round(NO_SHARE * n_yn) + [YES] * (n_yn - round(NO_SHARE * n_yn))
    answers = [answers[int(i)] for i in rng.permutation(n_yn)]
    plans = []
    for qtype, concern in cells:
        order = [
            templates[(qtype, concern)][int(i)] for i in rng.permutation(len(templates[(qtype, concern)]))
        ]
        for j in range(per_cell):
            answer = answers.pop() if qtype == 0 else None
            plans.append(_Plan(qtype, concern, order[j % len(order)], answer))
    return [plans[int(i)] for i in rng.permutation(len(plans))]


def _realise(plan: _Plan, g: _Gen) -> _Draft:
    for _ in range(_MAX_TRIES):
        try:
            return plan.template(g, plan.answer) if plan.qtype == 0 else plan.template(g)
        except _Retry:
            continue
    raise RuntimeError(f"{plan.template.__name__}: no draw passed its check in {_MAX_TRIES} tries (a bug)")


def _candidates(draft: _Draft, qtype: int, rng: np.random.Generator) -> list[str]:
    """Yes/No: both words in a seeded order. Others: the answer among the wrong options at a seeded place."""
    options = [YES, NO] if qtype == 0 else [draft.correct, *draft.wrong]
    if len(set(options)) != len(options) or not 2 <= len(options) <= 4:
        raise RuntimeError(f"bad options for {draft.question!r}: {options}")
    return [options[int(i)] for i in rng.permutation(len(options))]


def _draft_items(
    templates: Mapping[tuple[int, int], Sequence[Template]], per_cell: int, seed: int, stream: int
) -> Iterator[tuple[_Plan, _Draft, list[str]]]:
    sources = load_sources()
    plans = _plan(templates, per_cell, _rng(seed, stream, 0))
    for i, plan in enumerate(plans, start=1):
        rng = _rng(seed, stream, i)
        draft = _realise(plan, _Gen(rng, sources))
        yield plan, draft, _candidates(draft, plan.qtype, rng)

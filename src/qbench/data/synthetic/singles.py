"""A1 single images: questions in the LLVisionQA json format, including in-context questions about regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qbench.data.synthetic.distortions import TINTS
from qbench.data.synthetic.files import _STREAM_A1, _uniform, _write_json, _Writer
from qbench.data.synthetic.measures import (
    BRIGHT_MIN,
    DARK_MAX,
    HIGH_CONTRAST_SD_MIN,
    LOW_CONTRAST_SD_MAX,
    NORMAL_LUMA,
    REGION_LUMA_GAP,
    TEXTURE_MIN,
    _clearly_tinted,
    _clipped_fraction,
    _luma_sd,
    _mean_luma,
    _neutral,
    _tint_score,
    sharpness,
)
from qbench.data.synthetic.questions import (
    _CONFUSABLE,
    _HALVES,
    _LABEL,
    _OPPOSITE,
    _TINT_WORD,
    NO,
    YES,
    Template,
    _check,
    _composite,
    _distortion_visible,
    _Draft,
    _draft_items,
    _Gen,
    _half,
    _is_blurred,
    _is_sharp,
    _pristine_ok,
    _quiet,
    _region_mask,
)

A1_JSON = "synthetic_a1_dev.json"


# ---- A1 single-image templates. Each takes the generator and, for Yes/No, the answer to produce. -------


def _t_yn_blurry(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "blur")
        _check(_is_blurred(src, img))
    else:
        img = src.copy()
        _check(_is_sharp(img))
    return _Draft([img], g.choice(["Is this image blurry?", "Is this image out of focus?"]), answer)


def _t_yn_noisy(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    img = g.distort(src, "noise") if answer == YES else src.copy()
    _check(answer == YES or _quiet(img))
    return _Draft([img], g.choice(["Is there obvious noise in this image?", "Is this image noisy?"]), answer)


def _t_yn_clean(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = src.copy()
        _check(_pristine_ok(img))
    else:
        name = g.choice(["blur", "noise", "jpeg", "pixelation"])
        img = g.distort(src, name)
        _check(_distortion_visible(name, src, img))
    return _Draft([img], "Is this image free of visible distortions?", answer)


def _t_yn_pixelated(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    img = g.distort(src, "pixelation") if answer == YES else src.copy()
    _check(_is_sharp(src))
    return _Draft([img], "Is this image pixelated, with visible square blocks?", answer)


def _t_yn_overexposed(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "overexposure")
        _check(_distortion_visible("overexposure", src, img))
    else:
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1] and _clipped_fraction(img) < 0.05)
    return _Draft([img], "Is this image overexposed?", answer)


def _t_what_distortion(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    src = g.source()
    img = g.distort(src, name)
    _check(_distortion_visible(name, src, img))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    q = g.choice(
        ["What is the most obvious distortion in this image?", "What distortion does this image suffer from?"]
    )
    return _Draft([img], q, _LABEL[name], g.sample(wrong, 3))


def _t_what_exposure(g: _Gen) -> _Draft:
    kind = g.choice(["overexposure", "underexposure", "none"])
    src = g.source()
    if kind == "none":
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1] and _clipped_fraction(img) < 0.05)
    else:
        img = g.distort(src, kind)
        _check(_distortion_visible(kind, src, img))
    options = {"overexposure": "Overexposed", "underexposure": "Underexposed", "none": "Properly exposed"}
    wrong = [v for k, v in options.items() if k != kind]
    return _Draft([img], "What is the exposure problem of this image, if any?", options[kind], wrong)


def _t_how_clarity(g: _Gen) -> _Draft:
    src = g.source()
    if g.rng.random() < 0.5:
        img = g.distort(src, "blur")
        _check(_is_blurred(src, img))
        return _Draft([img], "How is the clarity of this image?", "Low", ["High", "Medium"])
    img = src.copy()
    _check(_is_sharp(img) and sharpness(img) >= 2 * TEXTURE_MIN)
    return _Draft([img], "How is the clarity of this image?", "High", ["Low", "Medium"])


def _t_how_noise(g: _Gen) -> _Draft:
    src = g.source()
    options = ["Severe", "Moderate", "Hardly any"]
    if g.rng.random() < 0.5:
        img = g.distort(src, "noise", _uniform(g.rng, 0.85, 1.0))
        return _Draft([img], "How severe is the noise in this image?", "Severe", options[1:])
    _check(_quiet(src))
    return _Draft([src.copy()], "How severe is the noise in this image?", "Hardly any", options[:2])


def _t_yn_greyscale(g: _Gen, answer: str) -> _Draft:
    img = g.source(g.grey if answer == YES else g.colour).copy()
    if answer == NO:
        _check(not _neutral(img) or float(np.abs(img - img.mean(axis=2, keepdims=True)).mean()) > 0.03)
    q = g.choice(["Is this a black-and-white image?", "Is this image in greyscale?"])
    return _Draft([img], q, answer)


def _t_yn_dark(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "underexposure")
        _check(_mean_luma(img) <= DARK_MAX)
    else:
        img = g.distort(src, "overexposure") if g.rng.random() < 0.5 else src.copy()
        _check(_mean_luma(img) >= NORMAL_LUMA[0])
    return _Draft([img], "Is this image very dark overall?", answer)


def _t_yn_tint(g: _Gen, answer: str) -> _Draft:
    tint = g.choice(TINTS)
    if answer == YES:
        src = g.source()
        img = g.distort(src, "colour_cast", tint=tint)
        _check(_clearly_tinted(img, tint))
    elif g.rng.random() < 0.5:
        img = g.source(g.grey).copy()
    else:
        other = g.choice([t for t in TINTS if t != tint])
        img = g.distort(g.source(), "colour_cast", tint=other)
        _check(_clearly_tinted(img, other) and _tint_score(img, tint) < 0)
    return _Draft([img], f"Does this image have a strong {tint} tint?", answer)


def _t_yn_low_contrast(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    if answer == YES:
        img = g.distort(src, "low_contrast")
        _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX)
    else:
        img = src.copy()
        _check(_luma_sd(img) >= HIGH_CONTRAST_SD_MIN)
    return _Draft([img], "Is the contrast of this image low?", answer)


def _t_what_tone(g: _Gen) -> _Draft:
    tint = g.choice(TINTS)
    img = g.distort(g.source(), "colour_cast", tint=tint)
    _check(_clearly_tinted(img, tint))
    wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
    return _Draft([img], "What is the dominant colour tone of this image?", _TINT_WORD[tint], wrong)


def _t_what_colour_mode(g: _Gen) -> _Draft:
    options = ["Full colour", "Black and white", "Infrared false colour"]
    if g.rng.random() < 0.5:
        return _Draft(
            [g.source(g.grey).copy()],
            "What is the colour mode of this image?",
            options[1],
            [options[0], options[2]],
        )
    img = g.source(g.colour).copy()
    return _Draft([img], "What is the colour mode of this image?", options[0], options[1:])


def _t_how_brightness(g: _Gen) -> _Draft:
    src = g.source()
    kind = g.choice(["overexposure", "underexposure", "none"])
    options = {"overexposure": "Very bright", "underexposure": "Very dark", "none": "Moderate"}
    if kind == "none":
        img = src.copy()
        _check(NORMAL_LUMA[0] <= _mean_luma(img) <= NORMAL_LUMA[1])
    else:
        img = g.distort(src, kind)
        lum = _mean_luma(img)
        _check(lum >= BRIGHT_MIN if kind == "overexposure" else lum <= DARK_MAX)
    wrong = [v for k, v in options.items() if k != kind]
    return _Draft([img], "How is the brightness of this image?", options[kind], wrong)


def _t_how_colourfulness(g: _Gen) -> _Draft:
    options = ["Vivid", "Muted", "No colour at all"]
    if g.rng.random() < 0.5:
        img = g.source(g.grey).copy()
        return _Draft([img], "How colourful is this image?", options[2], options[:2])
    src = g.source(g.colour)
    img = g.distort(src, "low_contrast", 1.0)
    _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX)
    return _Draft([img], "How colourful is this image?", options[1], [options[0], options[2]])


def _t_how_contrast(g: _Gen) -> _Draft:
    src = g.source()
    img = g.distort(src, "low_contrast")
    _check(_luma_sd(img) <= LOW_CONTRAST_SD_MAX and _luma_sd(src) >= HIGH_CONTRAST_SD_MIN * 0.75)
    return _Draft([img], "How is the contrast of this image?", "Low", ["High", "Medium"])


# ---- in-context (region) templates ----------------------------------------------------------------------


def _distort_half(g: _Gen, src: np.ndarray, name: str, region: str, **kw: Any) -> np.ndarray:
    return _composite(src, g.distort(src, name, **kw), _region_mask(src.shape, region))


def _t_yn_region_blur(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_other = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and _is_sharp(img, m_other))
    asked = blurred if answer == YES else _OPPOSITE[blurred]
    return _Draft([img], f"Is {_half(asked)} blurrier than {_half(_OPPOSITE[asked])}?", answer)


def _t_yn_region_noise(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    noisy = g.choice(_HALVES)
    img = _distort_half(g, src, "noise", noisy)
    asked = noisy if answer == YES else _OPPOSITE[noisy]
    _check(answer == YES or _quiet(img, _region_mask(img.shape, asked)))
    return _Draft([img], f"Is {_half(asked)} affected by noise?", answer)


def _t_yn_region_pixelated(g: _Gen, answer: str) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "pixelation", region)
    _check(_is_sharp(src, _region_mask(src.shape, region)))
    asked = region if answer == YES else _OPPOSITE[region]
    return _Draft([img], f"Is {_half(asked)} pixelated?", answer)


def _t_what_region_blurred(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", region)
    _check(
        _is_blurred(src, img, _region_mask(src.shape, region))
        and _is_sharp(img, _region_mask(src.shape, _OPPOSITE[region]))
    )
    wrong = [f"The {_OPPOSITE[region]} half", "The whole image", "No part of it"]
    return _Draft([img], "Which part of this image is blurred?", f"The {region} half", wrong)


def _t_what_region_distortion(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise", "pixelation", "overexposure", "underexposure"])
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, name, region)
    _check(_distortion_visible(name, src, img, _region_mask(src.shape, region)))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    return _Draft([img], f"What distortion affects {_half(region)}?", _LABEL[name], g.sample(wrong, 3))


def _t_what_focus(g: _Gen) -> _Draft:
    """A shallow depth of field, or its inverse: only the centre (or only the border) stays sharp."""
    src = g.source()
    sharp = g.choice(["centre", "border"])
    blurred = "border" if sharp == "centre" else "centre"
    img = _composite(src, g.distort(src, "blur"), _region_mask(src.shape, blurred))
    _check(
        _is_blurred(src, img, _region_mask(src.shape, blurred))
        and _is_sharp(img, _region_mask(src.shape, sharp))
    )
    options = {"centre": "The centre", "border": "The outer border area"}
    wrong = [options[blurred], "No part of it"]
    return _Draft([img], "Which part of this image is in sharp focus?", options[sharp], wrong)


def _t_how_region_clarity(g: _Gen) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_sharp = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and sharpness(img, m_sharp) >= 2 * TEXTURE_MIN)
    if g.rng.random() < 0.5:
        return _Draft([img], f"How is the clarity of {_half(blurred)}?", "Low", ["High", "Medium"])
    return _Draft([img], f"How is the clarity of {_half(_OPPOSITE[blurred])}?", "High", ["Low", "Medium"])


def _t_how_region_sharper(g: _Gen) -> _Draft:
    src = g.source()
    blurred = g.choice(_HALVES)
    img = _distort_half(g, src, "blur", blurred)
    m_blur, m_sharp = _region_mask(src.shape, blurred), _region_mask(src.shape, _OPPOSITE[blurred])
    _check(_is_blurred(src, img, m_blur) and _is_sharp(img, m_sharp))
    asked = g.choice([blurred, _OPPOSITE[blurred]])
    correct = "Blurrier" if asked == blurred else "Sharper"
    wrong = [w for w in ("Sharper", "Blurrier", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how sharp is {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


def _t_how_region_noise(g: _Gen) -> _Draft:
    src = g.source()
    noisy = g.choice(_HALVES)
    img = _distort_half(g, src, "noise", noisy, strength=_uniform(g.rng, 0.85, 1.0))
    options = ["Severe", "Moderate", "Hardly any"]
    if g.rng.random() < 0.5:
        return _Draft([img], f"How severe is the noise in {_half(noisy)}?", "Severe", options[1:])
    _check(_quiet(img, _region_mask(img.shape, _OPPOSITE[noisy])))
    return _Draft([img], f"How severe is the noise in {_half(_OPPOSITE[noisy])}?", "Hardly any", options[:2])


def _brightness_split(g: _Gen) -> tuple[np.ndarray, str]:
    """An image whose ``brighter`` half is clearly brighter than the opposite one; returns (img, brighter)."""
    src = g.source()
    region = g.choice(_HALVES)
    name = g.choice(["overexposure", "underexposure"])
    img = _distort_half(g, src, name, region)
    other = _OPPOSITE[region]
    brighter = region if name == "overexposure" else other
    darker = _OPPOSITE[brighter]
    gap = _mean_luma(img, _region_mask(img.shape, brighter)) - _mean_luma(
        img, _region_mask(img.shape, darker)
    )
    _check(gap >= REGION_LUMA_GAP)
    return img, brighter


def _t_yn_region_brighter(g: _Gen, answer: str) -> _Draft:
    img, brighter = _brightness_split(g)
    asked = brighter if answer == YES else _OPPOSITE[brighter]
    return _Draft([img], f"Is {_half(asked)} brighter than {_half(_OPPOSITE[asked])}?", answer)


def _t_yn_region_tint(g: _Gen, answer: str) -> _Draft:
    src = g.source(g.grey)
    region = g.choice(_HALVES)
    tint = g.choice(TINTS)
    img = _distort_half(g, src, "colour_cast", region, tint=tint)
    _check(_clearly_tinted(img, tint, _region_mask(img.shape, region)))
    asked = region if answer == YES else _OPPOSITE[region]
    return _Draft([img], f"Does {_half(asked)} have a {tint} tint?", answer)


def _t_what_region_darker(g: _Gen) -> _Draft:
    img, brighter = _brightness_split(g)
    darker = _OPPOSITE[brighter]
    wrong = [f"The {brighter} half", "Neither, the lighting is even"]
    return _Draft([img], "Which part of this image is darker?", f"The {darker} half", wrong)


def _t_what_region_tint(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    tint = g.choice(TINTS)
    img = _distort_half(g, src, "colour_cast", region, tint=tint)
    _check(_clearly_tinted(img, tint, _region_mask(img.shape, region)))
    wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
    return _Draft([img], f"What colour tint does {_half(region)} have?", _TINT_WORD[tint], wrong)


def _t_how_region_brightness(g: _Gen) -> _Draft:
    img, brighter = _brightness_split(g)
    asked = g.choice([brighter, _OPPOSITE[brighter]])
    correct = "Brighter" if asked == brighter else "Darker"
    wrong = [w for w in ("Brighter", "Darker", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how is the brightness of {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


def _t_how_region_contrast(g: _Gen) -> _Draft:
    src = g.source()
    region = g.choice(_HALVES)
    img = _distort_half(g, src, "low_contrast", region, strength=1.0)
    m_low, m_other = _region_mask(img.shape, region), _region_mask(img.shape, _OPPOSITE[region])
    _check(_luma_sd(img, m_low) <= 0.4 * _luma_sd(img, m_other))
    asked = g.choice([region, _OPPOSITE[region]])
    correct = "Lower" if asked == region else "Higher"
    wrong = [w for w in ("Higher", "Lower", "About the same") if w != correct]
    q = f"Compared to {_half(_OPPOSITE[asked])}, how is the contrast of {_half(asked)}?"
    return _Draft([img], q, correct, wrong)


#: (type, concern) -> templates. Types: 0 Yes-or-No, 1 What, 2 How. Concerns: 0 distortion, 1 other,
#: 2 in-context distortion, 3 in-context other (protocol.md 1.2).
_A1_TEMPLATES: dict[tuple[int, int], tuple[Template, ...]] = {
    (0, 0): (_t_yn_blurry, _t_yn_noisy, _t_yn_clean, _t_yn_pixelated, _t_yn_overexposed),
    (1, 0): (_t_what_distortion, _t_what_exposure),
    (2, 0): (_t_how_clarity, _t_how_noise),
    (0, 1): (_t_yn_greyscale, _t_yn_dark, _t_yn_tint, _t_yn_low_contrast),
    (1, 1): (_t_what_tone, _t_what_colour_mode),
    (2, 1): (_t_how_brightness, _t_how_colourfulness, _t_how_contrast),
    (0, 2): (_t_yn_region_blur, _t_yn_region_noise, _t_yn_region_pixelated),
    (1, 2): (_t_what_region_blurred, _t_what_region_distortion, _t_what_focus),
    (2, 2): (_t_how_region_clarity, _t_how_region_sharper, _t_how_region_noise),
    (0, 3): (_t_yn_region_brighter, _t_yn_region_tint),
    (1, 3): (_t_what_region_darker, _t_what_region_tint),
    (2, 3): (_t_how_region_brightness, _t_how_region_contrast),
}


def build_a1(out_dir: Path, *, seed: int = 0, per_cell: int = 7) -> Path:
    """Write A1 single-image questions in the LLVisionQA json format; return the json path.

    ``per_cell`` questions for each of the 12 (type, concern) cells (84 by default), each with its own PNG
    under ``out_dir/images`` (``img_path`` = ``images/a1_000.png``, relative to the json's folder). Items
    carry exactly the official keys, in the official order: type, concern, question, img_path, candidates,
    correct_ans. About 40 % of Yes/No answers are "No"; Yes/No candidates come in a seeded order and other
    answers sit at a seeded position, so neither the letter nor the word order gives the answer away.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    items = []
    with _Writer() as writer:
        for i, (plan, draft, candidates) in enumerate(
            _draft_items(_A1_TEMPLATES, per_cell, seed, _STREAM_A1)
        ):
            rel = f"images/a1_{i:03d}.png"
            writer.png(out_dir / rel, draft.images[0])
            items.append(
                {
                    "type": plan.qtype,
                    "concern": plan.concern,
                    "question": draft.question,
                    "img_path": rel,
                    "candidates": candidates,
                    "correct_ans": draft.correct,
                }
            )
    path = out_dir / A1_JSON
    _write_json(path, items)
    return path

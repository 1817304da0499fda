"""A1 pairs: questions in the Q-Bench2 raw jsonl format, with the concatenated pair image and both originals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qbench.data.synthetic.distortions import TINTS
from qbench.data.synthetic.files import _STREAM_PAIRS, _Writer
from qbench.data.synthetic.measures import (
    BRIGHT_MIN,
    DARK_MAX,
    NORMAL_LUMA,
    REGION_LUMA_GAP,
    TINT_MARGIN,
    _clearly_tinted,
    _luma_sd,
    _mean_luma,
    _neutral,
    _tint_score,
)
from qbench.data.synthetic.questions import (
    _CONFUSABLE,
    _LABEL,
    _TINT_WORD,
    NO,
    YES,
    Template,
    _check,
    _distortion_visible,
    _Draft,
    _draft_items,
    _Gen,
    _is_blurred,
    _is_sharp,
    _pristine_ok,
    _quiet,
)

PAIRS_JSONL = "synthetic_a1_pairs_dev.jsonl"
#: Folder of concatenated pair images and of the pair originals, as in the official Q-Bench2 release.
PAIR_PREFIX = "llvisionqa_compare_dev"
PAIR_ORIGINALS_DIR = "all_single_images"


# --------------------------------------------------------------------------------------------------------
# A1 pairs
# --------------------------------------------------------------------------------------------------------

FIRST, SECOND = "The first image", "The second image"


def _same_source_pair(
    g: _Gen, name: str, *, names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """One source twice, one copy strongly distorted: a comparison whose only difference is the distortion.
    Returns (first, second, index of the distorted one)."""
    src = g.source(names)
    img = g.distort(src, name)
    _check(_distortion_visible(name, src, img))
    which = int(g.rng.integers(2))
    pair = (img, src.copy()) if which == 0 else (src.copy(), img)
    return pair[0], pair[1], which


def _two_sources(g: _Gen, names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    a, b = g.sample(list(names or g.sources), 2)
    return g.sources[a], g.sources[b]


_DIST_NOUN = {"blur": "blurrier", "noise": "noisier", "pixelation": "more pixelated"}


def _p_yn_compare(g: _Gen, answer: str) -> _Draft:
    name = g.choice(list(_DIST_NOUN))
    first, second, which = _same_source_pair(g, name)
    asked = which if answer == YES else 1 - which
    a, b = ("first", "second") if asked == 0 else ("second", "first")
    return _Draft([first, second], f"Is the {a} image {_DIST_NOUN[name]} than the {b} image?", answer)


def _p_what_which(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise", "jpeg", "overexposure"])
    first, second, which = _same_source_pair(g, name)
    q = {
        "blur": "Which image is blurrier?",
        "noise": "Which image has more noise?",
        "jpeg": "Which image suffers more from compression artifacts?",
        "overexposure": "Which image is more severely affected by overexposure?",
    }[name]
    return _Draft([first, second], q, [FIRST, SECOND][which], [[FIRST, SECOND][1 - which]])


def _p_what_extra_distortion(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    first, second, which = _same_source_pair(g, name)
    a, b = ("first", "second") if which == 0 else ("second", "first")
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    q = f"What distortion does the {a} image have that the {b} image does not?"
    return _Draft([first, second], q, _LABEL[name], g.sample(wrong, 3))


def _p_how_compare(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise"])
    words = {"blur": ("clarity", "More blurry", "Clearer"), "noise": ("noise level", "Higher", "Lower")}[name]
    attr, worse, better = words
    if g.rng.random() < 0.25:  # identical twins: "About the same" is then certain
        src = g.source()
        first = second = g.distort(src, name) if g.rng.random() < 0.5 else src.copy()
        correct = "About the same"
    else:
        first, second, which = _same_source_pair(g, name)
        correct = worse if which == 1 else better
    wrong = [w for w in (worse, better, "About the same") if w != correct]
    return _Draft(
        [first, second],
        f"Compared to the first image, how is the {attr} of the second image?",
        correct,
        wrong,
    )


_JOINT_Q = {
    "blur": "Are both images blurry?",
    "noise": "Are both images noisy?",
    "pixelation": "Are both images pixelated?",
}


def _p_yn_joint(g: _Gen, answer: str) -> _Draft:
    kind = g.choice(["blur", "noise", "pixelation", "clean"])
    a, b = _two_sources(g)
    if kind == "clean":
        if answer == YES:
            first, second = a.copy(), b.copy()
            _check(_pristine_ok(first) and _pristine_ok(second))
        else:
            name = g.choice(["blur", "noise", "pixelation"])
            first, second = g.distort(a, name), b.copy()
            _check(_distortion_visible(name, a, first) and _pristine_ok(second))
            if g.rng.random() < 0.5:
                first, second = second, first
        return _Draft([first, second], "Are both images free of visible distortions?", answer)
    first = g.distort(a, kind)
    second = g.distort(b, kind) if answer == YES else b.copy()
    _check(_distortion_visible(kind, a, first) and (answer == NO or _distortion_visible(kind, b, second)))
    if answer == NO:
        _check(_is_sharp(second) if kind == "blur" else kind != "noise" or _quiet(second))
    if g.rng.random() < 0.5:
        first, second = second, first
    return _Draft([first, second], _JOINT_Q[kind], answer)


def _p_what_common(g: _Gen) -> _Draft:
    name = g.choice(list(_LABEL))
    a, b = _two_sources(g)
    first, second = g.distort(a, name), g.distort(b, name)
    _check(_distortion_visible(name, a, first) and _distortion_visible(name, b, second))
    wrong = [_LABEL[n] for n in _LABEL if n != name and n not in _CONFUSABLE[name]]
    return _Draft([first, second], "What distortion do both images have?", _LABEL[name], g.sample(wrong, 3))


def _p_what_which_blurry(g: _Gen) -> _Draft:
    a, b = _two_sources(g)
    blurred = [bool(g.rng.integers(2)), bool(g.rng.integers(2))]
    pair = []
    for src, is_blurred in zip((a, b), blurred, strict=True):
        img = g.distort(src, "blur") if is_blurred else src.copy()
        _check(_is_blurred(src, img) if is_blurred else _is_sharp(img))
        pair.append(img)
    options = {
        (True, True): "Both images",
        (False, False): "Neither image",
        (True, False): "Only the first image",
        (False, True): "Only the second image",
    }
    correct = options[(blurred[0], blurred[1])]
    return _Draft(
        pair, "Which of the two images are blurry?", correct, [v for v in options.values() if v != correct]
    )


def _p_how_joint(g: _Gen) -> _Draft:
    name = g.choice(["blur", "noise"])
    a, b = _two_sources(g)
    state = g.choice(["both", "none", "one"])
    first = g.distort(a, name) if state in ("both", "one") else a.copy()
    second = g.distort(b, name) if state == "both" else b.copy()
    if name == "blur":
        _check(_is_blurred(a, first) if state != "none" else _is_sharp(first))
        _check(_is_blurred(b, second) if state == "both" else _is_sharp(second))
    else:
        _check(state != "none" or _quiet(first))
        _check(state == "both" or _quiet(second))
    if state == "one" and g.rng.random() < 0.5:
        first, second = second, first
    if name == "blur":
        options = {
            "both": "Both are blurry",
            "none": "Both are clear",
            "one": "One is clear and one is blurry",
        }
        q = "How is the clarity of the two images?"
    else:
        options = {"both": "Both are noisy", "none": "Neither is noisy", "one": "Only one of them is noisy"}
        q = "How noisy are the two images?"
    correct = options[state]
    return _Draft([first, second], q, correct, [v for v in options.values() if v != correct])


def _exposure_pair(g: _Gen) -> tuple[np.ndarray, np.ndarray, int]:
    """Same source, one copy re-exposed; returns (first, second, index of the brighter one)."""
    src = g.source()
    name = g.choice(["overexposure", "underexposure"])
    img = g.distort(src, name)
    _check(abs(_mean_luma(img) - _mean_luma(src)) >= REGION_LUMA_GAP)
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    brighter = which if name == "overexposure" else 1 - which
    return first, second, brighter


def _contrast_pair(g: _Gen) -> tuple[np.ndarray, np.ndarray, int]:
    """Same source, one copy hazed; returns (first, second, index of the low-contrast one)."""
    src = g.source()
    img = g.distort(src, "low_contrast")
    _check(_luma_sd(img) <= 0.4 * _luma_sd(src))
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    return first, second, which


def _p_yn_other_compare(g: _Gen, answer: str) -> _Draft:
    if g.rng.random() < 0.5:
        first, second, brighter = _exposure_pair(g)
        asked = brighter if answer == YES else 1 - brighter
        a, b = ("first", "second") if asked == 0 else ("second", "first")
        return _Draft([first, second], f"Is the {a} image brighter than the {b} image?", answer)
    first, second, low = _contrast_pair(g)
    asked = 1 - low if answer == YES else low  # the question asks about *higher* contrast
    a, b = ("first", "second") if asked == 0 else ("second", "first")
    return _Draft([first, second], f"Does the {a} image have higher contrast than the {b} image?", answer)


def _p_what_other_compare(g: _Gen) -> _Draft:
    kind = g.choice(["bright", "contrast", "tint"])
    if kind == "bright":
        first, second, brighter = _exposure_pair(g)
        return _Draft(
            [first, second],
            "Which image is brighter?",
            [FIRST, SECOND][brighter],
            [[FIRST, SECOND][1 - brighter]],
        )
    if kind == "contrast":
        first, second, low = _contrast_pair(g)
        return _Draft(
            [first, second],
            "Which image has lower contrast?",
            [FIRST, SECOND][low],
            [[FIRST, SECOND][1 - low]],
        )
    tint = g.choice(TINTS)
    src = g.source()
    img = g.distort(src, "colour_cast", tint=tint)
    _check(_clearly_tinted(img, tint) and _tint_score(img, tint) - _tint_score(src, tint) >= TINT_MARGIN)
    which = int(g.rng.integers(2))
    first, second = (img, src.copy()) if which == 0 else (src.copy(), img)
    return _Draft(
        [first, second],
        f"Which image has a stronger {tint} tint?",
        [FIRST, SECOND][which],
        [[FIRST, SECOND][1 - which]],
    )


def _p_how_other_compare(g: _Gen) -> _Draft:
    kind = g.choice(["brightness", "contrast"])
    same = g.rng.random() < 0.25
    if kind == "brightness":
        up, down = "Brighter", "Darker"
        if same:
            first = second = g.source().copy()
            correct = "About the same"
        else:
            first, second, brighter = _exposure_pair(g)
            correct = up if brighter == 1 else down
    else:
        up, down = "Higher", "Lower"
        if same:
            first = second = g.source().copy()
            correct = "About the same"
        else:
            first, second, low = _contrast_pair(g)
            correct = down if low == 1 else up
    wrong = [w for w in (up, down, "About the same") if w != correct]
    return _Draft(
        [first, second],
        f"Compared to the first image, how is the {kind} of the second image?",
        correct,
        wrong,
    )


def _p_yn_other_joint(g: _Gen, answer: str) -> _Draft:
    kind = g.choice(["grey", "dark", "tint"])
    if kind == "grey":
        if answer == YES:
            a, b = _two_sources(g, g.grey)
        else:
            a, b = g.sources[g.choice(g.grey)], g.sources[g.choice(g.colour)]
            if g.rng.random() < 0.5:
                a, b = b, a
        return _Draft([a.copy(), b.copy()], "Are both images black and white?", answer)
    if kind == "dark":
        a, b = _two_sources(g)
        first = g.distort(a, "underexposure")
        second = g.distort(b, "underexposure") if answer == YES else b.copy()
        _check(_mean_luma(first) <= DARK_MAX)
        _check(_mean_luma(second) <= DARK_MAX if answer == YES else _mean_luma(second) >= NORMAL_LUMA[0])
        if g.rng.random() < 0.5:
            first, second = second, first
        return _Draft([first, second], "Are both images very dark?", answer)
    tint = g.choice(TINTS)
    a, b = _two_sources(g, g.grey)
    first = g.distort(a, "colour_cast", tint=tint)
    second = g.distort(b, "colour_cast", tint=tint) if answer == YES else b.copy()
    _check(
        _clearly_tinted(first, tint)
        and (_clearly_tinted(second, tint) if answer == YES else _neutral(second))
    )
    if g.rng.random() < 0.5:
        first, second = second, first
    return _Draft([first, second], f"Do both images have a {tint} tint?", answer)


def _p_what_other_joint(g: _Gen) -> _Draft:
    if g.rng.random() < 0.5:
        tint = g.choice(TINTS)
        a, b = _two_sources(g)
        first, second = g.distort(a, "colour_cast", tint=tint), g.distort(b, "colour_cast", tint=tint)
        _check(_clearly_tinted(first, tint) and _clearly_tinted(second, tint))
        wrong = [_TINT_WORD[t] for t in TINTS if t != tint]
        return _Draft([first, second], "What colour tint do both images share?", _TINT_WORD[tint], wrong)
    options = {
        "dark": "Both are very dark",
        "bright": "Both are very bright",
        "grey": "Both are black and white",
    }
    kind = g.choice(list(options))
    if kind == "grey":
        a, b = _two_sources(g, g.grey)
        first, second = a.copy(), b.copy()
    else:
        a, b = _two_sources(g, g.colour)  # colour, so "black and white" is clearly wrong
        name = "underexposure" if kind == "dark" else "overexposure"
        first, second = g.distort(a, name), g.distort(b, name)
        if kind == "dark":
            _check(_mean_luma(first) <= DARK_MAX and _mean_luma(second) <= DARK_MAX)
        else:
            _check(_mean_luma(first) >= BRIGHT_MIN and _mean_luma(second) >= BRIGHT_MIN)
    correct = options[kind]
    return _Draft(
        [first, second],
        "What do the two images have in common?",
        correct,
        [v for v in options.values() if v != correct],
    )


def _p_how_other_joint(g: _Gen) -> _Draft:
    if g.rng.random() < 0.5:
        options = {
            "grey": "Both are black and white",
            "colour": "Both are in colour",
            "mixed": "One is in colour and one is black and white",
        }
        kind = g.choice(list(options))
        if kind == "grey":
            a, b = _two_sources(g, g.grey)
        elif kind == "colour":
            a, b = _two_sources(g, g.colour)
        else:
            a, b = g.sources[g.choice(g.colour)], g.sources[g.choice(g.grey)]
            if g.rng.random() < 0.5:
                a, b = b, a
        correct = options[kind]
        q = "How is the colour of the two images?"
        return _Draft([a.copy(), b.copy()], q, correct, [v for v in options.values() if v != correct])
    options = {"dark": "Both are dark", "bright": "Both are bright", "mixed": "One is dark and one is bright"}
    kind = g.choice(list(options))
    a, b = _two_sources(g)
    names = {
        "dark": ("underexposure",) * 2,
        "bright": ("overexposure",) * 2,
        "mixed": ("underexposure", "overexposure"),
    }
    first, second = g.distort(a, names[kind][0]), g.distort(b, names[kind][1])
    for img, name in ((first, names[kind][0]), (second, names[kind][1])):
        _check(_mean_luma(img) <= DARK_MAX if name == "underexposure" else _mean_luma(img) >= BRIGHT_MIN)
    if kind == "mixed" and g.rng.random() < 0.5:
        first, second = second, first
    correct = options[kind]
    q = "How is the brightness of the two images?"
    return _Draft([first, second], q, correct, [v for v in options.values() if v != correct])


#: Pair cells. Concern codes (protocol.md 8.7): 0 distortion/compare, 1 distortion/joint, 2 other/compare,
#: 3 other/joint.
_PAIR_TEMPLATES: dict[tuple[int, int], tuple[Template, ...]] = {
    (0, 0): (_p_yn_compare,),
    (1, 0): (_p_what_which, _p_what_extra_distortion),
    (2, 0): (_p_how_compare,),
    (0, 1): (_p_yn_joint,),
    (1, 1): (_p_what_common, _p_what_which_blurry),
    (2, 1): (_p_how_joint,),
    (0, 2): (_p_yn_other_compare,),
    (1, 2): (_p_what_other_compare,),
    (2, 2): (_p_how_other_compare,),
    (0, 3): (_p_yn_other_joint,),
    (1, 3): (_p_what_other_joint,),
    (2, 3): (_p_how_other_joint,),
}

_LETTERS = "ABCD"


def _concatenate(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Side by side, top-aligned; a shorter image is padded below with mid grey (neutral to all questions)."""
    h = max(first.shape[0], second.shape[0])
    canvas = np.full((h, first.shape[1] + second.shape[1], 3), 0.5)
    canvas[: first.shape[0], : first.shape[1]] = first
    canvas[: second.shape[0], first.shape[1] :] = second
    return canvas


def build_a1_pairs(out_dir: Path, *, seed: int = 0, per_cell: int = 4) -> Path:
    """Write A1 pair questions in the Q-Bench2 raw jsonl format; return the jsonl path.

    ``per_cell`` items per (type, concern) cell, 48 by default. For each pair the two originals are written
    lossless to ``out_dir/all_single_images/img_000.png`` and ``img_001.png``, and the side-by-side image to
    ``out_dir/llvisionqa_compare_dev/img_000.png_cat_img_001.png.jpg`` (JPEG q95, 4:4:4); ``img_path`` is the
    official ``"llvisionqa_compare_dev\\\\img_000.png_cat_img_001.png.jpg"`` with a literal backslash, which
    splits back into the two originals (protocol.md 2.2). Keys, in order: type, concern, question, img_path,
    candidates, correct_ans, correct_choice (the answer's letter).
    """
    out_dir = Path(out_dir)
    singles, pairs_dir = out_dir / PAIR_ORIGINALS_DIR, out_dir / PAIR_PREFIX
    singles.mkdir(parents=True, exist_ok=True)
    pairs_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with _Writer() as writer:
        for i, (plan, draft, candidates) in enumerate(
            _draft_items(_PAIR_TEMPLATES, per_cell, seed, _STREAM_PAIRS)
        ):
            first, second = draft.images
            names = (f"img_{2 * i:03d}.png", f"img_{2 * i + 1:03d}.png")
            writer.png(singles / names[0], first)
            writer.png(singles / names[1], second)
            cat_name = f"{names[0]}_cat_{names[1]}.jpg"
            writer.jpeg(pairs_dir / cat_name, _concatenate(first, second))
            item = {
                "type": plan.qtype,
                "concern": plan.concern,
                "question": draft.question,
                "img_path": f"{PAIR_PREFIX}\\{cat_name}",
                "candidates": candidates,
                "correct_ans": draft.correct,
                "correct_choice": _LETTERS[candidates.index(draft.correct)],
            }
            lines.append(json.dumps(item, ensure_ascii=False))
    path = out_dir / PAIRS_JSONL
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return path

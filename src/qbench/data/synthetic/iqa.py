"""A3: distorted versions of each source photo and a MOS json, the pseudo-MOS following from the recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qbench.data.synthetic.distortions import DISTORTIONS, TINTS, Step, apply_steps
from qbench.data.synthetic.files import (
    _STREAM_IQA,
    SYNTHETIC_VERSION,
    _pick,
    _rng,
    _uniform,
    _write_json,
    _Writer,
    load_sources,
)

IQA_JSON = "synthetic_a3_mos.json"
IQA_META_JSON = "synthetic_a3_meta.json"


#: The share of the quality range (MOS - 1) that each distortion removes at full strength.
#: Ordered like typical subjective studies (KADID-10k, TID2013): loss of detail (blur, pixelation,
#: heavy compression) and noise hurt most; global tone and colour changes least.
SEVERITY: dict[str, float] = {
    "blur": 0.95,
    "pixelation": 0.90,
    "jpeg": 0.85,
    "noise": 0.80,
    "overexposure": 0.75,
    "underexposure": 0.70,
    "low_contrast": 0.60,
    "colour_cast": 0.50,
}

MOS_GAMMA = 0.8
MOS_NOISE_SD = 0.08


def pseudo_mos(strengths: Mapping[str, float]) -> float:
    """Noise-free pseudo-MOS on 1..5: ``1 + 4 * prod_k (1 - SEVERITY[k] * s_k ** 0.8)``.

    Each factor is the fraction of quality that survives distortion ``k``; multiplying them makes two
    distortions worse than either alone and keeps the score in range. The exponent 0.8 < 1 makes the first
    steps of a distortion count more than the last (viewers notice onset more than escalation). Strictly
    decreasing in every strength; a pristine image scores 5. :func:`build_iqa` adds small seeded noise.
    """
    quality = 1.0
    for name, s in strengths.items():
        s = min(max(float(s), 0.0), 1.0)
        quality *= 1.0 - SEVERITY[name] * s**MOS_GAMMA
    return 1.0 + 4.0 * quality


# --------------------------------------------------------------------------------------------------------
# A3: IQA with pseudo-MOS
# --------------------------------------------------------------------------------------------------------

_INCOMPATIBLE = {frozenset(("overexposure", "underexposure"))}


def _iqa_recipe(rng: np.random.Generator) -> list[Step]:
    names = list(DISTORTIONS)
    first = _pick(rng, names)
    chosen = [first]
    if rng.random() < 0.25:
        others = [n for n in names if n != first and frozenset((first, n)) not in _INCOMPATIBLE]
        chosen.append(_pick(rng, others))
    steps = []
    for name in chosen:
        tint = _pick(rng, TINTS) if name == "colour_cast" else None
        steps.append(Step(name, _uniform(rng, 0.1, 1.0), tint))
    return steps


def build_iqa(out_dir: Path, *, seed: int = 0, per_image: int = 10) -> Path:
    """Write an A3 set: ``per_image`` versions of each source photo and a MOS json; return the json path.

    Per source: version 0 is pristine, the others carry one random distortion (a quarter of them two) at a
    strength drawn uniformly from [0.1, 1]. ``gt_score = clip(pseudo_mos(strengths) + N(0, 0.08), 1, 5)``,
    rounded to 3 decimals (the noise stands in for rater disagreement; it is seeded per image). The json is
    the official A3 shape, ``[{"img_path": "images/iqa_000.png", "gt_score": 4.93}, ...]`` with paths
    relative to the json's folder; a side file ``synthetic_a3_meta.json`` records each image's source,
    recipe and noise-free MOS. 7 sources x 10 = 70 images by default.
    """
    if per_image < 1:
        raise ValueError("per_image must be at least 1")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    items: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    index = 0
    with _Writer() as writer:
        for src_name, src in load_sources().items():
            for k in range(per_image):
                rng = _rng(seed, _STREAM_IQA, index)
                steps = [] if k == 0 else _iqa_recipe(rng)
                img = apply_steps(src, steps, rng=rng)
                clean = pseudo_mos({s.name: s.strength for s in steps})
                score = round(min(5.0, max(1.0, clean + float(rng.normal(0.0, MOS_NOISE_SD)))), 3)
                rel = f"images/iqa_{index:03d}.png"
                writer.png(out_dir / rel, img)
                items.append({"img_path": rel, "gt_score": score})
                meta.append(
                    {
                        "img_path": rel,
                        "source": src_name,
                        "steps": [s.as_dict() for s in steps],
                        "mos_clean": round(clean, 4),
                        "version": SYNTHETIC_VERSION,
                    }
                )
                index += 1
    path = out_dir / IQA_JSON
    _write_json(path, items)
    _write_json(out_dir / IQA_META_JSON, meta)
    return path

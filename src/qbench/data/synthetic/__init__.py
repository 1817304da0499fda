"""A seeded, offline, contamination-free low-level benchmark: the default data of ``qbench demo``.

Why synthetic: every public Q-Bench image may sit in some model's training data, and the real sets are
gigabytes behind a download. Here a handful of public-domain / CC0 photographs shipped with the package
(``qbench/data/images``, see ``LICENSES.md`` there) are degraded by known, physically parameterised
distortions, so every answer and every pseudo-MOS *follows from the generation* rather than from a human
label. The three builders write files in the official formats (protocol.md 1.2, 2.2, 4.2), so the demo runs
the very same loaders, prompts and scorers as the real benchmark:

* :func:`build_iqa` - A3: distorted images plus a MOS json (``[{"img_path", "gt_score"}]``), the pseudo-MOS a
  monotone function of the distortion strengths (:func:`pseudo_mos`).
* :func:`build_a1` - A1 single images: LLVisionQA json (type 0/1/2 x concern 0..3), including in-context
  questions about regions that were distorted on their own.
* :func:`build_a1_pairs` - A1 pairs: Q-Bench2 raw jsonl, with the concatenated pair image and both originals.

Unambiguous by construction. A question is only asked about a manipulation that is either strong or absent,
never borderline, and every claim is *checked on the generated pixels* (high-frequency energy for blur,
mean luma for brightness, channel means for tints, luma spread for contrast). A draw that fails its check is
discarded and redrawn from the same seeded stream, so the answers are certain and the output still fixed.

Deterministic. All randomness comes from ``numpy.random.default_rng`` seeded with ``[seed, stream, item]``,
images are written with fixed encoder settings (PNG ``compress_level=1``; pair images JPEG quality 95, 4:4:4)
and no metadata, JSON with fixed formatting and ``\\n`` newlines. The same seed gives byte-identical files on
the same platform and library versions (numpy, Pillow, zlib, libjpeg); another platform may differ in a rare
last-bit rounding of a pixel. :data:`SYNTHETIC_VERSION` names the recipe; any change of output bumps it.

Nothing here writes outside ``out_dir``; the only other file access is reading the packaged source images.

One module per job: :mod:`.distortions` (the distortions and recipes), :mod:`.measures` (the pixel checks),
:mod:`.files` (sources, writing, seeded streams), :mod:`.iqa` (A3), :mod:`.questions` (what the A1 builders
share), :mod:`.singles` (A1 single images) and :mod:`.pairs` (A1 pairs). This package re-exports their public
names, so ``from qbench.data.synthetic import build_a1`` keeps working; names with a leading underscore are
shared between these modules only, not API.
"""

from __future__ import annotations

from pathlib import Path

from qbench.data.synthetic.distortions import (
    DISTORTIONS,
    PIPELINE_ORDER,
    TINTS,
    Step,
    apply_steps,
    blur,
    colour_cast,
    jpeg,
    jpeg_quality,
    low_contrast,
    noise,
    overexposure,
    pixelation,
    pixelation_block,
    underexposure,
)
from qbench.data.synthetic.files import SOURCE_IMAGES, SYNTHETIC_VERSION, load_sources
from qbench.data.synthetic.iqa import IQA_JSON, IQA_META_JSON, SEVERITY, build_iqa, pseudo_mos
from qbench.data.synthetic.measures import sharpness
from qbench.data.synthetic.pairs import PAIR_ORIGINALS_DIR, PAIR_PREFIX, PAIRS_JSONL, build_a1_pairs
from qbench.data.synthetic.singles import A1_JSON, build_a1

__all__ = [
    "A1_JSON",
    "DISTORTIONS",
    "IQA_JSON",
    "IQA_META_JSON",
    "PAIRS_JSONL",
    "PAIR_ORIGINALS_DIR",
    "PAIR_PREFIX",
    "PIPELINE_ORDER",
    "SEVERITY",
    "SOURCE_IMAGES",
    "SYNTHETIC_VERSION",
    "TINTS",
    "Step",
    "apply_steps",
    "blur",
    "build_a1",
    "build_a1_pairs",
    "build_all",
    "build_iqa",
    "colour_cast",
    "jpeg",
    "jpeg_quality",
    "load_sources",
    "low_contrast",
    "noise",
    "overexposure",
    "pixelation",
    "pixelation_block",
    "pseudo_mos",
    "sharpness",
    "underexposure",
]


def build_all(out_dir: Path, *, seed: int = 0) -> dict[str, Path]:
    """All three sets in one folder (what ``qbench demo`` uses): ``{"a1", "a1_pairs", "a3"}`` -> data file."""
    out_dir = Path(out_dir)
    return {
        "a1": build_a1(out_dir, seed=seed),
        "a1_pairs": build_a1_pairs(out_dir, seed=seed),
        "a3": build_iqa(out_dir, seed=seed),
    }

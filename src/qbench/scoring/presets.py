"""Published A3 protocol presets (``--preset NAME``): split lists, resize policy, fit type, scoring mode.

A number from a paper is reproducible only with the paper's test images, its image handling and its metric
recipe. A preset fixes all three, and the run's manifest records what it used (each list file with its hash):

=========  ==========================================  ======================  ==================  ==========
preset     split lists                                 resize                  fit                 scoring
=========  ==========================================  ======================  ==================  ==========
qbench     full sets (Q-Bench jsons), CGIQA halves     none                    none (plain PLCC)   qbench
q-align    Q-Align ``playground/data/test_jsons``      pad to square, mean     none                qalign
deqa       DeQA-Score test metas (HF Data-DeQA-Score)  pad to square, mean     logistic4 (DeQA)    qalign
vq-r1      full sets of the databases it reports       the processor's own     none                rating
=========  ==========================================  ======================  ==================  ==========

The lists are catalog datasets (``qbench data get qalign-splits`` / ``deqa-splits``) so that they are
downloaded, checked against their recorded hashes (or hashed and recorded at the first download) and found
offline like any other data. A list selects images of a Q-Bench database by file name; the opinion scores
stay those of the Q-Bench json (Q-Align's KonIQ list carries 0-100 z-scores, Q-Bench's the 1-5 MOS: SRCC is
unaffected, PLCC may differ slightly from the paper's; the manifest says which MOS file was used).
Databases a preset does not cover run on their full set, and the manifest marks them ``covered: false``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from qbench.errors import DataError, UsageError

PRESET_VERSION = "presets-v1"
#: Q-Align / DeQA-Score pad with ``tuple(int(x * 255) for x in image_processor.image_mean)``; their processor
#: is CLIP's (mean 0.48145466, 0.4578275, 0.40821073).
CLIP_MEAN_RGB = (122, 116, 104)


@dataclass(frozen=True)
class SplitList:
    """One database's test list: which catalog dataset holds it, and the file inside it."""

    database: str
    dataset: str
    file: str


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    scoring: str
    rating_prompt: str | None = None
    lists: tuple[SplitList, ...] = ()
    databases: tuple[str, ...] = ()  # the databases the preset reports (its lists, or full sets)
    resize: str = "none"  # "none" | "pad-square-mean" | "processor"
    pad_rgb: tuple[int, int, int] | None = None
    fit: str = "none"  # "none" | "logistic4-deqa"
    halves: bool = True  # CGIQA-6K as the mean of its halves (Q-Bench's rule)
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def split_for(self, database: str) -> SplitList | None:
        return next((s for s in self.lists if s.database == database), None)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": PRESET_VERSION,
            "scoring": self.scoring,
            **({"rating_prompt": self.rating_prompt} if self.rating_prompt else {}),
            "resize": self.resize,
            **({"pad_rgb": list(self.pad_rgb)} if self.pad_rgb else {}),
            "fit": self.fit,
            "halves": self.halves,
            "source": self.source,
        }


_QA = "qalign-splits"
_DQ = "deqa-splits"
PRESETS: dict[str, Preset] = {
    "qbench": Preset(
        name="qbench",
        title="Q-Bench A3 (full sets, plain PLCC, CGIQA-6K halves)",
        scoring="qbench",
        databases=("koniq", "spaq", "flive", "livec", "cgi", "agi", "kadid"),
        source="Q-Future/Q-Bench a3_iqa_databases + leaderboards/IQA_outputs/eval.ipynb",
    ),
    "q-align": Preset(
        name="q-align",
        title="Q-Align (its test lists, 5 levels, images padded to a square)",
        scoring="qalign",
        lists=(
            SplitList("koniq", _QA, "test_koniq.json"),
            SplitList("spaq", _QA, "test_spaq.json"),
            SplitList("kadid", _QA, "test_kadid.json"),
            SplitList("livec", _QA, "livec.json"),
            SplitList("agi", _QA, "agi.json"),
        ),
        databases=("koniq", "spaq", "kadid", "livec", "agi"),
        resize="pad-square-mean",
        pad_rgb=CLIP_MEAN_RGB,
        halves=False,
        source="Q-Future/Q-Align q_align/evaluate/iqa_eval.py, playground/data/test_jsons @14dfdff",
        notes=(
            "fit: Q-Align's own evaluation correlates the raw scores (no fit) - UNVERIFIED for every table",
        ),
    ),
    "deqa": Preset(
        name="deqa",
        title="DeQA-Score (its test metas, 5 levels, 4-parameter logistic fit)",
        scoring="qalign",
        lists=(
            SplitList("koniq", _DQ, "KONIQ/metas/test_koniq_2k.json"),
            SplitList("spaq", _DQ, "SPAQ/metas/test_spaq_2k.json"),
            SplitList("kadid", _DQ, "KADID10K/metas/test_kadid_2k.json"),
            SplitList("livec", _DQ, "LIVE-WILD/metas/test_livew_1k.json"),
            SplitList("agi", _DQ, "AGIQA3K/metas/test_agiqa_3k.json"),
        ),
        databases=("koniq", "spaq", "kadid", "livec", "agi"),
        resize="pad-square-mean",
        pad_rgb=CLIP_MEAN_RGB,
        fit="logistic4-deqa",
        halves=False,
        source="zhiyuanyou/DeQA-Score scripts/eval_score.sh, src/evaluate/cal_plcc_srcc.py, scorer.py",
    ),
    "vq-r1": Preset(
        name="vq-r1",
        title="VisualQuality-R1 (full sets, generated rating with thinking)",
        scoring="rating",
        rating_prompt="vq-r1",
        databases=("koniq", "spaq", "livec", "agi", "kadid"),
        resize="processor",
        halves=False,
        source="TianheWu/VisualQuality-R1 README",
        notes=("the databases are those of the paper's tables that Q-Bench also ships",),
    ),
}


def get_preset(name: str) -> Preset:
    if name in PRESETS:
        return PRESETS[name]
    from qbench.registry import did_you_mean

    raise UsageError(
        f"no preset '{name}' (known: {', '.join(PRESETS)})", hint=did_you_mean(name, list(PRESETS))
    )


@dataclass(frozen=True)
class Selection:
    """The image names a preset's list keeps for one database, and where the list came from."""

    database: str
    names: frozenset[str]
    dataset: str
    file: str
    path: str
    sha256: str
    check: str  # how the file was checked when installed ("known sha256", "computed (no recorded hash)", ...)

    def describe(self, kept: int | None = None, missing: int | None = None) -> dict[str, Any]:
        return {
            "database": self.database,
            "dataset": self.dataset,
            "file": self.file,
            "sha256": self.sha256,
            "check": self.check,
            "listed": len(self.names),
            **({"kept": kept} if kept is not None else {}),
            **({"missing": missing} if missing is not None else {}),
        }


def list_names(items: Iterable[Any], where: str) -> frozenset[str]:
    """The image file names (base names) of a split list: ``image``, ``img_path`` or ``id`` (``name->score``)."""
    names = set()
    for i, item in enumerate(items):
        raw = None
        if isinstance(item, dict):
            raw = item.get("image") or item.get("img_path") or item.get("image_path")
            if raw is None and isinstance(item.get("id"), str):
                raw = item["id"].split("->", 1)[0]
        elif isinstance(item, str):
            raw = item
        if not isinstance(raw, str) or not raw.strip():
            raise DataError(f"item {i} has no image name (image, img_path or id)", file=where)
        names.add(PurePosixPath(raw.replace("\\", "/")).name)
    if not names:
        raise DataError("the split list is empty", file=where)
    return frozenset(names)


def load_selection(preset: Preset, database: str, home: Path | None = None) -> Selection | None:
    """The installed list of ``preset`` for ``database`` (None: the preset runs it on its full set)."""
    from qbench.catalog.home import install_dir, read_record

    split = preset.split_for(database)
    if split is None:
        return None
    record = read_record(split.dataset, home)
    path = install_dir(split.dataset, home) / split.file
    if record is None or not path.is_file():
        raise DataError(
            f"preset '{preset.name}' needs the {database} test list {split.file}, which is not installed",
            file=path,
            hint=f"qbench data get {split.dataset}",
        )
    data = path.read_bytes()
    try:
        items = json.loads(data)
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", file=path) from None
    if not isinstance(items, list):
        raise DataError("a split list must be a JSON list", file=path)
    checked = {c.name: c for c in record.files}
    check = checked[split.file].check if split.file in checked else "computed (not in the install record)"
    return Selection(
        database=database,
        names=list_names(items, str(path)),
        dataset=split.dataset,
        file=split.file,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        check=check,
    )


def pad_to_square(image: Any, rgb: tuple[int, int, int]) -> Any:
    """Q-Align's ``expand2square``: the image centred on a square canvas of ``rgb`` (same mode as the image)."""
    from PIL import Image

    if image.mode != "RGB":
        image = image.convert("RGB")  # Q-Align opens every image with .convert("RGB")
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new("RGB", (side, side), tuple(rgb))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas

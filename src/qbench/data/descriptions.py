"""A2 data: images (or image pairs) to describe, with golden descriptions when the user has them.

Three shapes are read (protocol.md 2.2 and 3):

- a JSON list or JSON lines of ``{"img_path": ..., "golden_description": ...}`` items (the reference may also be
  called ``reference``; it is optional, because the official references are private and most users will only
  generate descriptions for submission);
- the Q-Bench2 pair file ``q-bench2-a2.jsonl`` (``{"img_path": "<prefix>\\\\<img1>_cat_<img2>.jpg",
  "response": ""}``), whose item names a horizontally concatenated pair; we give the model the two *original*
  images from ``all_single_images/`` instead, each labelled, as the pair prompt expects (protocol 8.1);
- a folder of images (e.g. the extracted ``images_lldescribe.tar``), every image file in it, sorted.

Pairs are recognised per item by the naming convention itself (both sides of ``_cat_`` carry an image
extension), not by the file name, so a renamed copy of the official file still reads as pairs while an
ordinary photo called ``my_cat_photo.jpg`` stays a single image.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qbench.data.base import LoadOptions
from qbench.data.containment import image_path
from qbench.data.jsonfile import read_records
from qbench.errors import DataError
from qbench.types import Sample

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
PAIR_FOLDER = "all_single_images"  # where the official release keeps the originals of each pair
REFERENCE_FIELDS = ("golden_description", "reference")

_IMAGE_EXT = r"\.(?:jpe?g|png|bmp|webp|tiff?|gif)"
# "<img1>_cat_<img2>" where img1 ends in an image extension, and img2 ends in one, optionally followed by
# the extension of the concatenated file itself ("00079.jpg_cat_09769.jpg.jpg").
_PAIR_NAME = re.compile(
    rf"(?P<first>.+?{_IMAGE_EXT})_cat_(?P<second>.+?{_IMAGE_EXT})(?:{_IMAGE_EXT})?", re.IGNORECASE
)


def pair_images(img_path: str) -> tuple[str, str] | None:
    """The two original file names of a concatenated-pair path, or None when it names a single image.

    ``"lldescribe_compare\\\\00079.jpg_cat_09769.jpg.jpg"`` -> ``("00079.jpg", "09769.jpg")`` (protocol 2.2:
    split on the backslash, drop the trailing ``.jpg``, split on ``_cat_``). Forward slashes work too.
    """
    base = img_path.replace("\\", "/").rsplit("/", 1)[-1]
    match = _PAIR_NAME.fullmatch(base)
    if not match:
        return None
    return match["first"], match["second"]


def read_descriptions(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples from a JSON list / JSON lines file of ``img_path`` items, single images or official pairs.

    Images resolve against ``--images`` or the file's folder; the originals of a pair against its
    ``all_single_images/`` sub-folder when there is one (else the folder itself, so ``--images`` may point
    straight at the originals). Ids are the ``img_path`` strings as written (a repeat gets ``#index``), so
    resuming and the submission file both key on the official names.
    """
    root = options.images or path.parent
    pair_root = root / PAIR_FOLDER if (root / PAIR_FOLDER).is_dir() else root
    samples: list[Sample] = []
    seen: set[str] = set()
    for index, item in enumerate(read_records(path)):
        sample = _sample(item, index, file=path, root=root, pair_root=pair_root)
        if sample.id in seen:
            sample = Sample(
                id=f"{sample.id}#{index}",
                images=sample.images,
                reference=sample.reference,
                source=sample.source,
                extra=sample.extra,
            )
        seen.add(sample.id)
        samples.append(sample)
    return samples


def _sample(item: dict[str, Any], index: int, *, file: Path, root: Path, pair_root: Path) -> Sample:
    rel = item.get("img_path")
    if not isinstance(rel, str) or not rel.strip():
        raise DataError("missing or not a string", file=file, item=index, field="img_path")
    reference = _reference(item, index, file)
    originals = pair_images(rel)
    if originals is None:
        return Sample(
            id=rel,
            images=(image_path(root, _native(rel), file=file, item=index),),
            reference=reference,
            source=rel,
        )
    return Sample(
        id=rel,
        images=tuple(image_path(pair_root, name, file=file, item=index) for name in originals),
        reference=reference,
        source=rel,
        extra={"pair": list(originals)},
    )


def _reference(item: dict[str, Any], index: int, file: Path) -> str | None:
    """The golden description under either name; an empty one counts as absent (an unfilled template)."""
    found: dict[str, str] = {}
    for name in REFERENCE_FIELDS:
        value = item.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DataError(
                f"must be a string, got {type(value).__name__}", file=file, item=index, field=name
            )
        if value.strip():
            found[name] = value
    if len(set(found.values())) > 1:
        raise DataError(
            "'golden_description' and 'reference' are both given and differ",
            file=file,
            item=index,
            field="reference",
            hint="keep one of them",
        )
    return next(iter(found.values()), None)


def _native(rel: str) -> str:
    """The official files write Windows separators (``folder\\\\name.jpg``); paths here use ``/``."""
    return rel.replace("\\", "/")


def read_image_folder(path: Path, options: LoadOptions) -> list[Sample]:
    """Every image file under ``path`` (recursively, hidden entries skipped), sorted; ids are relative paths.

    No references: a folder is for generating descriptions (and the submission file), not for scoring.
    """
    files = sorted(
        (p.relative_to(path).as_posix(), p)
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise DataError(
            "no image files in this folder", file=path, hint=f"expected {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return [Sample(id=rel, images=(file,), source=rel) for rel, file in files]

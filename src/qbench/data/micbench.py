"""MICBench (Co-Instruct's multi-image comparison questions) in its released json (protocol.md 9.6).

``micbench_dev.json`` is a list of items with ``img_path`` (a list of 3 or 4 image paths, in the order the
question refers to them: the first image, the second, ...), ``question``, ``candidates`` (display order),
``correct_ans`` (the answer's text), ``correct_choice`` (its letter) and ``num_img`` (how many images).
Image paths are relative to ``--images``, else to the json's folder. Sample ids are the item's position.

Checks: every path a non-empty string inside the image folder, ``num_img`` equal to the number of paths,
2 to 4 images (a question over one image is not a comparison; the prompts label at most four), and
``correct_ans`` / ``correct_choice`` consistent. A missing answer is *hidden*, as in the other releases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbench.data.base import LoadOptions
from qbench.data.containment import image_path
from qbench.data.jsonfile import read_records
from qbench.data.llvisionqa import (
    check_options,
    gold_answer,
    warn_hidden,
)
from qbench.errors import DataError
from qbench.types import Sample

__all__ = ["MAX_IMAGES", "MIN_IMAGES", "read_micbench"]

MIN_IMAGES, MAX_IMAGES = 2, 4


def _paths(raw: Any) -> tuple[list[str] | None, str | None]:
    if not isinstance(raw, list):
        return None, f"expected a list of {MIN_IMAGES} to {MAX_IMAGES} image paths, got {raw!r}"
    if not MIN_IMAGES <= len(raw) <= MAX_IMAGES:
        return None, f"{len(raw)} image(s); a MICBench item has {MIN_IMAGES} to {MAX_IMAGES}"
    if not all(isinstance(p, str) and p.strip() for p in raw):
        return None, f"every image path must be a non-empty string: {raw!r}"
    return [p.replace("\\", "/") for p in raw], None


def read_micbench(path: Path, options: LoadOptions) -> list[Sample]:
    """Samples of a MICBench json: one question over 2-4 images, labelled in order."""
    root = options.images or path.parent
    samples = []
    for index, item in enumerate(read_records(path)):

        def fail(field: str, why: str, index: int = index) -> DataError:
            return DataError(why, file=path, item=index, field=field)

        question = item.get("question")
        if not isinstance(question, str) or not question.strip():
            raise fail("question", "missing or empty")
        opts, why = check_options(item.get("candidates"))
        if why:
            raise fail("candidates", why)
        assert opts is not None
        answer = gold_answer(item, opts, fail)
        rels, why = _paths(item.get("img_path"))
        if why:
            raise fail("img_path", why)
        assert rels is not None
        num = item.get("num_img", len(rels))
        if isinstance(num, str) and num.strip().isdigit():
            num = int(num)
        if isinstance(num, bool) or not isinstance(num, int) or num != len(rels):
            raise fail("num_img", f"{num!r} does not match the {len(rels)} image path(s)")
        images = tuple(image_path(root, rel, file=path, item=index) for rel in rels)
        samples.append(
            Sample(
                id=str(index),
                images=images,
                question=question,
                options=opts,
                answer=answer,
                source="|".join(rels),
                extra={"num_img": num, "lang": options.lang},
            )
        )
    warn_hidden(path, samples, options)
    return samples

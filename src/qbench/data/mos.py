"""A3 data: images with human mean opinion scores (MOS).

Two formats: the official MOS json (a list of ``{"img_path", "gt_score"}``, the score a number or a string,
sometimes with a trailing space) and a CSV of image and score columns (names given by flags).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbench.data.containment import image_path
from qbench.errors import DataError, UsageError
from qbench.types import Sample


def parse_score(value: Any, *, file: Path, item: int | str, field: str = "gt_score") -> float:
    """A finite float from a number or a numeric string; anything else is a DataError naming the item."""
    if value is None:
        raise DataError("missing", file=file, item=item, field=field)
    if isinstance(value, bool):
        raise DataError(f"not a number: {value!r}", file=file, item=item, field=field)
    try:
        score = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise DataError(f"not a number: {value!r}", file=file, item=item, field=field) from None
    if not math.isfinite(score):
        raise DataError(f"not a finite number: {value!r}", file=file, item=item, field=field)
    return score


def mos_sample(item: dict[str, Any], index: int, *, file: Path, image_root: Path) -> Sample:
    """One official MOS item; a missing ``img_path`` or a non-numeric ``gt_score`` names the item."""
    rel = item.get("img_path")
    if not isinstance(rel, str) or not rel.strip():
        raise DataError("missing or not a string", file=file, item=index, field="img_path")
    score = parse_score(item.get("gt_score"), file=file, item=index)
    return Sample(id=rel, images=(image_path(image_root, rel, file=file, item=index),), mos=score, source=rel)


def mos_samples(items: list[dict[str, Any]], *, file: Path, image_root: Path) -> list[Sample]:
    """Samples from official MOS items; ids are the ``img_path`` strings (a repeated path gets ``#index``)."""
    samples = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        sample = mos_sample(item, i, file=file, image_root=image_root)
        if sample.id in seen:
            sample = Sample(id=f"{sample.id}#{i}", images=sample.images, mos=sample.mos, source=sample.source)
        seen.add(sample.id)
        samples.append(sample)
    return samples


def read_mos_csv(
    path: Path,
    *,
    image_root: Path,
    image_column: str | None,
    mos_column: str | None,
    encoding: str | None = None,
) -> list[Sample]:
    """Samples from a CSV with an image column and a score column (guessed when not named).

    The file is read as UTF-8 (a BOM is skipped) unless ``encoding`` (``--encoding``) names another.
    """
    try:
        with open(path, newline="", encoding=encoding or "utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except LookupError:
        raise UsageError(
            f"unknown text encoding '{encoding}'", hint="e.g. --encoding latin-1 or cp1252"
        ) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1 if isinstance(exc.object, bytes) else None
        raise DataError(
            f"not {encoding or 'UTF-8'} text (byte 0x{exc.object[exc.start]:02x} on line {line})",
            file=path,
            hint="name the file's encoding with --encoding, e.g. --encoding latin-1 or cp1252",
        ) from None
    image_col = image_column or _guess(
        columns, ("image", "img_path", "image_name", "filename", "file", "path")
    )
    mos_col = mos_column or _guess(columns, ("mos", "gt_score", "score", "dmos", "mos_zscore"))
    for name, flag in ((image_col, "--image-column"), (mos_col, "--mos-column")):
        if name is None or name not in columns:
            raise DataError(
                f"no column '{name}' (columns: {', '.join(columns)})",
                file=path,
                field=name,
                hint=f"name it with {flag}",
            )
    items = [{"img_path": row[image_col], "gt_score": row[mos_col]} for row in rows]
    for i, row in enumerate(rows, start=1):
        if not (row.get(image_col) or "").strip():
            raise DataError("empty", file=path, item=f"row {i}", field=image_col)
    samples = []
    for i, item in enumerate(items, start=1):
        score = parse_score(item["gt_score"], file=path, item=f"row {i}", field=mos_col or "mos")
        rel = item["img_path"].strip()
        image = image_path(image_root, rel, file=path, item=f"row {i}", field=image_col or "image")
        samples.append(Sample(id=rel, images=(image,), mos=score, source=rel))
    return samples


def _guess(columns: Sequence[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None

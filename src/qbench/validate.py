"""``qbench validate``: every problem in a dataset, listed, without loading any model.

Item-level field problems are collected item by item where the format allows it (the reader would stop at
the first); then every image is checked to exist and decode fully, in parallel.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qbench.data.dataset import Dataset, LoadOptions, detect_format, load_dataset
from qbench.data.images import check_image
from qbench.data.video import check_video
from qbench.errors import DataError


def _item_problems(spec: str, options: LoadOptions) -> list[str]:
    """Field problems of every item, for the formats that are lists of independent items."""
    path = Path(spec)
    if not path.is_file():
        return []
    fmt = options.format or detect_format(path)
    from qbench.data.jsonfile import read_records

    problems: list[str] = []
    if fmt == "mos-json":
        from qbench.data.mos import mos_sample

        for i, item in enumerate(read_records(path)):
            try:
                mos_sample(item, i, file=path, image_root=options.images or path.parent)
            except DataError as exc:
                problems.append(exc.one_line())
    elif fmt in {"llvisionqa", "qbench2"}:
        from qbench.data.llvisionqa import item_problems

        problems.extend(item_problems(path, fmt, options))
    return problems


def validate_dataset(spec: str, options: LoadOptions) -> tuple[list[str], Dataset | None]:
    """(problems, dataset); the dataset is None when its fields are broken."""
    try:
        problems = _item_problems(spec, options)
    except DataError as exc:
        return [exc.one_line()], None
    if problems:
        return problems, None
    try:
        dataset = load_dataset(spec, options)
    except DataError as exc:
        return [exc.one_line()], None
    paths: list[tuple[str, Path]] = [(s.id, p) for s in dataset.samples for p in s.images]
    videos = {p for s in dataset.samples if s.extra.get("media") == "video" for p in s.images}
    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
        reasons: list[Any] = list(
            pool.map(lambda sp: check_video(sp[1]) if sp[1] in videos else check_image(sp[1]), unique)
        )
    for (sample_id, path), reason in zip(unique, reasons):
        if reason:
            problems.append(DataError(reason, file=path, item=sample_id, field="img_path").one_line())
    return problems, dataset

"""Turning a data spec (a file, a folder, a built-in name) into a :class:`Dataset` of samples.

Formats are detected from the file's extension and its first item's fields, and can be forced with
``--format``. Each format's reader lives in its own module; this one only dispatches and fingerprints.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qbench.data.base import Dataset, LoadOptions
from qbench.data.databases import find_database
from qbench.errors import DataError, UsageError
from qbench.registry import DATASETS, did_you_mean
from qbench.types import Sample

__all__ = [
    "FORMATS",
    "Dataset",
    "LoadOptions",
    "dataset_name",
    "detect_format",
    "fingerprint_path",
    "load_dataset",
]


# format name -> (reader "module:function", kind). A reader takes (path, LoadOptions) -> list[Sample].
FORMATS: dict[str, tuple[str, str]] = {
    "mos-json": ("qbench.data.formats:read_mos_json", "iqa"),
    "mos-csv": ("qbench.data.formats:read_mos_csv_file", "iqa"),
    "llvisionqa": ("qbench.data.llvisionqa:read_llvisionqa", "mcq"),
    "qbench2": ("qbench.data.llvisionqa:read_qbench2", "mcq"),
    "hf-parquet": ("qbench.data.hf_layout:read_hf_folder", "mcq"),
    "hf-disk": ("qbench.data.hf_layout:read_hf_disk", "mcq"),
    "describe": ("qbench.data.descriptions:read_descriptions", "describe"),
    "image-folder": ("qbench.data.descriptions:read_image_folder", "describe"),
    "abench": ("qbench.data.abench:read_abench_json", "mcq"),
    "micbench": ("qbench.data.micbench:read_micbench", "mcq"),
    "qbench-video": ("qbench.data.qbench_video:read_qbench_video", "video"),
}


def load_dataset(spec: str | Path, options: LoadOptions | None = None) -> Dataset:
    """The dataset a spec names; a built-in name, a file or a folder."""
    options = options or LoadOptions()
    text = str(spec)
    if text in DATASETS:
        return DATASETS.get(text)(options)
    path = Path(text).expanduser()
    if not path.exists():
        from qbench.catalog.resolve import catalog_dataset  # koniq, llvisionqa-dev, ... (qbench data)

        if (named := catalog_dataset(text, options, load_dataset)) is not None:
            return named
        from qbench.data.hf_layout import is_hub_id, load_hub_dataset

        if is_hub_id(text):
            return load_hub_dataset(text, options)
        from qbench.catalog.registry import load_catalog

        names = DATASETS.names() + load_catalog().names()
        hint = did_you_mean(text, names) if "/" not in text and "." not in text else None
        raise DataError(
            "data not found (no such file or folder, and not a built-in dataset)", file=path, hint=hint
        )
    fmt = options.format or detect_format(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown data format '{fmt}'", hint=did_you_mean(fmt, sorted(FORMATS)))
    target, kind = FORMATS[fmt]
    module_name, _, attr = target.partition(":")
    reader: Callable[[Path, LoadOptions], list[Sample]] = getattr(importlib.import_module(module_name), attr)
    samples = reader(path, options)
    if not samples:
        raise DataError("no items in this dataset", file=path)
    name = dataset_name(path)
    return Dataset(
        name=name,
        samples=tuple(samples),
        format=fmt,
        kind=kind,
        path=path,
        split=options.split if kind == "mcq" else None,
        fingerprint=fingerprint_path(path, extra=f"{fmt}|{options.split}|{options.lang}|{options.images}"),
    )


def dataset_name(path: Path) -> str:
    """A short name: the known database a file is of (``koniq.json`` -> ``koniq``), else the file stem."""
    stem = path.stem if path.is_file() else path.name
    db = find_database(stem)
    return db.name if db else stem


def detect_format(path: Path) -> str:
    """The format of a file or folder, from its extension and its first item's fields."""
    if path.is_dir():
        if any(path.glob("data/*.parquet")) or any(path.glob("*.parquet")):
            return "hf-parquet"
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return "hf-disk"
        return "image-folder"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "mos-csv"
    if suffix == ".parquet":
        return "hf-parquet"
    if suffix not in {".json", ".jsonl"}:
        raise DataError(f"cannot tell the format of a '{suffix}' file", file=path, hint="use --format")
    from qbench.data.jsonfile import read_records

    items = read_records(path)
    if not items:
        raise DataError("no items in this file", file=path)
    first = items[0]
    if "question" in first and (family := _family_format(first)):
        return family
    if "question" in first:
        return "qbench2" if suffix == ".jsonl" or "_cat_" in str(first.get("img_path", "")) else "llvisionqa"
    if "gt_score" in first:
        return "mos-json"
    if "img_path" in first:
        return "describe"
    raise DataError(
        f"cannot tell the format from the fields {sorted(first)}",
        file=path,
        item=0,
        hint="expected img_path with gt_score (A3), question (A1), or img_path alone (A2); or use --format",
    )


def _family_format(first: dict[str, Any]) -> str | None:
    """A-Bench, MICBench and Q-Bench-Video items, told apart by their own keys (protocol 9.5-9.7)."""
    if "video_name" in first:
        return "qbench-video"
    if "category" in first and "answers" in first:
        return "abench"
    if isinstance(first.get("img_path"), list) and ("num_img" in first or len(first["img_path"]) > 2):
        return "micbench"
    return None


def fingerprint_path(path: Path, extra: str = "") -> str:
    """A content hash of the data file, or of a folder's data files; an image folder by names, sizes, times.

    Images referenced by a data file are not hashed here (that would read every photo at start-up); their
    content hashes are part of every cache key instead.
    """
    digest = hashlib.blake2b(digest_size=12)
    if path.is_file():
        _hash_file(digest, path)
    else:
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            if file.suffix in {".json", ".jsonl", ".parquet", ".arrow", ".csv"}:
                _hash_file(digest, file)
            else:
                stat = file.stat()
                digest.update(
                    f"{file.relative_to(path).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                )
    digest.update(extra.encode())
    return digest.hexdigest()


def _hash_file(digest: Any, file: Path) -> None:
    digest.update(file.name.encode())
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)

"""Readers for the A3 formats: the official MOS json and a MOS CSV."""

from __future__ import annotations

from pathlib import Path

from qbench.data.base import LoadOptions
from qbench.data.jsonfile import read_records
from qbench.data.mos import mos_samples, read_mos_csv
from qbench.types import Sample


def read_mos_json(path: Path, options: LoadOptions) -> list[Sample]:
    root = options.images or path.parent
    return mos_samples(read_records(path), file=path, image_root=root)


def read_mos_csv_file(path: Path, options: LoadOptions) -> list[Sample]:
    root = options.images or path.parent
    return read_mos_csv(
        path,
        image_root=root,
        image_column=options.image_column,
        mos_column=options.mos_column,
        encoding=options.encoding,
    )

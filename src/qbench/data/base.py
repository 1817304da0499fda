"""The two types every data loader shares: what to load (:class:`LoadOptions`) and what came out (:class:`Dataset`).

They live apart from :mod:`qbench.data.dataset` (which dispatches to the format readers) so that a reader can
name them without importing the dispatcher that imports it: no import cycle between the loaders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbench.types import Sample

__all__ = ["Dataset", "LoadOptions"]


@dataclass(frozen=True)
class Dataset:
    """Samples plus where they came from; ``fingerprint`` changes whenever the data file does."""

    name: str
    samples: tuple[Sample, ...]
    format: str
    kind: str  # "iqa", "mcq", "describe"
    path: Path | None = None
    split: str | None = None
    fingerprint: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)


@dataclass(frozen=True)
class LoadOptions:
    split: str = "dev"
    images: Path | None = None
    format: str | None = None
    lang: str = "en"
    image_column: str | None = None
    mos_column: str | None = None
    encoding: str | None = None  # text encoding of a CSV file (default UTF-8)

"""The data home (``QBENCH_DATA_DIR``) and what is installed in it.

Each dataset lives in ``<home>/<name>/``: its list files (MOS json, question json), ``images/`` laid out so
that the official ``img_path`` values resolve, and ``install.json``, the record written last. A folder without
that record is not an install; a record that says partial carries ``present.txt``, the images it has.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qbench.catalog.registry import CatalogEntry

DATA_DIR_ENV = "QBENCH_DATA_DIR"
RECORD = "install.json"
PRESENT = "present.txt"
IMAGES = "images"


def data_home() -> Path:
    """``QBENCH_DATA_DIR``, else ``<user data dir>/qbench`` (platformdirs)."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("qbench"))


@dataclass
class Checked:
    """One file and how its content was checked: ``known`` (matched a recorded hash) or ``computed``."""

    name: str
    sha256: str
    check: str  # "known sha256", "known git blob", "computed (no recorded hash)"
    origin: str = ""


@dataclass
class InstallRecord:
    """What ``get`` or ``add`` installed, from where, and how complete and checked it is."""

    name: str
    method: str  # "get" or "add"
    source: str
    layout: str  # "moved from archive", "linked", "copied"
    found: int
    total: int
    files: list[Checked] = field(default_factory=list)
    archives: list[Checked] = field(default_factory=list)
    missing_examples: list[str] = field(default_factory=list)
    image_root: str = ""
    terms_accepted: str = ""
    notes: list[str] = field(default_factory=list)
    installed_at: str = ""
    qbench_version: str = ""

    @property
    def partial(self) -> bool:
        return self.found < self.total

    @property
    def verified(self) -> bool:
        """Complete, and every file came from a source whose recorded hash it matched."""
        checks = [*self.files, *self.archives]
        return not self.partial and bool(self.archives) and all(c.check.startswith("known") for c in checks)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> InstallRecord:
        raw = dict(raw)
        raw["files"] = [Checked(**c) for c in raw.get("files", [])]
        raw["archives"] = [Checked(**c) for c in raw.get("archives", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def install_dir(name: str, home: Path | None = None) -> Path:
    return (home or data_home()) / name


def read_record(name: str, home: Path | None = None) -> InstallRecord | None:
    path = install_dir(name, home) / RECORD
    try:
        return InstallRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None  # a damaged record is no install; `get`/`add` will replace it


@dataclass(frozen=True)
class Status:
    """``missing``, ``partial``, ``ready``, ``verified`` or ``broken``, with counts and the install's path."""

    state: str
    path: Path
    found: int = 0
    total: int = 0
    detail: str = ""

    def text(self) -> str:
        if self.state == "partial":
            return f"partial {self.found}/{self.total}"
        if self.state == "broken":
            return f"broken ({self.detail})"
        return self.state


def status(entry: CatalogEntry, home: Path | None = None, *, sample: int = 25) -> Status:
    """The state of one dataset here; checks the list files and a sample of the images still exist."""
    folder = install_dir(entry.name, home)
    record = read_record(entry.name, home)
    if record is None:
        return Status("missing", folder)
    for view in entry.views:
        if view.list not in ("", ".") and not (folder / view.list).exists():
            return Status("broken", folder, record.found, record.total, f"{view.list} is gone")
    if entry.needs_images:
        images = folder / IMAGES
        if not images.is_dir():
            return Status("broken", folder, record.found, record.total, "images/ is gone")
        for checked, path in enumerate(images.rglob("*")):
            if checked >= sample:
                break
            if path.is_symlink() and not path.exists():
                return Status(
                    "broken", folder, record.found, record.total, f"{path.name} links to a file that is gone"
                )
    if record.partial:
        return Status("partial", folder, record.found, record.total)
    return Status("verified" if record.verified else "ready", folder, record.found, record.total)

"""``--data NAME`` for catalog names: the installed copy with its official list file, or the exact command.

Called by ``qbench.data.dataset.load_dataset`` only when no file or folder of that name exists. A partial
install gives only the samples whose images it has, and says so in ``Dataset.info["partial"]`` (n of N),
which the run's manifest and every report carry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from qbench.catalog.home import IMAGES, PRESENT, data_home, read_record, status
from qbench.catalog.registry import load_catalog
from qbench.data.base import Dataset, LoadOptions
from qbench.errors import DataError


def catalog_dataset(
    name: str, options: LoadOptions, load_dataset: Callable[[Path, LoadOptions], Dataset]
) -> Dataset | None:
    """The installed dataset a catalog name refers to; None when the name is not in the catalog.

    ``load_dataset`` is :func:`qbench.data.dataset.load_dataset`, passed in by its only caller (so the
    catalog does not import the loader that imports it).
    """
    catalog = load_catalog()
    hit = catalog.view(name)
    if hit is None:
        return None
    entry, view = hit
    state = status(entry)
    if state.state in ("missing", "broken"):
        why = "is not installed" if state.state == "missing" else f"is broken ({state.detail})"
        manual = entry.manual_hint() if entry.manual_first else ""
        raise DataError(
            f"dataset '{name}' {why}",
            hint=f"run: {entry.get_command()}" + (f"  ({manual})" if manual else ""),
        )
    folder = data_home() / entry.name
    path = folder if view.list in ("", ".") else folder / view.list
    images = folder / IMAGES if entry.needs_images and view.format != "image-folder" else None
    if view.format == "image-folder":
        path = folder / IMAGES
    loaded = load_dataset(
        path,
        replace(options, format=view.format, split=view.split or options.split, images=images),
    )
    record = read_record(entry.name)
    info: dict[str, Any] = {
        "catalog": entry.name,
        "install": state.text(),
        "install_path": str(folder),
        "install_source": record.source if record else None,  # e.g. which SPAQ copy (resolutions differ)
        "install_image_root": record.image_root if record else None,
    }
    samples = loaded.samples
    fingerprint = loaded.fingerprint
    if state.state == "partial":
        present = set((folder / PRESENT).read_text().split("\n")) if (folder / PRESENT).exists() else set()
        assert images is not None
        samples = tuple(
            s for s in samples if all(str(p.relative_to(images).as_posix()) in present for p in s.images)
        )
        if not samples:
            raise DataError(f"the partial install of {name} has none of its images", file=folder)
        info["partial"] = {"n": len(samples), "of": len(loaded.samples)}
        digest = hashlib.blake2b(digest_size=12)
        digest.update(fingerprint.encode())
        for s in samples:
            digest.update(s.id.encode())
        fingerprint = digest.hexdigest()
    return replace(
        loaded, name=view.name, samples=samples, fingerprint=fingerprint, info={**loaded.info, **info}
    )

"""Images stay inside the dataset's folder: a data file cannot make qbench read (and upload) any file.

An image path in a data file is relative to the image folder (``--images``, else the data file's folder).
One that leaves it, by ``..`` parts or by being absolute (``/etc/...``, ``C:\\...``, ``~/...``), is refused
with one line naming the item and the path, unless the user opts in (``--allow-outside-images`` or
``QBENCH_ALLOW_OUTSIDE_IMAGES=1``) because they keep images elsewhere on purpose. The check is on the path as
written: symbolic links inside the folder are the user's own layout (``qbench data add`` makes them) and are
followed. Archives qbench unpacks obey the same rule (:mod:`qbench.catalog.unpack`).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from qbench.errors import DataError

ALLOW_ENV = "QBENCH_ALLOW_OUTSIDE_IMAGES"
HINT = (
    "keep images under the data folder or point --images at their folder; "
    f"to allow it, pass --allow-outside-images (or set {ALLOW_ENV}=1)"
)


def allowed() -> bool:
    return os.environ.get(ALLOW_ENV, "").strip().lower() in {"1", "true", "yes"}


def leaves_folder(rel: str) -> bool:
    """Whether a path as written in a data file points outside the folder it is relative to."""
    posix = rel.strip().replace("\\", "/")
    if posix.startswith(("/", "~")) or (len(posix) > 1 and posix[1] == ":"):
        return True
    normal = posixpath.normpath(posix)
    return normal == ".." or normal.startswith("../")


def image_path(root: Path, rel: str, *, file: Path | str, item: str | int, field: str = "img_path") -> Path:
    """``root / rel``, or a :class:`DataError` if ``rel`` leaves ``root`` and that was not allowed."""
    if leaves_folder(rel) and not allowed():
        raise DataError(
            f"image path '{rel}' leaves the image folder {root}", file=file, item=item, field=field, hint=HINT
        )
    return root / rel

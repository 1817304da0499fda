"""The only place that opens image files.

Images are decoded in full, exactly as a plain ``Image.open(path).convert("RGB")`` gives them, so scores
equal the official scripts'. A faster reduced-size JPEG decode exists only as an explicit option
(``draft``), and the runner records it in the manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from qbench.errors import DataError


def open_image(path: Path, *, draft: int | None = None, item: str | None = None) -> Any:
    """Decode an image file to RGB; a missing or corrupt file is a :class:`DataError` naming it.

    ``draft`` (pixels of the shorter side) lets libjpeg decode at a reduced scale: much faster for large
    photos, but not the official pixels, so it is never the default.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if draft and img.format == "JPEG":
                img.draft("RGB", (draft, draft))
            img.load()
            return img if img.mode == "RGB" else img.convert("RGB")  # no copy of an RGB photo
    except FileNotFoundError:
        raise DataError("image file not found", file=path, item=item, field="img_path") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image cannot be decoded ({exc})", file=path, item=item, field="img_path") from None


def check_image(path: Path) -> str | None:
    """None when the image exists and decodes fully; otherwise the reason, for ``qbench validate``."""
    from PIL import Image

    if not path.exists():
        return "image file not found"
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as exc:
        return f"image cannot be decoded ({exc})"
    return None


def file_key(path: Path) -> str:
    """A content hash of the image file (bytes, not pixels): the image's identity in the response cache."""
    digest = hashlib.sha256()  # hardware-accelerated on most CPUs: ~1 ms for a 2 MB photo
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:32]

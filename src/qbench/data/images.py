"""The only place that opens image files.

Images are decoded in full, exactly as a plain ``Image.open(path).convert("RGB")`` gives them, so scores
equal the official scripts'. A faster reduced-size JPEG decode exists only as an explicit option
(``draft``), and the runner records it in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from qbench.errors import DataError

#: Images with more pixels than this are refused (that sample fails, naming the file): a "decompression
#: bomb" (a small file that decodes to gigabytes) must not take the whole run down. Raise it for real
#: gigapixel images with QBENCH_MAX_PIXELS=N (0: no limit). The default is Pillow's own error threshold.
MAX_PIXELS_ENV = "QBENCH_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 178_956_970


def max_pixels() -> int:
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        return max(0, int(raw))
    except ValueError:
        raise DataError(f"{MAX_PIXELS_ENV}={raw!r} is not a whole number of pixels") from None


def _regular_file(path: Path, item: str | None) -> int:
    """The file's size in bytes. FIFOs, devices and sockets are refused, never read: reading one can block
    forever or never end."""
    try:
        info = os.stat(path)
        mode = info.st_mode
    except FileNotFoundError:
        raise DataError("image file not found", file=path, item=item, field="img_path") from None
    except OSError as exc:
        raise DataError(
            f"image file cannot be read ({exc.strerror})", file=path, item=item, field="img_path"
        ) from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise DataError(f"not a regular file ({kind}); refused", file=path, item=item, field="img_path")
    return info.st_size


def _check_size(img: Any, path: Path, item: str | None) -> None:
    limit = max_pixels()
    width, height = img.size
    if limit and width * height > limit:
        raise DataError(
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,}",
            file=path,
            item=item,
            field="img_path",
            hint=f"if the image is real, raise the limit: {MAX_PIXELS_ENV}={width * height}",
        )


WHOLE_FILE_LIMIT = 64 << 20  # bytes: files up to this size are handed to the decoder in one piece


def _read_whole(img: Any, size: int) -> None:
    """Let PIL hand the decoder the whole file at once instead of 64 KiB pieces: the same decoder makes the
    same pixels, but in one call that releases the GIL throughout. With pieces, each one waits for the GIL,
    and while torch and transformers are imported (seconds of Python holding it) a start-up decode took about
    twice as long."""
    img.decodermaxblock = max(img.decodermaxblock, min(size, WHOLE_FILE_LIMIT))


def open_image(path: Path, *, draft: int | None = None, item: str | None = None) -> Any:
    """Decode an image file to RGB; a missing, corrupt, oversized or non-regular file is a :class:`DataError`.

    ``draft`` (pixels of the shorter side) lets libjpeg decode at a reduced scale: much faster for large
    photos, but not the official pixels, so it is never the default.
    """
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own limit (max_pixels), checked from the header before decoding
    size = _regular_file(path, item)
    try:
        with Image.open(path) as img:
            _check_size(img, path, item)
            if draft and img.format == "JPEG":
                img.draft("RGB", (draft, draft))
            _read_whole(img, size)
            img.load()
            return img if img.mode == "RGB" else img.convert("RGB")  # no copy of an RGB photo
    except FileNotFoundError:
        raise DataError("image file not found", file=path, item=item, field="img_path") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image cannot be decoded ({exc})", file=path, item=item, field="img_path") from None


def check_image(path: Path) -> str | None:
    """None when the image exists and decodes fully; otherwise the reason, for ``qbench validate``."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    try:
        _regular_file(path, None)
        with Image.open(path) as img:
            _check_size(img, path, None)
            img.load()
    except DataError as exc:
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
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

"""Images are decoded exactly as a plain ``Image.open(path).convert("RGB")`` decodes them, though PIL's decoder
gets the whole file in one piece (qbench.data.images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbench.data.images import open_image
from qbench.errors import DataError


def noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "fmt, options, mode",
    [
        ("JPEG", {"quality": 95}, "RGB"),
        ("JPEG", {"quality": 80, "progressive": True}, "RGB"),
        ("JPEG", {"quality": 90}, "L"),
        ("PNG", {}, "RGB"),
        ("PNG", {}, "RGBA"),
        ("PNG", {}, "P"),
        ("TIFF", {}, "RGB"),
        ("WEBP", {"quality": 90}, "RGB"),
        ("BMP", {}, "RGB"),
    ],
)
def test_decoding_in_one_piece_gives_the_plain_decode(
    tmp_path: Path, fmt: str, options: dict, mode: str
) -> None:
    """open_image hands PIL's decoder the whole file at once: the pixels are a plain decode's, for files
    far over PIL's 64 KiB pieces."""
    photo = noise(900, 700, 7).convert(mode)
    path = tmp_path / f"photo.{fmt.lower()}"
    photo.save(path, fmt, **options)
    assert path.stat().st_size > 3 * 65536 or fmt in {"JPEG", "WEBP"}
    with Image.open(path) as plain:
        expected = np.asarray(plain.convert("RGB"))
    assert np.array_equal(np.asarray(open_image(path)), expected)


def test_a_truncated_photo_is_still_refused_when_read_in_one_piece(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    noise(900, 700, 8).save(path, "JPEG", quality=95)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated"):
        open_image(path)

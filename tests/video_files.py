"""Real video files for tests, written with PyAV: frame ``i`` shows its own index as 10 black/white stripes.

The stripes are wide (16 px) and pure black or white, so a lossy codec (H.264 with B-frames, whose decode
order differs from presentation order) keeps every bit; :func:`frame_number` reads the index back from a
decoded frame, so a test can tell exactly which frames reached a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BITS = 10
STRIPE = 16
HEIGHT = 32


def index_image(index: int, width: int = BITS * STRIPE, height: int = HEIGHT) -> np.ndarray:
    """An RGB frame whose stripe ``b`` is white when bit ``b`` of ``index`` is set."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    stripe = width // BITS
    for bit in range(BITS):
        if index >> bit & 1:
            frame[:, bit * stripe : (bit + 1) * stripe] = 255
    return frame


def frame_number(image: Any) -> int:
    """The index a frame shows (the inverse of :func:`index_image`, robust to codec noise and resizing)."""
    pixels = np.asarray(image.convert("L"), dtype=np.float64)
    stripe = pixels.shape[1] / BITS
    value = 0
    for bit in range(BITS):
        column = pixels[:, int(bit * stripe + stripe * 0.25) : int(bit * stripe + stripe * 0.75)]
        if column.mean() > 127:
            value |= 1 << bit
    return value


def write_video(
    path: Path,
    n_frames: int,
    *,
    codec: str = "libx264",
    fps: int = 25,
    width: int = BITS * STRIPE,
    height: int = HEIGHT,
) -> Path:
    """A video of ``n_frames`` frames, frame ``i`` showing ``i``."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"bf": "2", "g": "12"}  # B-frames: decode order is not presentation order
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(index_image(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path

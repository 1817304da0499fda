"""Video frames for Q-Bench-Video, decoded with PyAV (the ``video`` extra).

Which frames (protocol.md 9.7, the official ``GPT_test.py``): ``k`` frames at indices ``int(N / k) * i`` for
``i = 0 .. k-1``, where ``N`` is the decoder's frame count; ``k = 16`` for one video, ``8`` per video of a
``_cat_`` pair. A video shorter than ``k`` frames gives ``int(N / k) = 0``: ``k`` copies of its first frame, as
the official script sends. VLMEvalKit samples ``int(i * N / (k + 1))`` for ``i = 1 .. k`` instead; it is an
explicit option (``-T sampling=vlmevalkit``), for comparison only.

``N`` is the number of the stream's video packets (what decord, the official decoder, calls ``len(vr)``: one
packet per frame); frames are then decoded in presentation order and the wanted ones kept, so one pass decodes
the file and memory holds only the chosen frames. A file that decodes to fewer frames than it has packets, or
is not a video, is a :class:`DataError` naming the file.

For APIs the official script shrinks each frame to fit 512 x 512 (keeping its aspect, Pillow's default
resampling) and sends it as JPEG (Pillow's default quality) with ``detail: low``. :func:`api_frame` makes those
bytes once and attaches them to the frame (``info[API_JPEG]``, ``info[API_DETAIL]``); the OpenAI-compatible
adapter sends exactly those bytes. Local models get the frame's full decoded pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from qbench.errors import DataError, MissingDependency

__all__ = [
    "API_DETAIL",
    "API_JPEG",
    "API_MAX_SIDE",
    "SAMPLINGS",
    "api_frame",
    "check_video",
    "count_frames",
    "frame_indices",
    "read_frames",
]

Sampling = Literal["official", "vlmevalkit"]
SAMPLINGS: tuple[Sampling, ...] = ("official", "vlmevalkit")
API_MAX_SIDE = 512
API_JPEG = "qbench.api_jpeg"  # PIL Image.info key: the JPEG bytes an API adapter sends for this frame
API_DETAIL = "qbench.api_detail"  # PIL Image.info key: the OpenAI image_url detail for this frame


def frame_indices(n_frames: int, k: int, sampling: Sampling = "official") -> list[int]:
    """The ``k`` frame indices taken from a video of ``n_frames`` frames."""
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if sampling == "official":
        return [int(n_frames / k) * i for i in range(k)]
    if sampling == "vlmevalkit":
        step = n_frames / (k + 1)
        return [int(i * step) for i in range(1, k + 1)]
    raise ValueError(f"unknown frame sampling {sampling!r} (known: {', '.join(SAMPLINGS)})")


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise MissingDependency("av", "video") from None
    return av


def _open(path: Path, item: str | None) -> Any:
    av = _av()
    if not path.is_file():
        raise DataError("video file not found", file=path, item=item, field="video_name")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DataError(f"not a readable video ({exc})", file=path, item=item, field="video_name") from None
    if not container.streams.video:
        container.close()
        raise DataError("the file has no video stream", file=path, item=item, field="video_name")
    return container


def count_frames(path: Path, item: str | None = None) -> int:
    """The number of frames of the first video stream: its packets, counted without decoding."""
    av = _av()
    container = _open(path, item)
    try:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.FFmpegError as exc:
        raise DataError(f"broken video data ({exc})", file=path, item=item, field="video_name") from None
    finally:
        container.close()


def _check_size(width: int, height: int, path: Path, item: str | None) -> None:
    """Frames over ``QBENCH_MAX_PIXELS`` are refused before any is decoded, as images are (a video "bomb")."""
    from qbench.data.images import MAX_PIXELS_ENV, max_pixels

    limit = max_pixels()
    if limit and width * height > limit:
        raise DataError(
            f"video frames are {width}x{height} = {width * height:,} pixels, over the limit of {limit:,}",
            file=path,
            item=item,
            field="video_name",
            hint=f"if the video is real, raise the limit: {MAX_PIXELS_ENV}={width * height}",
        )


def check_video(path: Path) -> str | None:
    """None when the video opens and has frames; otherwise the reason, for ``qbench validate``."""
    try:
        if count_frames(path) < 1:
            return "the video has no frames"
    except (DataError, MissingDependency) as exc:
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return None


def read_frames(
    path: Path, k: int, sampling: Sampling = "official", *, item: str | None = None
) -> tuple[list[Any], list[int]]:
    """``k`` frames of a video as RGB PIL images, and their indices (:func:`frame_indices`)."""
    av = _av()
    n = count_frames(path, item)
    if n < 1:
        raise DataError("the video has no frames", file=path, item=item, field="video_name")
    indices = frame_indices(n, k, sampling)
    wanted = set(indices)
    last = max(indices)
    found: dict[int, Any] = {}
    container = _open(path, item)
    try:
        stream = container.streams.video[0]
        _check_size(stream.codec_context.width, stream.codec_context.height, path, item)
        stream.thread_type = "AUTO"
        for position, frame in enumerate(container.decode(stream)):
            if position in wanted:
                found[position] = frame.to_image().convert("RGB")
            if position >= last:
                break
    except av.FFmpegError as exc:
        raise DataError(f"broken video data ({exc})", file=path, item=item, field="video_name") from None
    finally:
        container.close()
    missing = [i for i in indices if i not in found]
    if missing:
        raise DataError(
            f"the video has {n} packets but decoded to only {len(found) and max(found) + 1} usable frames "
            f"(frame {missing[0]} is missing)",
            file=path,
            item=item,
            field="video_name",
        )
    return [found[i] for i in indices], indices


def shrink(image: Any, max_side: int = API_MAX_SIDE) -> Any:
    """The official ``resize_image``: fit inside ``max_side`` x ``max_side``, never enlarge."""
    width, height = image.size
    scale = min(max_side / width, max_side / height)
    if scale < 1:
        return image.resize((int(width * scale), int(height * scale)))
    return image


def api_frame(image: Any, detail: str = "low") -> Any:
    """The frame with the official API bytes attached: shrunk to at most 512 px and JPEG-encoded once."""
    buf = io.BytesIO()
    shrink(image).save(buf, format="JPEG")
    image.info[API_JPEG] = buf.getvalue()
    image.info[API_DETAIL] = detail
    return image


def pair_names(video_name: str) -> tuple[str, str]:
    """The two files of a pair item: ``a_cat_b.ext`` -> (``a``, ``b`` without its last 4 characters)."""
    first, sep, rest = video_name.partition("_cat_")
    if not sep or not first or len(rest) <= 4:
        raise ValueError(f"not a pair name ('<a>_cat_<b>.ext'): {video_name!r}")
    return first, rest[:-4]


def frames_per_video(n_videos: int, total: int = 16) -> int:
    """16 frames for one video, 8 + 8 for a pair."""
    return total // n_videos


def describe_sampling(sampling: Sampling, counts: Sequence[int]) -> str:
    if sampling == "official":
        return f"official: int(N/k)*i, k={'+'.join(map(str, counts))}"
    return f"vlmevalkit: int(i*N/(k+1)), i=1..k, k={'+'.join(map(str, counts))}"

"""Q-Bench-Video frame reading: time and memory to take the official 16 frames from one video with PyAV.

Writes a test video (H.264 with B-frames, like the release's MP4s) of ``--seconds`` at ``--fps`` and
``--size``, then reads 16 frames (one video) and 8 + 8 (a pair) the official way, and prints per video:
seconds to count the packets, seconds to decode up to the last wanted frame, the frames' RGB megabytes as
local models get them, and the JPEG kilobytes an API request carries (frames shrunk to fit 512 px).

    python benchmarks/video_frames.py [--seconds 10] [--fps 30] [--size 1920x1080] [--repeat 3]

Run by hand (not in CI); needs the ``video`` extra.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from qbench.data.video import API_JPEG, api_frame, count_frames, read_frames
from video_files import write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    n = int(args.seconds * args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "video.mp4"
        start = time.perf_counter()
        write_video(path, n, fps=args.fps, width=width, height=height)
        took, size = time.perf_counter() - start, path.stat().st_size / 1e6
        print(f"wrote {n} frames {width}x{height} in {took:.1f} s ({size:.1f} MB)")
        for k, what in ((16, "one video (16 frames)"), (8, "one side of a pair (8 frames)")):
            counts, reads = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                count_frames(path)
                t1 = time.perf_counter()
                frames, _ = read_frames(path, k)
                t2 = time.perf_counter()
                counts.append(t1 - t0)
                reads.append(t2 - t1)
            rgb = sum(f.width * f.height * 3 for f in frames) / 1e6
            jpeg = sum(len(api_frame(f).info[API_JPEG]) for f in frames) / 1e3
            print(
                f"{what}: count {min(counts):.3f} s, count+decode {min(reads):.3f} s (best of {args.repeat}); "
                f"RGB {rgb:.1f} MB for local models, JPEG {jpeg:.0f} kB per API request"
            )


if __name__ == "__main__":
    main()

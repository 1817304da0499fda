"""Small generated data sets in the real formats of A-Bench, MICBench and Q-Bench-Video (protocol.md 9.5-9.7).

Each writer returns the data file and writes its images (or PyAV videos) beside it, so the loaders, the
tasks and the CLI read them exactly as they read a downloaded release.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

# A-Bench: (category, options, correct option index) — two items per leaf used below.
ABENCH_ITEMS: list[tuple[str, tuple[str, ...], int]] = [
    ("part1 -> basic_recognition -> major", ("cat", "dog", "bird"), 0),
    ("part1 -> basic_recognition -> major", ("red", "blue"), 1),
    ("part1 -> basic_recognition -> minor", ("one", "two", "three", "four"), 2),
    ("part1 -> bag_of_words -> attribute", ("Forest", "Riverside", "Desert"), 1),
    ("part1 -> bag_of_words -> attribute", ("yes", "no"), 0),
    ("part1 -> outside_knowledge -> contradiction", ("yes", "no"), 1),
    ("part2 -> technical", ("sharp", "blurry"), 1),
    ("part2 -> technical", ("High", "Low", "Medium"), 2),
    ("part2 -> aesthetic", ("good", "poor"), 0),
    ("part2 -> generative", ("yes", "no"), 0),
]


def image(seed: int, size: tuple[int, int] = (24, 16)) -> Image.Image:
    return Image.new("RGB", size, (37 * seed % 256, 90 + seed % 100, 200 - seed % 150))


def write_image(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image(seed).save(path)
    return path


def abench_json(folder: Path, *, answers: bool = True, name: str = "Abench.json") -> Path:
    """``Abench.json`` with ``imgs/`` beside it; the legacy release withholds answers (``answers=False``)."""
    items = []
    for i, (category, options, correct) in enumerate(ABENCH_ITEMS):
        rel = f"part{1 if category.startswith('part1') else 2}_{i:04d}.png"
        write_image(folder / rel, i)
        item: dict[str, Any] = {
            "img_path": rel,
            "question": f"Question {i} about the generated image?",
            "answers": list(options),
            "category": category,
        }
        if answers:
            item["correct_ans"] = options[correct]
        items.append(item)
    path = folder / name
    path.write_text(json.dumps(items, indent=1))
    return path


def abench_parquet(folder: Path, split: str = "dev") -> Path:
    """The A-Bench-HF layout: ``data/<split>-00000-of-00001.parquet`` with embedded PNG bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for i, (category, options, correct) in enumerate(ABENCH_ITEMS):
        buf = io.BytesIO()
        image(i).save(buf, format="PNG")
        padded = [*options, *["N/A"] * (4 - len(options))]
        rows.append(
            {
                "id": i,
                "image": {"bytes": buf.getvalue(), "path": f"part_{i}.png"},
                "question": f"Question {i} about the generated image?",
                **{f"option{j}": padded[j] for j in range(4)},
                "category": category,
                "correct_choice": "ABCD"[correct] if split == "dev" else "@",
            }
        )
    path = folder / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return folder


# MICBench: (number of images, options, correct index)
MICBENCH_ITEMS: list[tuple[int, tuple[str, ...], int]] = [
    (3, ("The first image", "The second image", "The third image"), 1),
    (4, ("The first image", "The second image", "The third image", "The fourth image"), 3),
    (3, ("Yes", "No"), 0),
    (4, ("Yes", "No"), 1),
]


def micbench_json(folder: Path, items: Sequence[tuple[int, tuple[str, ...], int]] = MICBENCH_ITEMS) -> Path:
    rows = []
    for i, (n, options, correct) in enumerate(items):
        paths = [f"images/q{i}_{j}.png" for j in range(n)]
        for j, rel in enumerate(paths):
            write_image(folder / rel, 10 * i + j + 1)
        rows.append(
            {
                "img_path": paths,
                "question": f"Question {i}: which of the {n} images is the sharpest?",
                "candidates": list(options),
                "correct_ans": options[correct],
                "correct_choice": "ABCD"[correct],
                "num_img": n,
            }
        )
    path = folder / "micbench_dev.json"
    path.write_text(json.dumps(rows, indent=1))
    return path


def qbench_video_json(folder: Path, *, frames: Sequence[int] = (40, 33, 25, 50, 17)) -> Path:
    """A Q-Bench-Video json with single videos, a ``_cat_`` pair and open-ended items; videos under video/."""
    from video_files import write_video

    videos = folder / "video"
    for i, n in enumerate(frames):
        write_video(videos / f"v{i}.mp4", n)
    items = [
        {
            "video_name": "v0.mp4",
            "question": "Is the video blurry?",
            "answers": ["Yes", "No"],
            "correct_ans": "No",
            "question_type": "Yes-or-No",
            "concern": "Technical",
            "context": "Global",
        },
        {
            "video_name": "v1.mp4",
            "question": "How is the composition of the person in the video?",
            "answers": ["Good", "Poor", "Average"],
            "correct_ans": "Average",
            "question_type": "What-How",
            "concern": "Aesthetic",
            "context": "Referring",
        },
        {
            "video_name": "v2.mp4_cat_v3.mp4.mp4",
            "question": "Which video is smoother?",
            "answers": ["The first video", "The second video"],
            "correct_ans": "The second video",
            "question_type": "What-How",
            "concern": "Temporal",
            "context": "Compare",
        },
        {
            "video_name": "v4.mp4",
            "question": "Describe the AIGC artifacts of the video.",
            "correct_ans": "The hands are deformed and the background flickers.",
            "question_type": "open_ended",
            "concern": "AIGC",
            "context": "Global",
        },
        {
            "video_name": "v0.mp4_cat_v4.mp4.mp4",
            "question": "Compare the noise of the two videos.",
            "correct_ans": "The first video is noisier.",
            "question_type": "open_ended",
            "concern": "Technical",
            "context": "Joint",
        },
    ]
    path = folder / "Q_Bench_Video_dev.json"
    path.write_text(json.dumps(items, indent=1))
    return path

"""``py:`` models for the family's task tests: scripted replies, and a log of exactly what each request held.

``Scripted`` answers each request with the reply whose key (a question text) the request's text contains, and
appends to ``log`` (a JSONL file) the request's texts in order, the index each image shows when it is a test
video frame (tests/video_files.py), each image's size, and whether it carries the API JPEG bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbench.types import ImageSlot, Request, Text
from video_files import frame_number


class Scripted:
    name = "scripted"

    def __init__(self, replies: str, log: str = "", frames: str = "no", max_images: str = "0") -> None:
        self.replies: dict[str, str] = json.loads(Path(replies).read_text())
        self.log = Path(log) if log else None
        self.frames = frames == "yes"
        if int(max_images):
            self.max_images = int(max_images)

    def generate(self, requests: list[Request]) -> list[str]:
        out = []
        for request in requests:
            text = request.text
            hits = [key for key in self.replies if key in text]
            out.append(self.replies[max(hits, key=len)] if hits else "I do not know.")
            if self.log is not None:
                entry: dict[str, Any] = {
                    "parts": [p.text if isinstance(p, Text) else p.index for p in request.content],
                    "sizes": [list(im.size) for im in request.images],
                    "api_jpeg": [
                        bool(getattr(im, "info", {}).get("qbench.api_jpeg")) for im in request.images
                    ],
                    "keys": list(request.image_keys),
                }
                if self.frames:
                    entry["frames"] = [frame_number(im) for im in request.images]
                with self.log.open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")
        return out


def slots(entry: dict[str, Any]) -> list[int]:
    return [p for p in entry["parts"] if isinstance(p, int)]


__all__ = ["ImageSlot", "Scripted", "slots"]

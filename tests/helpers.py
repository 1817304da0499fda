"""Small builders shared by tests: images, MOS files, and running the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def natural_image(seed: int = 0, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A deterministic image with structure at several scales (smooth gradients, edges, texture)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(float)
    base = 128 + 60 * np.sin(x / (7 + seed % 5)) * np.cos(y / 9) + 40 * ((x // 16 + y // 16) % 2)
    rgb = np.stack([base, base * 0.8 + 30, 255 - base], axis=-1) + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def write_mos_set(folder: Path, n: int = 8, *, blur_quality: bool = True, name: str = "mos.json") -> Path:
    """Images blurred by increasing amounts with MOS falling as the blur grows; the official MOS json."""
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n):
        img = natural_image(i)
        radius = (i % 4) * 1.5
        if blur_quality and radius:
            img = img.filter(ImageFilter.GaussianBlur(radius))
        fname = f"img_{i:03d}.png"
        img.save(folder / fname)
        items.append({"img_path": fname, "gt_score": str(round(5.0 - radius + 0.01 * i, 3))})
    path = folder / name
    path.write_text(json.dumps(items, indent=1))
    return path


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m qbench ARGS`` in a subprocess, as a user would run it."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qbench", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

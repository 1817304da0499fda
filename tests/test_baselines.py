"""The classical baselines as models: real photos, known degradations, the right sign of correlation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import run_cli
from qbench.data.synthetic import load_sources, noise


@pytest.fixture(scope="module")
def noisy_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two packaged natural photos at four noise strengths, MOS falling with the noise."""
    folder = tmp_path_factory.mktemp("noisy")
    sources = load_sources()
    items = []
    for name in ("astronaut", "coffee"):
        for strength in (0.0, 0.2, 0.45, 0.8):
            img = noise(sources[f"{name}.jpg"], strength, rng=np.random.default_rng(7))
            fname = f"{name}_{int(strength * 100):02d}.png"
            Image.fromarray(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)).save(folder / fname)
            items.append({"img_path": fname, "gt_score": 5 - 4 * strength})
    path = folder / "noisy.json"
    path.write_text(json.dumps(items))
    return path


@pytest.mark.parametrize("model", ["niqe", "brisque"])
def test_higher_quality_gets_a_higher_score(noisy_photos: Path, tmp_path: Path, model: str) -> None:
    result = run_cli("run", "a3", "--model", model, "--data", str(noisy_photos), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (metrics_file,) = tmp_path.rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["srcc"] > 0.6, metrics  # negated NIQE/BRISQUE: higher is better, like MOS
    report = run_cli("report", str(tmp_path), "--format", "md")
    assert f"| {model} |" in report.stdout and f"{metrics['srcc']:.3f}" in report.stdout


def test_random_is_a_floor(noisy_photos: Path, tmp_path: Path) -> None:
    result = run_cli("run", "a3", "--model", "random", "--data", str(noisy_photos), "--out", str(tmp_path))
    assert result.returncode == 0

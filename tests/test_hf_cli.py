"""``qbench run a3 --model hf:<folder>`` end to end, in a real subprocess, against the official A3 score
computed directly with transformers for each image (protocol 4.1: the LLaVA prompt written out by hand, the
next-token logits of " good" and " poor", softmax at T=100, scipy's SRCC and PLCC against the MOS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hf

LLAVA_A3_PROMPT = "USER: <image>\nRate the quality of the image. ASSISTANT: The quality of the image is"


def qbench(*args: str, env: dict[str, str], code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "qbench"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "QBENCH_CACHE_DIR": str(tmp_path / "cache"),
        "COLUMNS": "200",
    }


def write_mos_set(folder: Path, n: int = 10) -> tuple[Path, list[float]]:
    """Ten small pictures of varied sizes and noise, and an official-style MOS json (scores as strings)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    items, mos = [], []
    for i in range(n):
        rng = np.random.default_rng(100 + i)
        h, w = 24 + 6 * (i % 4), 32 + 5 * (i % 3)
        yy, xx = np.mgrid[0:h, 0:w]
        pixels = np.stack([xx * 8 % 256, yy * 6 % 256, (xx * yy) % 256], axis=-1) + rng.normal(
            0, 8 * i, (h, w, 3)
        )
        name = f"images/img_{i:02d}.png"
        (folder / "images").mkdir(exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / name)
        score = round(4.5 - 0.3 * i + 0.2 * (i % 3), 3)
        items.append({"img_path": name, "gt_score": f"{score}"})
        mos.append(score)
    path = folder / "tiny_mos.json"
    path.write_text(json.dumps(items, indent=1))
    return path, mos


def direct_scores(folder: Path, images: list[Path]) -> list[float]:
    """The official A3 score per image, unbatched, with transformers alone."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from PIL import Image

    processor = transformers.AutoProcessor.from_pretrained(folder)
    model = transformers.AutoModelForImageTextToText.from_pretrained(folder).eval()
    good = processor.tokenizer(" good", add_special_tokens=False)["input_ids"][0]
    poor = processor.tokenizer(" poor", add_special_tokens=False)["input_ids"][0]
    scores = []
    for path in images:
        inputs = processor(text=LLAVA_A3_PROMPT, images=Image.open(path).convert("RGB"), return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        pair = torch.stack([logits[good], logits[poor]]).double()  # float64: the scores differ by ~1e-3
        scores.append(float(torch.softmax(pair / 100, 0)[0]))
    return scores


def test_cli_a3_equals_the_official_score_computed_directly(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from scipy import stats

    import tiny_models

    folder = tiny_models.cached("llava")
    data, mos = write_mos_set(tmp_path / "db")
    runs = tmp_path / "runs"
    options = ["-M", "batch_size=3", "-M", "dtype=float32"]  # batches of 3 for 10 images: a ragged last one
    result = qbench(
        "run", "a3", "--model", f"hf:{folder}", "--data", str(data), "--out", str(runs), *options, env=env
    )
    assert result.returncode == 0, result.stderr + result.stdout
    [metrics_file] = runs.rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    images = [data.parent / item["img_path"] for item in json.loads(data.read_text())]
    expected = direct_scores(folder, images)
    assert metrics["n"] == len(images)
    assert metrics["srcc"] == pytest.approx(stats.spearmanr(mos, expected)[0], abs=1e-6)
    assert metrics["plcc"] == pytest.approx(stats.pearsonr(mos, expected)[0], abs=1e-6)
    assert len({round(s, 7) for s in expected}) == len(expected)  # the pictures really get different scores

    records = [json.loads(line) for line in (metrics_file.parent / "records.jsonl").read_text().splitlines()]
    by_path = {r["img_path"]: r["score"] for r in records}
    for item, score in zip(json.loads(data.read_text()), expected):
        assert by_path[item["img_path"]] == pytest.approx(score, abs=1e-6)
    manifest = json.loads((metrics_file.parent / "manifest.json").read_text())
    info = manifest["model_info"]
    assert info["kind"] == "hf" and info["dtype"] == "float32" and len(info["folder_hash"]) == 16
    assert info["level_tokens"]["good"]["token"] == "Ġgood"


def test_cli_option_typo_and_missing_extra_are_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    data, _ = write_mos_set(tmp_path / "db", n=3)
    out = ["--out", str(tmp_path / "runs")]
    typo = qbench(
        "run", "a3", "--model", "hf:some/model", "--data", str(data), *out, "-M", "dtpye=float32", env=env
    )
    assert typo.returncode == 2
    assert typo.stderr.strip().splitlines() == [
        "error: model option 'dtpye' is not known to hf (did you mean 'dtype'?)"
    ]
    block_torch = "import sys; sys.modules['torch'] = None; from qbench.cli import main; sys.exit(main())"
    no_torch = qbench("run", "a3", "--model", "hf:some/model", "--data", str(data), env=env, code=block_torch)
    assert no_torch.returncode == 2
    [line] = no_torch.stderr.strip().splitlines()
    assert "needs the Python package 'transformers'" in line and "pip install 'qbench[hf]'" in line


def test_cli_missing_model_folder(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    data, _ = write_mos_set(tmp_path / "db", n=3)
    folder = tmp_path / "no-such-model"
    out = ["--out", str(tmp_path / "runs")]
    missing = qbench("run", "a3", "--model", f"hf:{folder}", "--data", str(data), *out, env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [f"error: model folder '{folder}' does not exist"]


def test_importing_qbench_does_not_import_torch(env: dict[str, str]) -> None:
    code = (
        "import sys, qbench, qbench.models.base, qbench.registry, qbench.cli; "
        "qbench.registry.MODELS.names(); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

"""The data the stored old runs were made from: written again, byte for byte, by the test that reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent

A1_ITEMS = [
    (0, 0, ["Yes", "No"], "Yes"),
    (0, 1, ["Yes", "No"], "No"),
    (0, 2, ["Yes", "No"], "No"),
    (1, 0, ["Noise", "Blur", "Overexposure", "Underexposure"], "Blur"),
    (1, 3, ["Red", "Green", "Blue"], "Green"),
    (2, 1, ["High", "Low", "Medium"], "Low"),
]
A2_REFERENCES = ["The red image is sharp.", "The green image is noisy.", "The blue image is blurry."]
A3_SIZES = [(10, 8), (14, 8), (12, 16), (20, 6), (8, 8), (16, 12)]


def write_workspace(root: Path) -> Path:
    """Model module, A1/A2/A3 data files and their images under ``root`` (the old runs' working folder)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "old_models.py", root / "old_models.py")
    a1 = root / "a1"
    a1.mkdir(exist_ok=True)
    items = []
    for i, (qtype, concern, options, correct) in enumerate(A1_ITEMS):
        Image.new("RGB", (12 + i, 8), (30 * i, 90, 160)).save(a1 / f"img_{i}.png")
        items.append(
            {
                "img_path": f"img_{i}.png",
                "question": f"Question {i} about the image?",
                "candidates": options,
                "correct_ans": correct,
                "type": qtype,
                "concern": concern,
            }
        )
    (a1 / "llvisionqa_dev.json").write_text(json.dumps(items, indent=1))
    answers = [dict(item, response=reply) for item, reply in zip(items, _a1_replies())]
    (a1 / "answers_dev.json").write_text(json.dumps(answers, indent=1))
    a2 = root / "a2"
    a2.mkdir(exist_ok=True)
    rows = []
    for i, reference in enumerate(A2_REFERENCES):
        Image.new("RGB", (10 + 2 * i, 8), (200, 40 * i, 40)).save(a2 / f"d{i}.png")
        rows.append({"img_path": f"d{i}.png", "golden_description": reference})
    (a2 / "descriptions.json").write_text(json.dumps(rows, indent=1))
    a3 = root / "a3"
    a3.mkdir(exist_ok=True)
    mos = []
    logits = []
    for i, size in enumerate(A3_SIZES):
        Image.new("RGB", size, (10 * i, 100, 100)).save(a3 / f"q{i}.png")
        mos.append({"img_path": f"q{i}.png", "gt_score": str(round(size[0] / size[1] + 0.1 * i, 3))})
        logits.append(dict(mos[-1], logit_good=size[0] / 7, logit_poor=size[1] / 5))
    (a3 / "mos.json").write_text(json.dumps(mos, indent=1))
    (a3 / "koniq.json").write_text(json.dumps([*logits, logits[0]], indent=1))  # one duplicate
    return root


def _a1_replies() -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_old_models", HERE / "old_models.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.A1_REPLIES)

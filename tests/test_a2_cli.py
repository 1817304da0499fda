"""``qbench run a2`` and ``qbench score`` end to end, through the real CLI in a subprocess.

- An OpenAI-compatible server on 127.0.0.1 plays both the described model and the judge; its judge replies
  are scripted, so the means and the sum are known exactly (and a 429 and an unparsable reply are in the
  script).
- A user's own ``py:`` model class describes an image folder and a pair file; without references the run
  exports a submission and refuses ``--judge``.
- A tiny random transformers model describes single images and pairs (``hf:``).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fake_openai_server import FakeOpenAIServer, Reply, user_text
from helpers import run_cli
from qbench.store import load_run
from qbench.tasks.description import read

COLORS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
DESCRIPTIONS = {
    "red": "A sharp and well exposed red photo.",
    "green": "A slightly noisy green photo.",
    "blue": "A blurry, dark blue photo.",
}
REFERENCES = {
    "red": "The red image is sharp, clean and well exposed.",
    "green": "The green image has visible noise but good focus.",
    "blue": "The blue image is out of focus and underexposed.",
}
# What the judge says, per dimension and description, one reply per round (any order: rounds run in parallel).
JUDGE_SCRIPT = {
    "completeness": {
        "red": ["Score: 2"] * 5,
        "green": ["Score: 1"] * 4 + ["The description is fine."],  # unparsable: dropped and counted
        "blue": ["Score: 0", "Score: 0", "Score: 1", "Score: 1", "Score: 2"],
    },
    "precision": {"red": ["Score: 2"] * 5, "green": ["Score: 2"] * 5, "blue": ["Score: 1"] * 5},
    "relevance": {"red": ["Score: 2"] * 5, "green": ["Score: 2"] * 5, "blue": ["Score: 2"] * 5},
}
# completeness pools 14 valid rounds: two 0s, six 1s, six 2s -> 18/14; precision 25/15; relevance 2.
EXPECTED = {"completeness": 18 / 14, "precision": 25 / 15, "relevance": 2.0}
PHRASES = {
    "completely includes": "completeness",
    "precisely reflects": "precision",
    "is relevant": "relevance",
}


def _color(body: dict[str, Any]) -> str:
    """The colour of the (first) image in a chat request, read back from its data URL."""
    for message in body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                rgb = Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0))
                return next(name for name, value in COLORS.items() if value == rgb)
    raise AssertionError("no image in the request")


class Scripted:
    """The server's brain: describes by colour; judges from JUDGE_SCRIPT; 429 on a judge prompt's first try."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.left = {(d, c): list(replies) for d, per in JUDGE_SCRIPT.items() for c, replies in per.items()}

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        if body["model"] == "describer":
            return DESCRIPTIONS[_color(body)]
        text = user_text(body)
        dimension = next(d for phrase, d in PHRASES.items() if phrase in text)
        color = next(c for c, desc in DESCRIPTIONS.items() if f"[{desc}]" in text)
        if body["model"] == "judge2":
            return "Score: 1"
        with self.lock:
            self.attempts[text] += 1
            if self.attempts[text] == 1 and color == "red":
                return Reply.error(429, "slow down", retry_after=0)
            return self.left[dimension, color].pop()


def _write_colour_set(folder: Path, *, references: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for name, rgb in COLORS.items():
        Image.new("RGB", (8, 6), rgb).save(folder / f"{name}.png")
        items.append(
            {"img_path": f"{name}.png", **({"golden_description": REFERENCES[name]} if references else {})}
        )
    (folder / "colours.json").write_text(json.dumps(items))
    return folder / "colours.json"


def _only(root: Path, name: str) -> Path:
    (found,) = root.rglob(name)
    return found


def test_openai_model_and_judge_give_the_scripted_means_then_a_second_judge_adds_a_run(
    tmp_path: Path,
) -> None:
    data = _write_colour_set(tmp_path / "data", references=True)
    with FakeOpenAIServer(Scripted()) as server:
        env = {"OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "test-key"}
        result = run_cli(
            "run", "a2", "--model", "openai:describer", "--judge", "openai:judge", "--data", str(data),
            "--out", str(tmp_path / "runs"), "-J", "retry_base=0.01", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert Counter(a.status for a in server.log)[429] == 3  # one per red judge prompt, each retried
        run = load_run(_only(tmp_path / "runs", "metrics.json").parent)
        metrics = run.metrics()
        for dimension, value in EXPECTED.items():
            assert metrics[dimension] == pytest.approx(value, abs=1e-12)
        assert metrics["sum"] == pytest.approx(sum(EXPECTED.values()), abs=1e-12)
        assert (
            metrics["judge_unparsable"],
            metrics["judge_failed_calls"],
            metrics["judge_rounds_total"],
        ) == (1, 0, 45)
        assert metrics["judge_failure_rate"] == pytest.approx(1 / 45)
        assert metrics["completeness/p0"] == pytest.approx(2 / 14) and len(metrics["sum_ci"]) == 2
        judge = run.manifest["task_info"]["judge"]
        assert (judge["name"], judge["prompt_version"], judge["rounds"]) == ("openai:judge", "a2-judge-v1", 5)
        assert run.manifest["judge_info"]["model"] == "judge"
        old_files = {name: (run.path / name).read_bytes() for name in ("records.jsonl", "metrics.json")}

        again = run_cli("score", str(run.path), "--judge", "openai:judge2", env=env)
        assert again.returncode == 0, again.stderr

    assert {name: (run.path / name).read_bytes() for name in old_files} == old_files  # nothing overwritten
    (new_path,) = [p.parent for p in run.path.parent.glob("*/manifest.json") if p.parent != run.path]
    new = load_run(new_path)
    assert new.manifest["derived_from"] == str(run.path)
    assert new.manifest["task_info"]["judge"]["name"] == "openai:judge2"
    assert new.metrics()["sum"] == 3.0
    old_records, new_records = run.records(), new.records()
    for rid, record in new_records.items():
        assert record.output["description"] == old_records[rid].output["description"]
        (previous,) = read(record).previous_verdicts
        assert previous == read(old_records[rid]).verdict  # both judges' verdicts, side by side


MODELS_PY = '''
class Describer:
    """Describes by what it is given: the number of images, their widths and the prompt's last words."""

    name = "describer"

    def generate(self, requests):
        return [
            f"{len(r.images)} image(s) {[im.size[0] for im in r.images]}: {' '.join(r.text.split()[-2:])}"
            for r in requests
        ]


class Judge:
    name = "generous-judge"

    def generate(self, requests):
        return ["Score: 2" for _ in requests]
'''


def _py_workspace(tmp_path: Path) -> Path:
    """A folder with a user's model module, an image folder and a pair file with references."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "a2_models.py").write_text(MODELS_PY)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, width in enumerate((10, 12)):
        Image.new("RGB", (width, 8), (40 * i, 90, 160)).save(folder / f"{i}.png")
    originals = tmp_path / "pairs" / "all_single_images"
    originals.mkdir(parents=True)
    for name, width in (("a.jpg", 14), ("b.jpg", 16), ("c.jpg", 18)):
        Image.new("RGB", (width, 8), (120, 60, 30)).save(originals / name)
    lines = [
        {
            "img_path": "lldescribe_compare\\a.jpg_cat_b.jpg.jpg",
            "golden_description": "The first is sharper.",
        },
        {"img_path": "lldescribe_compare\\b.jpg_cat_c.jpg.jpg", "golden_description": "Both are dark."},
    ]
    (tmp_path / "pairs" / "q-bench2-a2.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return tmp_path


def test_your_own_model_describes_a_folder_and_the_run_exports_a_submission(tmp_path: Path) -> None:
    work = _py_workspace(tmp_path)
    result = run_cli(
        "run", "a2", "--model", "py:a2_models:Describer", "--data", "photos", "--out", "runs", cwd=work
    )
    assert result.returncode == 0, result.stderr
    run = load_run(_only(work / "runs", "metrics.json").parent)
    assert run.metrics() == {"n": 2, "description_words": 5.0, "empty_descriptions": 0, "n_judged": 0}
    exported = run_cli("report", str(run.path), "--format", "submission", "-o", "submission.json", cwd=work)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((work / "submission.json").read_text()) == [
        {"img_path": "0.png", "response": "1 image(s) [10]: in details."},
        {"img_path": "1.png", "response": "1 image(s) [12]: in details."},
    ]

    refused = run_cli(
        "run", "a2", "--model", "py:a2_models:Describer", "--judge", "py:a2_models:Judge", "--data", "photos",
        "--out", "runs2", cwd=work,
    )  # fmt: skip
    assert refused.returncode == 2 and "no reference descriptions" in refused.stderr
    assert "Traceback" not in refused.stderr and not (work / "runs2").exists()


def test_your_own_model_describes_pairs_and_a_judge_scores_them(tmp_path: Path) -> None:
    work = _py_workspace(tmp_path)
    result = run_cli(
        "run", "a2", "--model", "py:a2_models:Describer", "--judge", "py:a2_models:Judge",
        "--data", "pairs/q-bench2-a2.jsonl", "--out", "runs", "-T", "judge_rounds=2", cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = load_run(_only(work / "runs", "metrics.json").parent)
    records = list(run.records().values())
    assert [r.output["description"] for r in records] == [
        "2 image(s) [14, 16]: in details.",
        "2 image(s) [16, 18]: in details.",
    ]
    assert records[0].output["img_paths"] == ["a.jpg", "b.jpg"]
    metrics = run.metrics()
    assert (metrics["sum"], metrics["n_judged"], metrics["judge_rounds_total"]) == (6.0, 2, 12)
    exported = run_cli("report", str(run.path), "--format", "submission", "-o", "out.jsonl", cwd=work)
    assert exported.returncode == 0, exported.stderr
    lines = (work / "out.jsonl").read_text().splitlines()
    assert json.loads(lines[1]) == {
        "img_path": "lldescribe_compare\\b.jpg_cat_c.jpg.jpg",
        "response": "2 image(s) [16, 18]: in details.",
    }


@pytest.mark.hf
def test_a_tiny_transformers_model_describes_single_images_and_pairs(tmp_path: Path) -> None:
    """One run over a file that mixes both kinds (to spend one model load): each item gets its own prompt."""
    pytest.importorskip("transformers")
    from tiny_models import build

    model = build("llava", tmp_path / "models")
    work = _py_workspace(tmp_path / "work")
    pair = "lldescribe_compare\\a.jpg_cat_b.jpg.jpg"
    items = [{"img_path": "all_single_images/c.jpg"}, {"img_path": pair}]
    (work / "pairs" / "mixed.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items))
    result = run_cli(
        "run", "a2", "--model", f"hf:{model}", "--data", "pairs/mixed.jsonl", "--out", "runs",
        "-T", "max_new_tokens=6", cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = load_run(_only(work / "runs", "metrics.json").parent)
    single, double = run.records().values()
    assert "img_paths" not in single.output and double.output["img_paths"] == ["a.jpg", "b.jpg"]
    assert all(isinstance(r.output["description"], str) for r in (single, double))
    assert run.manifest["task_info"]["max_new_tokens"] == 6 and run.metrics()["n"] == 2

"""``qbench run a3`` end to end through the real CLI: runs, resume, report, and clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import natural_image, run_cli, write_mos_set


def test_random_model_run_then_rerun_resumes_with_nothing_left(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=10)
    out = tmp_path / "runs"
    first = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out))
    assert first.returncode == 0, first.stderr
    (manifest,) = out.rglob("manifest.json")
    info = json.loads(manifest.read_text())
    assert info["status"] == "complete" and info["summary"]["computed"] == 10
    second = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out))
    assert second.returncode == 0, second.stderr
    info2 = json.loads(manifest.read_text())
    assert info2["summary"]["computed"] == 0 and info2["summary"]["skipped_finished"] == 10
    metrics = json.loads((manifest.parent / "metrics.json").read_text())
    assert metrics["n"] == 10


def test_python_api_and_cli_agree(tmp_path: Path) -> None:
    import qbench

    data = write_mos_set(tmp_path / "data", n=6)
    result = qbench.evaluate("a3", "random", data, out=tmp_path / "api")
    cli = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "cli"))
    assert cli.returncode == 0
    (metrics_file,) = (tmp_path / "cli").rglob("metrics.json")
    assert json.loads(metrics_file.read_text())["srcc"] == pytest.approx(result.metrics["srcc"])


def test_your_own_model_class_from_the_command_line(tmp_path: Path) -> None:
    """A user's class with ``quality`` named as py:module:Class (the official submission guide's idea)."""
    (tmp_path / "my_iqa.py").write_text(
        "import numpy as np\n"
        "class Sharpness:\n"
        "    name = 'sharpness'\n"
        "    def quality(self, images):\n"
        "        return [float(np.abs(np.diff(np.asarray(im.convert('L'), float), axis=1)).mean()) for im in images]\n"
    )
    data = write_mos_set(tmp_path / "data", n=8)
    result = run_cli(
        "run",
        "a3",
        "--model",
        "py:my_iqa:Sharpness",
        "--data",
        str(data),
        "--out",
        "runs",
        "-T",
        "bootstrap=0",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (metrics_file,) = (tmp_path / "runs").rglob("metrics.json")
    assert json.loads(metrics_file.read_text())["srcc"] > 0.8  # sharper images have higher MOS here


# -- bad input: one clear line, a non-zero exit, nothing half-written -------------------------------------
def _fails(result, *needles: str, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    # progress lines share stderr with the error (stdout is for results); the error is one line
    err = "\n".join(line for line in result.stderr.strip().splitlines() if not line.startswith("INFO "))
    assert len(err.splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in err, err
    return err


def test_missing_data_file(tmp_path: Path) -> None:
    _fails(
        run_cli("run", "a3", "--model", "random", "--data", str(tmp_path / "nope.json")),
        "nope.json",
        "not found",
    )


def test_broken_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"img_path": "a.png", "gt_score": 1},')
    _fails(
        run_cli("run", "a3", "--model", "random", "--data", str(bad), "--out", str(tmp_path / "r")),
        "bad.json",
        "broken JSON",
    )
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"img_path": "a.png", "gt_score": "good"}, "gt_score", "not a number"),
        ({"img_path": "a.png"}, "gt_score", "missing"),
        ({"gt_score": 3}, "img_path", "missing"),
    ],
)
def test_wrong_fields_name_the_item_and_field(tmp_path: Path, item: dict, field: str, message: str) -> None:
    data = write_mos_set(tmp_path, n=3)
    items = [*json.loads(data.read_text()), item]
    data.write_text(json.dumps(items))
    err = _fails(
        run_cli("run", "a3", "--model", "random", "--data", str(data)), "item 3", f"field '{field}'", message
    )
    assert str(data) in err


def test_missing_and_corrupt_images_fail_the_run_and_leave_no_metrics(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=5)
    (tmp_path / "d" / "img_001.png").unlink()
    (tmp_path / "d" / "img_002.png").write_bytes(b"not an image")
    out = tmp_path / "runs"
    err = _fails(
        run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out)),
        "2 of 5 samples failed",
        code=1,
    )
    assert "img_001.png" in err
    (manifest,) = out.rglob("manifest.json")
    assert json.loads(manifest.read_text())["status"] == "incomplete"
    assert not (manifest.parent / "metrics.json").exists()
    # fix the data and run again: only the two failed samples are computed
    natural_image(1).save(tmp_path / "d" / "img_001.png")
    natural_image(2).save(tmp_path / "d" / "img_002.png")
    again = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads(manifest.read_text())["summary"]["computed"] == 2


def test_unknown_model_and_task_and_option(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path, n=3)
    _fails(run_cli("run", "a3", "--model", "nieq", "--data", str(data)), "unknown model 'nieq'", "niqe")
    result = run_cli("run", "a9", "--model", "random", "--data", str(data))
    assert result.returncode == 2 and "a9" in result.stderr
    _fails(run_cli("run", "a3", "--model", "random", "-M", "sed=1", "--data", str(data)), "'sed'", "seed")


def test_a_file_with_no_logit_keys(tmp_path: Path) -> None:
    path = tmp_path / "koniq.json"
    path.write_text(json.dumps([{"img_path": "a.jpg", "gt_score": 1.0, "score": 3}]))
    _fails(
        run_cli("import", "a3", str(path), "--model", "m", "--out", str(tmp_path / "r")),
        "koniq.json",
        "logit_good",
    )
    assert not (tmp_path / "r").exists()


def test_a_folder_with_no_runs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _fails(run_cli("report", str(tmp_path / "empty")), "no qbench runs")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_cli("--debug", "run", "a3", "--model", "random", "--data", str(tmp_path / "nope.json"))
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path, n=4)
    (tmp_path / "img_000.png").unlink()
    (tmp_path / "img_003.png").write_bytes(b"\x89PNG broken")
    result = run_cli("validate", "--data", str(data))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "img_000.png" in lines[0] and "img_003.png" in lines[1]
    items = json.loads(data.read_text())
    items[1]["gt_score"] = "n/a"
    items[2].pop("img_path")
    data.write_text(json.dumps(items))
    lines = run_cli("validate", "--data", str(data)).stderr.strip().splitlines()
    assert any("item 1" in line and "gt_score" in line for line in lines)
    assert any("item 2" in line and "img_path" in line for line in lines)


def test_import_does_not_pull_heavy_libraries() -> None:
    import subprocess
    import sys

    heavy = "('torch', 'transformers', 'ray', 'datasets')"
    code = f"import qbench, qbench.cli, sys; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.stdout.strip() == "[]"


def test_model_problems_are_reported_before_data_problems(tmp_path: Path) -> None:
    """The model loads while the data is read, but a model that cannot do the task is named first."""
    err = _fails(run_cli("run", "a1", "--model", "niqe", "--data", str(tmp_path / "missing.json")), "niqe")
    assert "cannot run task a1" in err and "missing.json" not in err

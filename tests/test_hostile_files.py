"""Hostile or odd files: a decompression bomb, a FIFO, image paths that leave the data folder, a scipy.py.

Each test builds the breaking input for real and runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from helpers import natural_image, run_cli, write_mos_set


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> None:
    """A valid PNG header for a 20000x20000 grey image with a tiny (truncated) body: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * (width + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def a3(
    data: Path, out: Path, *extra: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> object:
    return run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(out), *extra, env=env, cwd=cwd
    )


def test_one_oversized_image_fails_that_sample_only_naming_it(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=6)
    bomb_png(tmp_path / "data" / "img_002.png")
    result = a3(data, tmp_path / "runs")
    assert result.returncode == 1, result.stderr  # the run finished the others and says it is incomplete
    assert "Traceback" not in result.stderr
    (records,) = (tmp_path / "runs").rglob("records.jsonl")
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    failed = [r for r in rows if r["error"]]
    assert [r["id"] for r in failed] == ["img_002.png"]
    assert "20000x20000" in failed[0]["error"] and "img_002.png" in failed[0]["error"]
    assert "QBENCH_MAX_PIXELS" in failed[0]["error"]
    assert sum(1 for r in rows if not r["error"]) == 5
    assert "img_002.png" in result.stderr
    # validate says the same, before any model
    checked = run_cli("validate", "--data", str(data))
    assert checked.returncode == 2 and "img_002.png" in checked.stderr and "over the limit" in checked.stderr


def test_the_pixel_limit_can_be_raised_and_lowered(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=3)  # 96x72 = 6912 pixels each
    low = a3(data, tmp_path / "low", env={"QBENCH_MAX_PIXELS": "1000"})
    assert low.returncode == 1, low.stderr
    assert (
        "96x72 = 6,912 pixels, over the limit of 1,000" in low.stderr
        and "QBENCH_MAX_PIXELS=6912" in low.stderr
    )
    ok = a3(data, tmp_path / "ok", env={"QBENCH_MAX_PIXELS": "6912"})
    assert ok.returncode == 0, ok.stderr


def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=4)
    fifo = tmp_path / "data" / "img_001.png"
    fifo.unlink()
    os.mkfifo(fifo)  # opening it for reading would block forever: nobody writes
    result = a3(data, tmp_path / "runs")  # run_cli's timeout fails the test if it blocks
    assert result.returncode == 1, result.stderr
    (records,) = (tmp_path / "runs").rglob("records.jsonl")
    errors = {json.loads(line)["id"]: json.loads(line)["error"] for line in records.read_text().splitlines()}
    assert "not a regular file (a FIFO)" in errors["img_001.png"]
    assert sum(e is None for e in errors.values()) == 3
    checked = run_cli("validate", "--data", str(data))
    assert checked.returncode == 2 and "FIFO" in checked.stderr


def test_device_files_are_refused(tmp_path: Path) -> None:
    from qbench.data.images import check_image

    assert check_image(Path("/dev/zero")) == "not a regular file (a device or socket); refused"


def outside_set(tmp_path: Path, path_of: str) -> Path:
    secret = tmp_path / "secret.png"
    natural_image(7).save(secret)
    data = write_mos_set(tmp_path / "data", n=3)
    items = json.loads(data.read_text())
    items[1]["img_path"] = path_of.format(secret=secret)
    data.write_text(json.dumps(items))
    return data


def test_image_paths_leaving_the_data_folder_are_refused_by_default(tmp_path: Path) -> None:
    for i, form in enumerate(["../secret.png", "{secret}", "./x/../../secret.png"]):
        case = tmp_path / f"case{i}"
        case.mkdir()
        data = outside_set(case, form)
        (case / "data" / "x").mkdir()
        written = json.loads(data.read_text())[1]["img_path"]
        result = a3(data, case / "runs")
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "item 1" in line and f"image path '{written}' leaves the image folder" in line
        assert "--allow-outside-images" in line
        assert not (case / "runs").exists()  # refused before any work
        checked = run_cli("validate", "--data", str(data))
        assert checked.returncode == 2 and "leaves the image folder" in checked.stderr
        allowed = a3(data, case / "runs", "--allow-outside-images")
        assert allowed.returncode == 0, allowed.stderr
        by_env = run_cli("validate", "--data", str(data), env={"QBENCH_ALLOW_OUTSIDE_IMAGES": "1"})
        assert by_env.returncode == 0, by_env.stderr


def test_symlinks_inside_the_folder_stay_allowed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "photos"
    write_mos_set(elsewhere, n=3)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "images").symlink_to(elsewhere, target_is_directory=True)
    items = [{"img_path": f"images/img_{i:03d}.png", "gt_score": str(i)} for i in range(3)]
    (data_dir / "mos.json").write_text(json.dumps(items))
    result = a3(data_dir / "mos.json", tmp_path / "runs")
    assert result.returncode == 0, result.stderr


def test_a_scipy_py_in_the_working_folder_does_not_shadow_scipy(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "scipy.py").write_text("raise SystemExit('the stray scipy.py was imported')\n")
    (work / "my_iqa.py").write_text(
        "import numpy as np\n"
        "class Mean:\n"
        "    def quality(self, images):\n"
        "        return [float(np.asarray(im).mean()) for im in images]\n"
    )
    data = write_mos_set(tmp_path / "data", n=6)
    result = a3(data, work / "runs", "--model", "py:my_iqa:Mean", cwd=work)
    # --model given twice: click takes the last one
    assert result.returncode == 0, result.stderr
    assert "stray" not in result.stderr

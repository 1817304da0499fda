"""Ordinary environment problems give one line naming the path and the remedy; reruns never destroy results.

Each test builds the problem for real (a file where a folder should be, a write limit the kernel enforces, a
latin-1 CSV, a damaged parquet file, a corrupt SQLite file, a garbage line) and runs the real CLI.
"""

from __future__ import annotations

import errno
import json
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli, write_mos_set

BUG = "(a bug?"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert BUG not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def a3(
    data: Path, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(out), *extra, env=env)


def run_folder(out: Path) -> Path:
    (manifest,) = out.rglob("manifest.json")
    return manifest.parent


def status(out: Path) -> str:
    return str(json.loads((run_folder(out) / "manifest.json").read_text())["status"])


def test_out_or_cache_folder_being_a_file(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=3)
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    line = one_error_line(a3(data, blocker))
    assert line.startswith(f"error: {blocker}: is a file, where a folder is needed") and "--out" in line
    line = one_error_line(a3(data, tmp_path / "runs", env={"QBENCH_CACHE_DIR": str(blocker)}))
    assert line.startswith(f"error: {blocker}: is a file") and "QBENCH_CACHE_DIR" in line


def limited(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def cli_with_write_limit(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited(limit),
    )


def test_a_full_disk_is_one_line_and_never_destroys_a_finished_run(tmp_path: Path) -> None:
    """The kernel refuses every write past 0 bytes (RLIMIT_FSIZE): what a full disk looks like to qbench."""
    data = write_mos_set(tmp_path / "data", n=4)
    out = tmp_path / "runs"
    args = ["run", "a3", "--model", "random", "--data", str(data), "--out", str(out), "--no-cache"]
    fresh = cli_with_write_limit(0, *args)
    assert fresh.returncode == 1
    line = one_error_line(fresh)
    assert "file too large" in line and str(out) in line and "--out" in line
    # a finished run, then a rerun on the full disk: the results stay as they were
    out = tmp_path / "runs-finished"
    assert a3(data, out).returncode == 0
    before = (run_folder(out) / "metrics.json").read_text()
    again = cli_with_write_limit(0, *args[:7], str(out), "--no-cache")
    assert again.returncode == 1 and "file too large" in one_error_line(again)
    assert status(out) == "complete"
    assert (run_folder(out) / "metrics.json").read_text() == before


def test_read_only_and_permission_errors_name_the_path_and_the_remedy() -> None:
    from qbench.oserror import environment_error

    for code, words in [
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "no space"),
    ]:
        mapped = environment_error(OSError(code, "x", "/runs/a3/m"))
        assert (
            mapped is not None
            and mapped.one_line().startswith(f"/runs/a3/m: {words}")
            and "--out" in mapped.one_line()
        )
    assert environment_error(OSError(errno.EIO, "x")) is None  # not an ordinary problem: stays "(a bug?)"


def test_port_out_of_range(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=2)
    result = a3(
        data, tmp_path / "runs", "--model", "openai:m", "--api-base", "http://u:pw@127.0.0.1:99999/v1"
    )
    assert result.returncode == 2
    line = one_error_line(result)
    assert (
        "port out of range" in line and "http://***@127.0.0.1:99999/v1" in line and "pw" not in result.stderr
    )


def test_a_non_utf8_csv_says_so_and_encoding_reads_it(tmp_path: Path) -> None:
    write_mos_set(tmp_path / "data", n=3)
    (tmp_path / "data" / "img_001.png").rename(tmp_path / "data" / "été.png")
    csv = tmp_path / "data" / "scores.csv"
    csv.write_bytes("image,mos\nimg_000.png,4\nété.png,3\nimg_002.png,2\n".encode("latin-1"))
    line = one_error_line(a3(csv, tmp_path / "runs"))
    assert str(csv) in line and "not UTF-8 text (byte 0xe9 on line 3)" in line and "--encoding" in line
    done = a3(csv, tmp_path / "runs", "--encoding", "latin-1")
    assert done.returncode == 0, done.stderr
    checked = run_cli("validate", "--data", str(csv), "--encoding", "latin-1")
    assert checked.returncode == 0, checked.stderr


def test_a_damaged_parquet_file_is_named(tmp_path: Path) -> None:
    from test_a1_cli import single_items
    from test_a1_data import hf_rows, write_hf_folder

    folder = write_hf_folder(tmp_path / "Q-Bench-HF", {"dev": hf_rows(single_items(), pair=False)})
    (parquet,) = folder.rglob("*.parquet")
    raw = bytearray(parquet.read_bytes())
    middle = len(raw) // 2
    raw[middle - 200 : middle + 200] = b"\xff" * 400  # a damaged data page; header and footer intact
    parquet.write_bytes(bytes(raw))
    result = run_cli("validate", "--data", str(folder))
    assert result.returncode == 2
    assert str(parquet) in result.stderr and BUG not in result.stderr and "Traceback" not in result.stderr


def test_wrong_types_in_the_config_file(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=2)
    config = tmp_path / "qbench.toml"
    for text, field, expected in [
        ('limit = "ten"', "limit", "a whole number"),
        ("concurrency = 2.5", "concurrency", "a whole number"),
        ("cache = 1", "cache", "true or false"),
        ("out = 5", "out", "a string"),
        ('model_options = "x"', "model_options", "a table"),
    ]:
        config.write_text(text + "\n")
        result = a3(data, tmp_path / "runs", "--config", str(config))
        assert result.returncode == 2
        line = one_error_line(result)
        assert line.startswith(f"error: {config}: field '{field}': must be {expected}"), line


@pytest.mark.parametrize("garbage", ["[1, 2]", '{"no": "id"}', "not json at all"])
def test_a_line_of_records_that_is_not_a_record_never_destroys_the_run(tmp_path: Path, garbage: str) -> None:
    data = write_mos_set(tmp_path / "data", n=4)
    out = tmp_path / "runs"
    assert a3(data, out).returncode == 0
    folder = run_folder(out)
    metrics = (folder / "metrics.json").read_text()
    with open(folder / "records.jsonl", "a") as fh:
        fh.write(garbage + "\n")
    result = a3(data, out)
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"{folder / 'records.jsonl'}: line 5 is not a record" in line
    assert status(out) == "complete" and (folder / "metrics.json").read_text() == metrics
    report = run_cli("report", str(out))
    assert report.returncode == 0, report.stderr


def test_a_bad_metrics_json_is_named(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=3)
    out = tmp_path / "runs"
    assert a3(data, out).returncode == 0
    (run_folder(out) / "metrics.json").write_text("{broken")
    result = run_cli("report", str(out))
    assert result.returncode == 2
    line = one_error_line(result)
    assert str(run_folder(out) / "metrics.json") in line and "run the same command again" in line
    assert a3(data, out).returncode == 0  # the rerun computes them again
    assert json.loads((run_folder(out) / "metrics.json").read_text())["n"] == 3


def test_a_corrupt_cache_database_is_moved_aside_and_the_run_goes_on(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=3)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    env = {"QBENCH_CACHE_DIR": str(cache)}
    out = tmp_path / "runs"
    assert a3(data, out).returncode == 0
    result = a3(data, out, env=env)  # a complete run reopened with a broken cache: it stays complete
    assert result.returncode == 0, result.stderr
    fresh = a3(data, tmp_path / "runs2", env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert list(cache.glob("responses.sqlite.corrupt-*"))
    assert status(out) == "complete"
    (cache / "responses.sqlite").write_bytes(b"broken again")
    cleared = run_cli("cache", "clear", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert not list(cache.glob("responses.sqlite.corrupt-*"))
    stats = run_cli("cache", "stats", env=env)
    assert stats.returncode == 0 and stats.stdout.startswith("0 cached responses")


def test_score_out_on_a_shallow_folder(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=3)
    out = tmp_path / "runs"
    assert a3(data, out).returncode == 0
    shallow = tmp_path / "myrun"
    run_folder(out).rename(shallow)  # a run folder copied somewhere on its own, no runs/<task>/... above it
    result = run_cli("score", str(shallow), "-o", str(tmp_path / "rescored"))
    assert result.returncode == 0, result.stderr
    (manifest,) = (tmp_path / "rescored").rglob("manifest.json")
    assert manifest.parent.relative_to(tmp_path / "rescored").parts[:3] == ("a3", "random", "mos")

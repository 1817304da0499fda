"""The run engine: shards and merge, Ray, the response cache, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import run_cli, write_mos_set

SLOW_MODEL = '''
import time
import numpy as np

class SlowIQA:
    """Sharpness as quality, 0.15 s per image, so a run can be killed part way."""
    name = "slow-iqa"
    batch_size = 2

    def quality(self, images):
        time.sleep(0.15 * len(images))
        return [float(np.abs(np.diff(np.asarray(im.convert("L"), float), axis=1)).mean()) for im in images]
'''


def _metrics(root: Path) -> dict:
    (path,) = root.rglob("metrics.json")
    return json.loads(path.read_text())


def test_shards_merge_into_exactly_the_local_run(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=11)
    local = run_cli("run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    for k in (1, 2, 3):
        shard = run_cli(
            "run",
            "a3",
            "--model",
            "random",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "shards"),
            "--shard",
            f"{k}/3",
        )
        assert shard.returncode == 0, shard.stderr
    merged = run_cli("merge", str(tmp_path / "shards"), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr
    assert _metrics(tmp_path / "merged") == _metrics(tmp_path / "local")
    # same configuration, so the same run folder name as the local run
    (local_dir,) = (p.parent for p in (tmp_path / "local").rglob("metrics.json"))
    (merged_dir,) = (p.parent for p in (tmp_path / "merged").rglob("metrics.json"))
    assert local_dir.relative_to(tmp_path / "local") == merged_dir.relative_to(tmp_path / "merged")


def test_merge_refuses_missing_shards(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=6)
    run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "s"), "--shard", "1/3"
    )
    result = run_cli("merge", str(tmp_path / "s"), "--out", str(tmp_path / "m"))
    assert result.returncode == 2 and "exactly once" in result.stderr


def test_cache_answers_a_repeated_run_in_a_new_folder(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=6)
    env = {"QBENCH_CACHE_DIR": str(tmp_path / "cache")}
    first = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "a"), env=env
    )
    second = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "b"), env=env
    )
    assert first.returncode == second.returncode == 0
    (manifest,) = (tmp_path / "b").rglob("manifest.json")
    assert json.loads(manifest.read_text())["summary"]["cache_hits"] == 6
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    stats = run_cli("cache", "stats", env=env)
    assert "6 cached responses" in stats.stdout
    no_cache = run_cli(
        "run",
        "a3",
        "--model",
        "random",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "c"),
        "--no-cache",
        env=env,
    )
    (manifest,) = (tmp_path / "c").rglob("manifest.json")
    assert json.loads(manifest.read_text())["summary"]["cache_hits"] == 0 and no_cache.returncode == 0


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    (tmp_path / "slow_iqa.py").write_text(SLOW_MODEL)
    data = write_mos_set(tmp_path / "d", n=16)
    args = [
        "run",
        "a3",
        "--model",
        "py:slow_iqa:SlowIQA",
        "--data",
        str(data),
        "-T",
        "bootstrap=200",
        "--no-cache",
    ]
    reference = run_cli(*args, "--out", str(tmp_path / "ref"), cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbench", *args, "--out", str(out)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    records = None
    while time.monotonic() < deadline:  # wait until some, not all, records are written
        found = list(out.rglob("records.jsonl"))
        if found and 2 <= len(found[0].read_text().splitlines()) < 16:
            records = found[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert records is not None, "the run never got part way"
    manifest = json.loads((records.parent / "manifest.json").read_text())
    assert manifest["status"] == "running" and not (records.parent / "metrics.json").exists()
    done_before = len(
        {json.loads(line)["id"] for line in records.read_text().splitlines() if line.endswith("}")}
    )

    resumed = run_cli(*args, "--out", str(out), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((records.parent / "manifest.json").read_text())["summary"]
    assert (
        summary["skipped_finished"] >= done_before - 0
        and summary["computed"] == 16 - summary["skipped_finished"]
    )
    ids = [json.loads(line)["id"] for line in records.read_text().splitlines()]
    assert sorted(set(ids)) == sorted(ids) and len(ids) == 16, "no sample written twice, none missing"
    assert _metrics(out) == _metrics(tmp_path / "ref")


@pytest.mark.ray
def test_ray_executor_gives_the_local_metrics(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data = write_mos_set(tmp_path / "d", n=9)
    local = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path / "local"), "--no-cache"
    )
    assert local.returncode == 0
    on_ray = run_cli(
        "run",
        "a3",
        "--model",
        "random",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "ray"),
        "--executor",
        "ray",
        "--workers",
        "2",
        "--batch-size",
        "2",
        "--no-cache",
        env={"RAY_NUM_CPUS": "2"},
        timeout=600,
    )
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")

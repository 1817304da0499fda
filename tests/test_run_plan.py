"""The run plan is computed once: identity without reloading (the Ray driver never loads the model), one
meaning per flag, typed adapter settings, records made once with their index, one option parser, one
bootstrap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli, write_mos_set
from qbench import metrics
from qbench.errors import UsageError

OBSERVED = '''
import os
import sys

import numpy as np


class Observed:
    """Sharpness as quality; writes a line for every load and every info() call, with its process id."""

    name = "observed"
    batch_size = 3

    def __init__(self, log):
        self.log = log
        self._write("load")

    def _write(self, what):
        with open(self.log, "a") as fh:
            fh.write(f"{what} {os.getpid()} {sys.argv[0]}\\n")

    def info(self):
        self._write("info")
        return {"kind": "observed"}

    def quality(self, images):
        return [float(np.abs(np.diff(np.asarray(im.convert("L"), float), axis=1)).mean()) for im in images]
'''


def _events(log: Path) -> list[tuple[str, int, str]]:
    return [(w, int(p), a) for w, p, a in (line.split(" ", 2) for line in log.read_text().splitlines())]


def _metrics(root: Path) -> dict:
    (path,) = root.rglob("metrics.json")
    return json.loads(path.read_text())


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, int, str]:
    """The CLI in a subprocess whose process id the test knows: (pid, returncode, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "qbench", *args],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(cwd), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = process.communicate(timeout=600)
    return process.pid, process.returncode, stderr


def test_a_local_run_asks_the_model_for_its_identity_once(tmp_path: Path) -> None:
    (tmp_path / "observed_model.py").write_text(OBSERVED)
    data = write_mos_set(tmp_path / "d", n=7)
    log = tmp_path / "events.log"
    args = ("run", "a3", "--model", "py:observed_model:Observed", "-M", f"log={log}", "--data", str(data))
    pid, code, stderr = _cli(*args, "--out", str(tmp_path / "runs"), "-T", "bootstrap=0", cwd=tmp_path)
    assert code == 0, stderr
    events = _events(log)
    assert [(w, p) for w, p, _ in events] == [("load", pid), ("info", pid)]  # loaded once, identified once


class Tunable:
    """A user's object whose info() follows a setting that changes its answers."""

    name = "tunable"

    def __init__(self) -> None:
        self.gain = 1.0

    def info(self) -> dict[str, float]:
        return {"gain": self.gain}

    def quality(self, images: list) -> list[float]:
        return [self.gain * float(np.asarray(im.convert("L"), float).std()) for im in images]


def test_an_object_changed_between_two_runs_is_identified_afresh(tmp_path: Path) -> None:
    import qbench
    from qbench.models.base import model_fingerprint

    data = write_mos_set(tmp_path / "d", n=6)
    model = Tunable()
    first = qbench.evaluate("a3", model, str(data), out=tmp_path, task_options={"bootstrap": "0"})
    model.gain = -1.0  # the same object, now answering differently
    second = qbench.evaluate("a3", model, str(data), out=tmp_path, task_options={"bootstrap": "0"})
    assert first.path != second.path and first.metrics["srcc"] == pytest.approx(-second.metrics["srcc"])
    assert second.manifest["identity"]["model"] == model_fingerprint(model)  # the changed object's


JUDGED = '''
import os


class Answerer:
    name = "answerer"

    def generate(self, requests):
        return ["A." for _ in requests]


class Judge:
    """Says every answer is right; writes a line for every info() call."""

    name = "judge"

    def __init__(self, log):
        self.log = log

    def info(self):
        with open(self.log, "a") as fh:
            fh.write(f"info {os.getpid()} judge\\n")
        return {"kind": "judge"}

    def generate(self, requests):
        return ["Result: 1" for _ in requests]
'''


def test_a_judged_run_asks_the_judge_for_its_identity_once(tmp_path: Path) -> None:
    (tmp_path / "judged_model.py").write_text(JUDGED)
    log = tmp_path / "judge.log"
    pid, code, stderr = _cli(
        "run",
        "a1",
        "--model",
        "py:judged_model:Answerer",
        "--data",
        "synthetic",
        "--limit",
        "4",
        "--judge",
        "py:judged_model:Judge",
        "-J",
        f"log={log}",
        "--out",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert code == 0, stderr
    once = [("info", pid)]  # asked by the manifest, the task, the judging and the cache: computed once
    assert [(w, p) for w, p, _ in _events(log)] == once

    rejudge_log = tmp_path / "rejudge.log"
    (run,) = (p.parent for p in (tmp_path / "runs").rglob("manifest.json"))
    pid, code, stderr = _cli(
        "score",
        str(run),
        "--judge",
        "py:judged_model:Judge",
        "-J",
        f"log={rejudge_log}",
        "--out",
        str(tmp_path / "rescored"),
        cwd=tmp_path,
    )
    assert code == 0, stderr
    assert [(w, p) for w, p, _ in _events(rejudge_log)] == [("info", pid)]  # qbench score: once too


@pytest.mark.ray
def test_the_ray_driver_never_loads_the_model(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "observed_model.py").write_text(OBSERVED)
    data = write_mos_set(tmp_path / "d", n=9)
    local_log, ray_log = tmp_path / "local.log", tmp_path / "ray.log"
    common = ("run", "a3", "--model", "py:observed_model:Observed", "--data", str(data), "--no-cache")
    local_pid, code, stderr = _cli(
        *common, "-M", f"log={local_log}", "--out", str(tmp_path / "local"), cwd=tmp_path
    )
    assert code == 0, stderr
    assert {p for _, p, _ in _events(local_log)} == {
        local_pid
    }  # the observation works: a local run loads here

    driver, code, stderr = _cli(
        *common,
        "-M",
        f"log={ray_log}",
        "--out",
        str(tmp_path / "ray"),
        "--executor",
        "ray",
        "--ray-workers",
        "2",
        "--batch-size",
        "2",
        cwd=tmp_path,
        env={"RAY_NUM_CPUS": "2"},
    )
    assert code == 0, stderr[-3000:]
    events = _events(ray_log)
    loads = [p for w, p, _ in events if w == "load"]
    assert len(loads) == 2 and driver not in loads, events  # two replicas loaded it, the driver did not
    assert all(p != driver for _, p, _ in events), "the driver asked a model object for its identity"
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")
    manifest = json.loads(next((tmp_path / "ray").rglob("manifest.json")).read_text())
    assert manifest["model"] == "observed" and manifest["model_info"]["kind"] == "observed"
    assert manifest["config"]["ray_workers"] == 2 and manifest["config"]["workers"] is None
    assert "ray" in manifest["versions"]  # from the replicas, which run the model


@pytest.mark.ray
def test_a_replica_that_cannot_load_gives_the_local_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data = write_mos_set(tmp_path / "d", n=3)
    args = ("run", "a3", "--model", "py:no_such_module:Model", "--data", str(data), "--out", str(tmp_path))
    local = run_cli(*args)
    on_ray = run_cli(*args, "--executor", "ray", "--ray-workers", "1", env={"RAY_NUM_CPUS": "1"}, timeout=600)
    assert local.returncode == on_ray.returncode == 2
    line = "error: cannot import module 'no_such_module' for py:no_such_module:Model"
    assert line in local.stderr and line in on_ray.stderr and "Traceback" not in on_ray.stderr


def test_workers_keeps_working_with_a_deprecation_line_and_each_meaning_has_its_flag(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=7)
    base = ("run", "a3", "--model", "random", "--data", str(data), "-T", "bootstrap=0")
    old = run_cli(*base, "--out", str(tmp_path / "old"), "--workers", "2")
    new = run_cli(*base, "--out", str(tmp_path / "new"), "--decode-threads", "2")
    assert old.returncode == new.returncode == 0, old.stderr + new.stderr
    assert "--workers" in old.stderr and "deprecated" in old.stderr and "--decode-threads" in old.stderr
    assert "deprecated" not in new.stderr
    for root in (tmp_path / "old", tmp_path / "new"):
        config = json.loads(next(root.rglob("manifest.json")).read_text())["config"]
        assert config["decode_threads"] == 2 and config["workers"] is None and config["ray_workers"] is None
    assert _metrics(tmp_path / "old") == _metrics(tmp_path / "new")
    bad = run_cli(*base, "--out", str(tmp_path / "bad"), "--decode-threads", "0")
    assert bad.returncode == 2 and "--decode-threads must be at least 1" in bad.stderr


def test_ray_workers_under_ray_and_decode_threads_locally_from_the_old_setting() -> None:
    from qbench.config import RunConfig

    local = RunConfig(task="a3", model="random", data="x", workers=3)
    ray = RunConfig(task="a3", model="random", data="x", workers=3, executor="ray")
    assert (local.decode_threads, local.ray_workers, local.workers) == (3, None, None)
    assert (ray.decode_threads, ray.ray_workers, ray.workers) == (None, 3, None)
    both = RunConfig(task="a3", model="random", data="x", workers=3, decode_threads=5)
    assert both.decode_threads == 5  # the new setting wins over the old spelling


def test_records_carry_their_dataset_position_once(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "d", n=10)
    result = run_cli(
        "run", "a3", "--model", "random", "--data", str(data), "--out", str(tmp_path), "--shard", "2/3"
    )
    assert result.returncode == 0, result.stderr
    (records,) = tmp_path.rglob("records.jsonl")
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    assert [(r["id"], r["index"]) for r in rows] == [(f"img_{i:03d}.png", i) for i in (1, 4, 7)]
    assert all(next(iter(r)) == "id" and list(r)[1] == "index" for r in rows)  # the layout written before


def test_run_settings_reach_the_adapters_that_declare_them_typed() -> None:
    from qbench.models.base import load_model
    from qbench.registry import MODELS

    settings = {"api_base": "http://127.0.0.1:9/v1", "concurrency": 3}
    model = load_model("openai:m", {}, settings)
    assert model.settings.concurrency == 3 and type(model.settings.concurrency) is int
    assert model.settings.api_base == "http://127.0.0.1:9/v1"
    chosen = load_model("openai:m", {"concurrency": "5", "api_base": "http://127.0.0.1:8/v1"}, settings)
    assert chosen.settings.concurrency == 5 and chosen.settings.api_base == "http://127.0.0.1:8/v1"  # -M wins

    seen: dict[str, object] = {}

    def plain(arg: str, options: dict[str, str]) -> object:
        seen.update(options)
        return object()

    def declares(arg: str, options: dict[str, str], *, concurrency: int | None = None) -> object:
        seen["concurrency"] = concurrency
        return object()

    MODELS.register("test-plain", plain)
    MODELS.register("test-declares", declares)
    load_model("test-plain:x", {}, settings)
    assert seen == {}  # a factory that declares nothing gets nothing, not strings in its options
    load_model("test-declares:x", {}, settings)
    assert seen == {"concurrency": 3}


def test_one_parser_same_words_and_lines_for_model_task_and_environment(tmp_path: Path) -> None:
    from qbench.config import layered
    from qbench.models.base import load_model
    from qbench.registry import TASKS

    local = {"api_base": "http://127.0.0.1:9/v1"}

    for word, value in (("on", True), ("YES", True), ("0", False), ("off", False)):
        assert TASKS.get("a3")({"logistic": word}).logistic is value
        assert (
            load_model("openai:m", {"continue_final_message": word}, local).settings.continue_final_message
            is value
        )
        env = {"QBENCH_CACHE": word}
        assert layered({"task": "a3", "model": "random", "data": "x"}, env=env).cache is value
    with pytest.raises(UsageError, match="task option 'logistic=maybe' for a3 must be a bool"):
        TASKS.get("a3")({"logistic": "maybe"})
    with pytest.raises(
        UsageError, match="model option 'continue_final_message=maybe' for openai:m must be a bool"
    ):
        load_model("openai:m", {"continue_final_message": "maybe"}, local)
    with pytest.raises(UsageError, match="setting 'cache' has a bad value 'maybe'"):
        layered({"task": "a3", "model": "random", "data": "x"}, env={"QBENCH_CACHE": "maybe"})
    with pytest.raises(UsageError, match="did you mean 'temperature'") as typo:
        TASKS.get("a3")({"temprature": "1"})
    assert "task option 'temprature' is not known to a3" in str(typo.value)


@pytest.mark.parametrize("n", [3, 10, 257])
def test_one_bootstrap_whatever_the_chunk_size(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(n)
    values = rng.normal(size=n)

    def mean(idx: np.ndarray) -> float:
        return float(values[idx].mean())

    # the reference: one draw per resample, as the run metrics always drew them
    draw = np.random.default_rng(0)
    reference = metrics.percentile_interval([mean(draw.integers(0, n, size=n)) for _ in range(333)])
    intervals = set()
    for cells in (1, n, 7 * n + 1, 10**9):  # one row per chunk, ..., everything in one matrix
        monkeypatch.setattr(metrics, "RESAMPLE_CELLS", cells)
        intervals.add(metrics.bootstrap_interval(mean, n, resamples=333))
        rows = np.concatenate(list(metrics.resample_indices([np.arange(n)], 333, 0)))
        assert rows.shape == (333, n)
    assert intervals == {reference}

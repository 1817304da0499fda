"""Runs against an API server that survive: a kill, Ctrl-C, SIGTERM, a dead, hung, trickling or lying server.

Every test runs the real CLI in a subprocess against the loopback fake server and counts, server-side,
what was asked, so that "kept every answer" and "asked again only what was lost" are measured, not assumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fake_openai_server import FakeOpenAIServer, Reply, a3_words
from helpers import run_cli, write_mos_set

N = 24


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qbench", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def a3_args(server: FakeOpenAIServer, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "a3", "--model", "openai:fake-model", "--api-base", server.url, "--data", str(data),
        "--out", str(out), "--concurrency", "4", *extra,
    ]  # fmt: skip


def record_lines(out: Path) -> int:
    files = list(out.rglob("records.jsonl"))
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


class Gate:
    """A responder that answers the first ``k`` requests at once and holds the rest until released."""

    def __init__(self, k: int, hold: float = 60) -> None:
        self.k = k
        self.hold = hold
        self.seen = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.seen += 1
            n = self.seen
        if n > self.k:
            self.release.wait(self.hold)
        return a3_words(body)


def manifest(out: Path) -> dict[str, Any]:
    (path,) = out.rglob("manifest.json")
    return json.loads(path.read_text())


def metrics(out: Path) -> dict[str, Any]:
    (path,) = out.rglob("metrics.json")
    return json.loads(path.read_text())


def reference_metrics(tmp_path: Path, data: Path) -> dict[str, Any]:
    """The same run, never interrupted, against a plain server."""
    with FakeOpenAIServer(a3_words) as server:
        done = run_cli(
            *a3_args(server, data, tmp_path / "reference"), env={"QBENCH_CACHE_DIR": str(tmp_path / "c0")}
        )
    assert done.returncode == 0, done.stderr
    return metrics(tmp_path / "reference")


def test_sigkill_after_k_answers_loses_only_what_was_in_flight(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=N)
    out = tmp_path / "runs"
    env = {"QBENCH_CACHE_DIR": str(tmp_path / "cache")}
    k = 10
    gate = Gate(k)
    with FakeOpenAIServer(gate) as server:
        proc = start_cli(*a3_args(server, data, out), env=env)
        try:
            wait_for(lambda: record_lines(out) >= k)  # k answers arrived and were saved, the rest hang
            asked_before_kill = server.count
            port = server.port
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            gate.release.set()
            proc.kill()
    in_flight = asked_before_kill - k
    assert record_lines(out) == k  # every answer that arrived was saved before the kill
    assert manifest(out)["status"] == "running"  # killed: nothing says it is done
    with FakeOpenAIServer(a3_words, port=port) as server:
        resumed = run_cli(*a3_args(server, data, out), env=env)
        asked_again = server.count
    assert resumed.returncode == 0, resumed.stderr
    assert asked_again <= N - k + in_flight
    assert asked_again == N - k  # in fact exactly the samples not answered (the cache holds nothing more)
    assert manifest(out)["summary"]["skipped_finished"] == k
    assert metrics(out) == reference_metrics(tmp_path, data)

"""Runs against an API server that survive: a kill, Ctrl-C, SIGTERM, a dead, hung, trickling or lying server.

Every test runs the real CLI in a subprocess against the loopback fake server and counts, server-side,
what was asked, so that "kept every answer" and "asked again only what was lost" are measured, not assumed.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_openai_server import FakeOpenAIServer, Reply, a3_words, user_text
from helpers import run_cli, write_mos_set
from qbench.errors import RunError
from qbench.models.openai_compat import create
from qbench.types import Request, Text

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


def interrupted_run(tmp_path: Path, signals: tuple[signal.Signals, ...]) -> tuple[Path, int, str, float, int]:
    """A run against a server that hangs after k answers, sent ``signals``; (out, code, stderr, seconds, port)."""
    data = write_mos_set(tmp_path / "data", n=N)
    out = tmp_path / "runs"
    gate = Gate(6)
    with FakeOpenAIServer(gate) as server:
        proc = start_cli(*a3_args(server, data, out), env={"QBENCH_CACHE_DIR": str(tmp_path / "cache")})
        try:
            wait_for(lambda: record_lines(out) >= 6 and server.count > 6)  # the rest hang in flight
            started = time.monotonic()
            for sig in signals:
                os.kill(proc.pid, sig)
            _, err = proc.communicate(timeout=30)
            seconds = time.monotonic() - started
        finally:
            gate.release.set()
            proc.kill()
        port = server.port
    return out, proc.returncode, err, seconds, port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_on_a_hung_server_stops_at_once_and_resumes_exactly(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out, code, err, seconds, port = interrupted_run(tmp_path, (sig,))
    assert code == 130, err
    assert seconds < 10  # the hung requests (held 60 s) are given up, not waited out
    assert "Traceback" not in err
    assert manifest(out)["status"] == "interrupted"
    assert record_lines(out) >= 6  # everything received is kept
    (line,) = [x for x in err.splitlines() if x.startswith("resume with: ")]
    command = shlex.split(line.removeprefix("resume with: "))
    assert command[0] == "qbench"
    with FakeOpenAIServer(a3_words, port=port):
        resumed = run_cli(*command[1:], env={"QBENCH_CACHE_DIR": str(tmp_path / "cache")})
    assert resumed.returncode == 0, resumed.stderr
    assert manifest(out)["status"] == "complete"
    assert metrics(out) == reference_metrics(tmp_path, tmp_path / "data" / "mos.json")


def test_a_second_ctrl_c_exits_at_once_without_a_traceback(tmp_path: Path) -> None:
    out, code, err, seconds, _ = interrupted_run(tmp_path, (signal.SIGINT, signal.SIGINT))
    # 130 from the second handler; -2 if the second one lands while the interpreter is already finalizing
    assert code in (130, -signal.SIGINT) and seconds < 10, err
    assert "Traceback" not in err
    assert record_lines(out) >= 6


# -- servers that fail -------------------------------------------------------------------------------------


def text_requests(n: int) -> list[Request]:
    return [Request(content=(Text(f"q{i}"),), max_new_tokens=8) for i in range(n)]


def model_for(server: FakeOpenAIServer, **options: str) -> Any:
    return create("fake-model", {"api_base": server.url, "retry_base": "0.01", **options})


def test_a_dead_server_stops_the_run_within_seconds_with_one_line(tmp_path: Path) -> None:
    """The server process dies mid-run: no 7 retries per remaining sample, one line with server and resume."""
    data = write_mos_set(tmp_path / "data", n=200)
    out = tmp_path / "runs"
    server = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "fake_openai_server.py"),
            "--mode",
            "a3",
            "--latency",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        args = [
            "run",
            "a3",
            "--model",
            "openai:fake-model",
            "--api-base",
            url,
            "--data",
            str(data),
            "--out",
            str(out),
        ]
        proc = start_cli(*args, "--concurrency", "4", env={"QBENCH_CACHE_DIR": str(tmp_path / "cache")})
        wait_for(lambda: record_lines(out) >= 8)
        server.kill()
        started = time.monotonic()
        _, err = proc.communicate(timeout=60)
        seconds = time.monotonic() - started
    finally:
        server.kill()
    assert proc.returncode == 1, err
    assert seconds < 15, seconds  # retried per sample it took minutes
    lines = err.strip().splitlines()
    assert len(lines) == 2, err  # the reason, then the command that resumes
    assert lines[0].startswith("error: ") and f"the server at {url} stopped answering" in lines[0]
    assert lines[1].startswith("resume with: qbench run a3")
    assert record_lines(out) >= 8  # what arrived before it died is kept
    assert manifest(out)["status"] == "failed"


def test_timeout_is_a_deadline_for_the_whole_request_even_a_trickling_one() -> None:
    reply = Reply(text="x" * 40, trickle=0.05)  # ~300 bytes at 20 bytes/s: ~15 s, each byte well in time
    with FakeOpenAIServer(lambda body: reply) as server:
        model = model_for(server, timeout="1", max_retries="0")
        started = time.monotonic()
        (result,) = model.generate(text_requests(1))
        seconds = time.monotonic() - started
        model.close()
    assert isinstance(result, RunError) and "Timeout" in str(result)
    assert seconds < 6  # without the deadline it takes ~15 s


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(raw=b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", content_type="text/html"),
            "HTML page",
        ),
        (Reply(raw=b"not json at all"), "not"),
        ({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}, "no choices"),
        ({"choices": [{"index": 0, "message": {"role": "assistant", "content": 5}}]}, "int, not text"),
    ],
)
def test_a_malformed_200_reply_is_asked_again_a_few_times_then_fails_that_sample(
    reply: Any, reason: str
) -> None:
    with FakeOpenAIServer(lambda body: reply if "q0" in user_text(body) else "fine") as server:
        model = model_for(server)
        first, second = model.generate(text_requests(2))
        asked = server.count
        model.close()
    assert second == "fine"
    assert isinstance(first, RunError)
    assert "malformed reply 3 times" in str(first) and reason in str(first), str(first)
    assert asked == 3 + 1  # bounded: 1 + malformed_retries(2) for the bad one


def test_a_reply_over_the_size_bound_fails_its_sample_without_retries() -> None:
    with FakeOpenAIServer(lambda body: "y" * 3_000_000 if "q0" in user_text(body) else "fine") as server:
        model = model_for(server, max_response_mb="1")
        first, second = model.generate(text_requests(2))
        asked = server.count
        model.close()
    assert second == "fine"
    assert (
        isinstance(first, RunError) and "larger than 1 MB" in str(first) and "max_response_mb" in str(first)
    )
    assert asked == 2


def test_credentials_in_the_api_base_never_reach_a_file_or_the_terminal(tmp_path: Path) -> None:
    data = write_mos_set(tmp_path / "data", n=4)
    out = tmp_path / "runs"
    with FakeOpenAIServer(a3_words) as server:
        base = server.url.replace("http://", "http://alice:hunter2@")
        done = run_cli(
            *a3_args(server, data, out)[:5], base, "--data", str(data), "--out", str(out), "-M", "api_key=sk-hunter3",
            env={"QBENCH_CACHE_DIR": str(tmp_path / "cache")},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    dead = run_cli(
        "run", "a3", "--model", "openai:fake-model", "--api-base", "http://127.0.0.1:9/v1?api_key=hunter4&x=1",
        "--data", str(data), "--out", str(out), "--debug",
    )  # fmt: skip
    assert dead.returncode != 0
    report = run_cli("report", str(out), "--format", "html", "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    written = "".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".png"
    )
    for secret in ("hunter2", "hunter3", "hunter4"):
        assert secret not in written
        assert secret not in done.stdout + done.stderr + dead.stdout + dead.stderr
    assert "alice" not in json.dumps(manifest_with(out, "alice"))


def manifest_with(out: Path, text: str) -> list[str]:
    return [str(p) for p in out.rglob("manifest.json") if text in p.read_text()]


def test_redaction_rules() -> None:
    from qbench.redact import redact_argv, redact_url

    assert redact_url("http://u:p@h:8/v1?api_key=k&x=1") == "http://***@h:8/v1?api_key=***&x=1"
    assert redact_url("https://h/v1?token=t") == "https://h/v1?token=***"
    assert redact_url("http://h:8/v1") == "http://h:8/v1"
    assert redact_argv(["-M", "api_key=sk", "--api-base", "http://a:b@h/v1", "--api-key", "k2"]) == [
        "-M", "api_key=***", "--api-base", "http://***@h/v1", "--api-key", "***",
    ]  # fmt: skip

"""How well the ``openai:`` adapter overlaps requests: throughput at concurrency C against C x serial.

An API model is latency-bound, so the adapter's job is to keep C requests in flight. This script starts the
fake OpenAI-compatible server (tests/fake_openai_server.py) with a fixed latency per reply, sends N requests
serially (concurrency 1) and then at each concurrency C, and prints the throughput and the ratio
``throughput(C) / (C x throughput(1))`` (the goal is >= 0.8; 1.0 is perfect overlap). Each request carries a
small PNG image by default, so the encoding and the data-URL upload are part of what is measured.

    .venv/bin/python benchmarks/api_concurrency.py                 # latency 0.2 s, N=64 serial, 256 per C
    .venv/bin/python benchmarks/api_concurrency.py -c 16 64 -n 512 --image-size 0

The server runs in a separate process by default (``--in-process`` to share one), so the client's threads do
not compete with the server's for one interpreter lock.

``--run-samples 1000 10000`` also runs the real CLI (``qbench run a3 --model openai:...``) on MOS files of that
many items against an A3-answering server, and prints the wall time and the peak memory (RSS) of each run:
records and cache entries are written as each answer arrives, so memory must stay flat as N grows.

Figures on the shared 2-core machine (latency 0.2 s, 64 px PNG, N=256; ratio of C x serial), measured
alternately before and after issue 11 (answers saved as each arrives) under the same load (load average 5):

    before (records and cache written per batch of max(64, 4C)):  C=16 0.95 0.96   C=64 0.71 0.70
    after  (records and cache written per answer):                 C=16 0.94 0.97   C=64 0.69 0.67
    quiet machine, before: C=16 0.97, C=64 0.76

CLI runs (A3, 10 ms latency, C=64, --no-cache), peak RSS: before 172 MB at N=1,000 and 198 MB at N=10,000;
after 172 MB and 198-200 MB: flat in N (the +26 MB is the 10,000 items themselves), and the same as before.
Throughput at N=10,000: before 259 and 210 samples/s, after 237 and 210 (load average 7-9: +-20 % noise).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from qbench.models.openai_compat import create  # noqa: E402
from qbench.types import ImageSlot, Request, Text  # noqa: E402


def make_requests(n: int, image_size: int, offset: int = 0) -> list[Request]:
    images: tuple[Any, ...] = ()
    content: tuple[Any, ...] = ()
    if image_size:
        import numpy as np
        from PIL import Image

        pixels = np.random.default_rng(0).integers(0, 256, size=(image_size, image_size, 3), dtype=np.uint8)
        images = (Image.fromarray(pixels),)
        content = (ImageSlot(0),)
    return [
        Request(
            content=(*content, Text(f"request {offset + i}")),
            images=images,
            image_keys=("k",) * len(images),
            max_new_tokens=16,
        )
        for i in range(n)
    ]


def measure(url: str, concurrency: int, requests: list[Request]) -> tuple[float, dict[str, Any]]:
    model = create("bench-model", {"api_base": url, "api_key": "EMPTY", "concurrency": str(concurrency)})
    started = time.perf_counter()
    results = model.generate(requests)
    elapsed = time.perf_counter() - started
    model.close()
    bad = [r for r in results if isinstance(r, Exception)]
    if bad:
        raise SystemExit(f"{len(bad)} requests failed, first: {bad[0]}")
    return elapsed, model.usage()


def start_server(latency: float, in_process: bool, mode: str = "echo") -> tuple[str, Any]:
    if in_process:
        from fake_openai_server import FakeOpenAIServer

        server = FakeOpenAIServer(latency=latency).start()
        return server.url, server.stop
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "fake_openai_server.py"),
            "--latency",
            str(latency),
            "--mode",
            mode,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit("the fake server did not start")

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    return url, stop


def run_samples(latency: float, n: int, concurrency: int, folder: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one real CLI run of A3 on ``n`` items (the server: --mode a3)."""
    import json
    import shutil

    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        Image.new("RGB", (32, 32), (i * 30, 100, 200 - i * 20)).save(folder / f"img_{i}.png")
    items = [{"img_path": f"img_{i % 8}.png", "gt_score": str(1 + (i * 7919 % 400) / 100)} for i in range(n)]
    data = folder / f"mos_{n}.json"
    data.write_text(json.dumps(items))
    url, stop = start_server(latency, False, mode="a3")
    out = folder / f"runs_{n}"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "qbench", "-q", "run", "a3", "--model", "openai:bench-model", "--api-base", url,
        "--data", str(data), "--out", str(out), "--no-cache", "--concurrency", str(concurrency),
    ]  # fmt: skip
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        if status:
            raise SystemExit(f"the run failed: {proc.stderr.read().decode() if proc.stderr else status}")
    finally:
        stop()
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per reply (default 0.2)")
    parser.add_argument("-n", "--requests", type=int, default=256, help="requests per concurrent run")
    parser.add_argument("--serial", type=int, default=32, help="requests for the serial baseline")
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument(
        "--image-size", type=int, default=64, help="side of the PNG sent per request (0: none)"
    )
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    parser.add_argument(
        "--run-samples", type=int, nargs="*", default=[], help="also run the CLI on A3 files of these sizes"
    )
    parser.add_argument("--run-latency", type=float, default=0.01, help="server latency for --run-samples")
    parser.add_argument("--run-concurrency", type=int, default=64, help="concurrency for --run-samples")
    parser.add_argument("--skip-ratio", action="store_true", help="only the --run-samples runs")
    args = parser.parse_args()
    if args.run_samples:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            print(f"CLI runs: A3, server latency {args.run_latency * 1000:.0f} ms, C={args.run_concurrency}")
            for n in args.run_samples:
                elapsed, rss = run_samples(args.run_latency, n, args.run_concurrency, Path(tmp))
                print(f"  N={n:>6}: {elapsed:7.2f} s  {n / elapsed:7.1f} samples/s  peak RSS {rss:7.1f} MB")
    if args.skip_ratio:
        return

    url, stop = start_server(args.latency, args.in_process)
    try:
        measure(url, 4, make_requests(8, args.image_size, offset=10**6))  # warm-up: imports, connections
        serial_s, _ = measure(url, 1, make_requests(args.serial, args.image_size))
        serial_tp = args.serial / serial_s
        print(
            f"server latency {args.latency * 1000:.0f} ms, image {args.image_size or 'none'} px, "
            f"server {'in-process' if args.in_process else 'subprocess'}, {os.cpu_count()} CPUs"
        )
        print(f"serial      : {args.serial:5d} requests in {serial_s:7.2f} s = {serial_tp:7.2f} req/s")
        print(f"{'C':>4} {'N':>6} {'wall s':>8} {'ideal s':>8} {'req/s':>8} {'C x serial':>11} {'ratio':>6}")
        for c in args.concurrency:
            requests = make_requests(args.requests, args.image_size, offset=c * 10**4)
            elapsed, usage = measure(url, c, requests)
            tp = args.requests / elapsed
            ideal = args.requests * args.latency / c
            ratio = tp / (c * serial_tp)
            flag = "ok" if ratio >= 0.8 else "LOW"
            print(
                f"{c:>4} {args.requests:>6} {elapsed:>8.2f} {ideal:>8.2f} {tp:>8.1f} {c * serial_tp:>11.1f} "
                f"{ratio:>6.2f} {flag}  (retries {usage['retries']})"
            )
    finally:
        stop()


if __name__ == "__main__":
    main()

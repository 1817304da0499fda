"""What the Ray driver holds: an A3 run of a tiny transformers model under ``--executor ray``, in this process.

Prints the driver's peak resident memory, whether the hf adapter, torch and transformers were imported by
the driver (the adapter is imported only to build the model), and the wall time. The driver should load
nothing: the replicas load the model and report its identity (qbench.executors.ray_executor).

    python benchmarks/ray_driver.py [--images 24] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_NUM_CPUS", str(max(1, args.workers)))

    from helpers import write_mos_set

    work = Path(tempfile.mkdtemp(prefix="qbench-ray-driver-"))
    # built in a child process, so that building it does not count against this driver
    import subprocess

    code = f"import sys; sys.path.insert(0, {str(HERE.parent / 'tests')!r}); import tiny_models; "
    code += f"print(tiny_models.build('llava', __import__('pathlib').Path({str(work)!r})))"
    folder = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    model = folder.stdout.strip().splitlines()[-1]
    data = write_mos_set(work / "data", n=args.images)

    from qbench.config import RunConfig
    from qbench.runner import run

    started = time.perf_counter()
    settings = {"ray_workers": args.workers}
    try:
        config = RunConfig(
            task="a3",
            model=f"hf:{model}",
            data=str(data),
            out=work / "runs",
            cache=False,
            executor="ray",
            task_options={"bootstrap": "0"},
            **settings,
        )
    except TypeError:  # before the --ray-workers setting existed
        config = RunConfig(
            task="a3",
            model=f"hf:{model}",
            data=str(data),
            out=work / "runs",
            cache=False,
            executor="ray",
            task_options={"bootstrap": "0"},
            workers=args.workers,
        )
    result = run(config)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"images: {args.images}, ray workers: {args.workers}, SRCC {result.metrics.get('srcc'):.4f}")
    adapter = "qbench.models.hf" in sys.modules
    print(
        f"driver: hf adapter imported (so the model built): {adapter}; torch imported: {'torch' in sys.modules}; "
        f"transformers imported: {'transformers' in sys.modules}"
    )
    print(f"driver peak RSS: {peak_mb:.0f} MB; wall time: {seconds:.1f} s")


if __name__ == "__main__":
    main()

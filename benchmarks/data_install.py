"""Installing a dataset: how long ``qbench data add`` takes to find, check and lay out a KonIQ-sized copy.

Builds a folder of N small image files (KonIQ has 10,073) wrapped in two folders, with a matching list file,
then times, in this process: ``add`` by links, ``add --copy``, ``add`` from a tar archive, ``data list``'s
status check, and loading ``--data NAME`` (what every run pays). Prints one line per step.

    python benchmarks/data_install.py [--images 10073] [--bytes 2000]

Run by hand (not in CI).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10073)
    parser.add_argument("--bytes", type=int, default=2000, help="size of each image file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qbench-data-bench-"))
    os.environ["QBENCH_DATA_DIR"] = str(work / "home")
    sources = work / "sources.toml"
    sources.write_text(
        '[datasets.benchset]\ntitle = "bench"\ntask = "a3"\n'
        'views.benchset = { list = "benchset.json", format = "mos-json" }\n'
        'files = [ { name = "benchset.json", url = "http://127.0.0.1:9/benchset.json" } ]\n'
        'sources = [ { name = "lab", manual = true, url = "http://127.0.0.1:9/" } ]\n'
    )
    os.environ["QBENCH_SOURCES"] = str(sources)

    from qbench.catalog import install
    from qbench.catalog.home import status
    from qbench.catalog.registry import load_catalog
    from qbench.data.dataset import load_dataset

    user = work / "download" / "wrapped" / "1024x768"
    user.mkdir(parents=True)
    names = [f"{10_000_000 + i}.jpg" for i in range(args.images)]
    payload = os.urandom(args.bytes)
    for name in names:
        (user / name).write_bytes(payload)
    (work / "download" / "benchset.json").write_text(
        json.dumps([{"img_path": n, "gt_score": "3.0"} for n in names])
    )
    archive = work / "copy.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(work / "download", arcname="download")

    catalog = load_catalog()
    entry = catalog.entry("benchset")
    steps = [
        ("add (links)", lambda: install.add(entry, work / "download", catalog, install.Options())),
        ("add --copy", lambda: install.add(entry, work / "download", catalog, install.Options(copy=True))),
        ("add from a tar", lambda: install.add(entry, archive, catalog, install.Options())),
        ("status (data list)", lambda: status(entry)),
        ("load --data benchset", lambda: load_dataset("benchset")),
    ]
    print(f"{args.images} images of {args.bytes} B in {work}")
    try:
        for label, step in steps:
            start = time.perf_counter()
            step()
            seconds = time.perf_counter() - start
            print(f"{label:22} {seconds:8.3f} s  ({args.images / seconds:10.0f} images/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

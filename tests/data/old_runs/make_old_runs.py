"""Writes the stored old run folders with the code of main at a8fc7b3 (before typed run data, issue 13).

Run once, by hand, from a checkout of that commit (its ``src`` first on PYTHONPATH), e.g.::

    git worktree add /tmp/old a8fc7b3
    PYTHONPATH=/tmp/old/src python tests/data/old_runs/make_old_runs.py

It is kept to show exactly how the fixture was made; the tests only read what it wrote (``runs/``,
``resume/``, ``expected/``). Absolute paths in the manifests are those of the machine that wrote them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workspace import HERE, write_workspace


def qbench(work: Path, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "qbench", *args],
        cwd=work,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "QBENCH_CACHE_DIR": str(work / "cache"), **(env or {})},
        capture_output=True,
        text=True,
    )
    if ok and result.returncode != 0:
        raise SystemExit(f"qbench {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def main() -> None:
    work = write_workspace(Path(tempfile.mkdtemp(prefix="old_runs_")))
    a1 = ("--data", "a1/llvisionqa_dev.json")
    qbench(
        work,
        "run",
        "a1",
        "-m",
        "py:old_models:A1Model",
        "--judge",
        "py:old_models:A1Judge",
        *a1,
        "-o",
        "runs",
    )
    qbench(work, "run", "a1", "-m", "py:old_models:A1Model", "-T", "mode=options", *a1, "-o", "runs")
    a2 = ("--data", "a2/descriptions.json")
    qbench(
        work,
        "run",
        "a2",
        "-m",
        "py:old_models:Describer",
        "--judge",
        "py:old_models:A2Judge",
        *a2,
        "-o",
        "runs",
    )
    qbench(work, "run", "a3", "-m", "py:old_models:A3Model", "--data", "a3/mos.json", "-o", "runs")
    qbench(work, "import", "a1", "a1/answers_dev.json", "--model", "saved-a1", "-o", "runs")
    qbench(work, "import", "a3", "a3/koniq.json", "--model", "saved-a3", "-o", "runs")
    for shard in ("1/2", "2/2"):
        qbench(
            work,
            "run",
            "a3",
            "-m",
            "py:old_models:A3Model",
            "--data",
            "a3/mos.json",
            "--shard",
            shard,
            "-o",
            "shards",
        )
    qbench(work, "merge", "shards", "-o", "merged")
    (judged_a1,) = (
        p.parent
        for p in (work / "runs" / "a1" / "a1-model").rglob("manifest.json")
        if "judge_version" in p.read_text()
    )
    qbench(work, "score", str(judged_a1))
    (a2_run,) = (p.parent for p in (work / "runs" / "a2").rglob("manifest.json"))
    qbench(work, "score", str(a2_run), "--judge", "py:old_models:OtherJudge")
    fail = {"OLD_RUNS_FAIL": "1", "QBENCH_CACHE_DIR": str(work / "cache-failing")}
    judge = ("--judge", "py:old_models:A1Judge")
    qbench(
        work,
        "run",
        "a1",
        "-m",
        "py:old_models:A1Model",
        *judge,
        *a1,
        "-o",
        "resume",
        "--batch-size",
        "1",
        env=fail,
        ok=False,
    )
    expected = work / "expected"
    expected.mkdir()
    for fmt in ("json", "md", "csv"):
        (expected / f"report.{fmt}").write_text(qbench(work, "report", "runs", "merged", "--format", fmt))
    for task in ("a1", "a2", "a3"):
        for i, manifest in enumerate(sorted((work / "runs" / task).rglob("manifest.json"))):
            run = manifest.parent.relative_to(work)
            (expected / f"show_{task}_{i}.txt").write_text(qbench(work, "show", str(run)))
    for name in ("runs", "merged", "resume", "expected"):
        shutil.rmtree(HERE / name, ignore_errors=True)
        shutil.copytree(work / name, HERE / name, ignore=shutil.ignore_patterns(".lock"))
    print(f"written from {work}")


if __name__ == "__main__":
    main()

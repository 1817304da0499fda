"""Run folders written before typed run data (main at a8fc7b3) still read, report, re-score and resume.

The folders under ``tests/data/old_runs`` were written by that commit's own CLI (``make_old_runs.py`` there
says how): an A1 run judged by an LLM judge (its verdicts under the old ``judge`` key), an A1 options-mode run,
an A2 run judged and then re-judged by another judge (``judgement`` / ``previous_judgements``), an A3 run,
imported A1 and A3 runs, a merged A3 run, an A1 re-scored run, and an A1 run left incomplete by a failing
sample. ``expected/`` holds what that commit's ``qbench report`` and ``qbench show`` printed for them.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from helpers import run_cli
from qbench.registry import TASKS
from qbench.store import Run, find_runs, load_run
from qbench.undefined import without_nan

OLD = Path(__file__).parent / "data" / "old_runs"
sys.path.insert(0, str(OLD))
from workspace import write_workspace  # noqa: E402

A1_RUN = "runs/a1/a1-model/llvisionqa_dev/4f42c7f417c8"  # judged by py:old_models:A1Judge
A2_RUN = "runs/a2/describer/descriptions/0c5abd066d9a"  # judged by py:old_models:A2Judge


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The old runs' working folder again: the model module, the data files (byte for byte) and images."""
    root = write_workspace(tmp_path / "work")
    for name in ("runs", "merged", "resume"):
        shutil.copytree(OLD / name, root / name)
    return root


def qbench(work: Path, *args: str) -> str:
    result = run_cli(*args, cwd=work, env={"QBENCH_CACHE_DIR": str(work / "cache")})
    assert result.returncode == 0, result.stderr
    return result.stdout


def recomputed(run: Run) -> dict:
    """The run's metrics computed again from its records by today's task code (as merge and score do)."""
    task = TASKS.get(run.manifest.task)((run.manifest.config or {}).get("task_options", {}))
    if callable(getattr(task, "restore_judge", None)):
        task.restore_judge(run.manifest.task_info)
    records = sorted(run.records().values(), key=lambda r: (r.output.get("index", 0), r.id))
    return json.loads(json.dumps(without_nan(task.metrics(run.manifest.dataset, records))))


def test_every_old_run_reads_and_its_metrics_recompute_exactly(work: Path) -> None:
    runs = find_runs([work / "runs", work / "merged"])
    assert len(runs) == 9
    for run in runs:
        assert run.complete, run.path
        assert run.manifest.task in {"a1", "a2", "a3"} and run.manifest.fingerprint == run.path.name
        assert recomputed(run) == run.metrics(), run.path
    kinds = {
        (r.manifest.task, r.manifest.source, bool(r.manifest.derived_from), bool(r.manifest.merged_from))
        for r in runs
    }
    assert kinds >= {
        ("a1", "import", False, False),
        ("a3", "import", False, False),
        ("a3", None, False, True),
    }
    judged = load_run(work / A1_RUN)
    read = TASKS.get("a1").read
    verdicts = [read(r).verdict for r in judged.records().values()]
    assert [v.scores["result"] for v in verdicts if v is not None][-1] == [None] * 5  # "I cannot tell."
    assert judged.metrics()["judged/accuracy"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("fmt", ["json", "md", "csv"])
def test_reports_of_old_runs_are_what_they_were(work: Path, fmt: str) -> None:
    assert (
        qbench(work, "report", "runs", "merged", "--format", fmt)
        == (OLD / "expected" / f"report.{fmt}").read_text()
    )


def test_show_of_old_runs_is_what_it_was(work: Path) -> None:
    for expected in sorted((OLD / "expected").glob("show_*.txt")):
        _, task, i = expected.stem.split("_")
        run = sorted((work / "runs" / task).rglob("manifest.json"))[int(i)].parent.relative_to(work)
        assert qbench(work, "show", str(run)) == expected.read_text(), expected.name


def test_old_runs_rescore_into_the_runs_they_made_then(work: Path) -> None:
    """``qbench score`` of an old run: the same folder name (fingerprint) and the same numbers as the old
    re-scored runs; re-judging an old A2 run keeps the first judge's verdict beside the new one."""
    stored = {r.manifest.fingerprint: r for r in find_runs([work / "runs"]) if r.manifest.derived_from}
    qbench(work, "score", A1_RUN, "-o", "new")
    qbench(work, "score", A2_RUN, "--judge", "py:old_models:OtherJudge", "-o", "new")
    new = find_runs([work / "new"])
    assert len(new) == 2
    for run in new:
        old = stored[run.manifest.fingerprint]
        assert run.metrics() == old.metrics() and run.manifest.task_info == old.manifest.task_info
    (a2,) = (r for r in new if r.manifest.task == "a2")
    out = TASKS.get("a2").read(next(iter(a2.records().values())))
    assert out.verdict.judge.name == "other-judge"
    assert [v.judge.name for v in out.previous_verdicts] == ["a2-judge"]


def test_an_old_incomplete_run_resumes_and_an_old_complete_one_is_kept(work: Path) -> None:
    args = ("run", "a1", "-m", "py:old_models:A1Model", "--judge", "py:old_models:A1Judge")
    args += ("--data", "a1/llvisionqa_dev.json")
    incomplete = load_run(work / "resume" / A1_RUN.removeprefix("runs/"))
    assert incomplete.status == "incomplete"
    qbench(work, *args, "-o", "resume")
    resumed = load_run(incomplete.path)
    assert resumed.complete and resumed.manifest.summary["computed"] == 1  # only the failed sample
    assert resumed.metrics() == load_run(work / A1_RUN).metrics()
    assert [p.parent for p in (work / "resume").rglob("manifest.json")] == [incomplete.path]

    before = {name: (work / A1_RUN / name).read_bytes() for name in ("metrics.json", "records.jsonl")}
    qbench(work, *args, "-o", "runs")
    again = load_run(work / A1_RUN)
    assert again.complete and again.manifest.summary["computed"] == 0
    # the old verdicts are this judge's (same identity): nothing judged again, nothing rewritten
    assert {name: (work / A1_RUN / name).read_bytes() for name in before} == before
    for task, model, data in (("a2", "Describer", "a2/descriptions.json"), ("a3", "A3Model", "a3/mos.json")):
        extra = ("--judge", "py:old_models:A2Judge") if task == "a2" else ()
        qbench(work, "run", task, "-m", f"py:old_models:{model}", *extra, "--data", data, "-o", "runs")
    assert len(find_runs([work / "runs"])) == 8  # no new folder: the same fingerprints as before


def test_imports_and_merges_of_today_land_in_the_old_folders_with_the_old_numbers(work: Path) -> None:
    """The fingerprints of derived runs are unchanged: importing the same files again, or merging shards of
    the same configuration, gives the folder (and the metrics) the old code gave."""
    qbench(work, "import", "a1", "a1/answers_dev.json", "--model", "saved-a1", "-o", "new")
    qbench(work, "import", "a3", "a3/koniq.json", "--model", "saved-a3", "-o", "new")
    for shard in ("1/2", "2/2"):
        args = ("run", "a3", "-m", "py:old_models:A3Model", "--data", "a3/mos.json", "--shard", shard)
        qbench(work, *args, "-o", "shards")
    qbench(work, "merge", "shards", "-o", "new")
    new = {r.path.relative_to(work / "new"): r for r in find_runs([work / "new"])}
    old = {r.path.relative_to(work / "runs"): r for r in find_runs([work / "runs"]) if r.manifest.source}
    old |= {r.path.relative_to(work / "merged"): r for r in find_runs([work / "merged"])}
    assert sorted(new) == sorted(old) and len(new) == 3
    for folder, run in new.items():
        assert run.metrics() == old[folder].metrics(), folder
        assert run.manifest.duplicates == old[folder].manifest.duplicates
        assert run.manifest.task_info == old[folder].manifest.task_info

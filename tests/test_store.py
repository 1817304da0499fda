"""Run folders survive crashes: torn lines are ignored, stale metrics are never trusted, locks hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qbench.errors import RunError
from qbench.store import Run, find_runs, iter_records, load_run, slug
from qbench.types import Record


def _open(path: Path, fp: str = "abc") -> Run:
    return Run.open(path, {"task": "a3", "model": "m", "dataset": "d", "fingerprint": fp})


def test_a_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    run = _open(tmp_path / "run")
    run.append([Record("a", {"score": 1.0}), Record("b", {"score": 2.0})])
    with open(tmp_path / "run" / "records.jsonl", "a") as fh:
        fh.write('{"id": "c", "sco')  # killed mid-write
    assert set(run.records()) == {"a", "b"}
    run.append([Record("c", {"score": 3.0})])
    lines = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]


def test_a_failed_record_is_not_done_and_a_later_success_wins(tmp_path: Path) -> None:
    run = _open(tmp_path / "run")
    run.append([Record("a", {}, error="timeout"), Record("b", {"score": 1.0})])
    assert run.done_ids() == {"b"}
    run.append([Record("a", {"score": 0.5})])
    assert run.done_ids() == {"a", "b"}
    assert run.records()["a"].output["score"] == 0.5


def test_resuming_removes_old_metrics_until_the_run_completes_again(tmp_path: Path) -> None:
    run = _open(tmp_path / "run")
    run.finish({"srcc": 0.5})
    run.close()
    assert load_run(tmp_path / "run").complete
    again = _open(tmp_path / "run")
    # reopened, nothing changes on disk yet: a rerun that fails now must not destroy the finished run
    assert load_run(tmp_path / "run").complete
    again.fail("the cache broke")
    assert load_run(tmp_path / "run").metrics() == {"srcc": 0.5}
    again.append([Record("a", {"score": 1.0})])  # the first new record: from here the old metrics are stale
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert load_run(tmp_path / "run").status == "running"
    with pytest.raises(RunError, match="not complete"):
        load_run(tmp_path / "run").metrics()
    again.close()


def test_a_different_run_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    _open(tmp_path / "run", "one").close()
    with pytest.raises(RunError, match="different run"):
        _open(tmp_path / "run", "two")


def test_two_processes_cannot_write_one_run(tmp_path: Path) -> None:
    first = _open(tmp_path / "run")
    with pytest.raises(RunError, match="in use"):
        _open(tmp_path / "run")
    first.close()


def test_find_runs_walks_folders(tmp_path: Path) -> None:
    for name in ("x/a", "x/b/c"):
        _open(tmp_path / name).close()
    assert len(find_runs([tmp_path])) == 2
    assert len(find_runs([tmp_path / "x" / "a"])) == 1


def test_broken_line_in_the_middle_is_an_error_not_silence(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    from qbench.errors import DataError

    with pytest.raises(DataError, match="line 2"):
        list(iter_records(path))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("hf:/models/llava-1.5-7b", "hf-llava-1.5-7b"), ("openai:gpt-4o", "openai-gpt-4o"), ("niqe", "niqe")],
)
def test_slug(spec: str, expected: str) -> None:
    assert slug(spec) == expected

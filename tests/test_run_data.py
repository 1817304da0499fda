"""Typed run data: the manifest, derived runs, the one verdict shape, and the tasks' typed outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qbench.errors import DataError
from qbench.judging import JudgeIdentity, Verdict, stored_verdicts
from qbench.registry import TASKS
from qbench.store import Manifest, Run, derive, load_run
from qbench.tasks.assessment import AssessmentOutput
from qbench.tasks.description import DescriptionOutput
from qbench.tasks.perception import PerceptionOutput
from qbench.types import Record

RUN_MANIFEST = {
    "task": "a1",
    "model": "m",
    "model_info": {"name": "m"},
    "dataset": "d",
    "dataset_info": {"fingerprint": "abc"},
    "split": "dev",
    "task_info": {"task": "a1", "rules_version": "v1"},
    "fingerprint": "f" * 12,
    "config": {"task_options": {}, "shard": "1/2"},
    "n": 3,
    "identity": {"task": {"task": "a1"}, "shard": "1/2"},
    "status": "complete",
    "created": "then",
    "finished": "later",
    "resumed": 2,
    "summary": {"samples": 3},
    "error": None,
    "written_by_a_later_version": {"keep": [1, 2]},
}


def test_a_manifest_keeps_every_key_it_does_not_know_and_reads_as_a_mapping(tmp_path: Path) -> None:
    manifest = Manifest.from_json(RUN_MANIFEST)
    assert manifest.task_info == {"task": "a1", "rules_version": "v1"} and manifest.resumed == 2
    assert manifest["written_by_a_later_version"] == {"keep": [1, 2]}
    assert manifest.get("split") == "dev" and manifest.get("derived_from") is None and "error" not in manifest
    with pytest.raises(KeyError):
        manifest["no such key"]
    assert manifest.to_json() == {k: v for k, v in RUN_MANIFEST.items() if v is not None}
    manifest.update(status="failed", note="x")
    assert manifest.status == "failed" and manifest.to_json()["note"] == "x"
    # written and read back through the store, unchanged
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(RUN_MANIFEST))
    assert load_run(tmp_path / "run").manifest == Manifest.from_json(RUN_MANIFEST)


@pytest.mark.parametrize("text", ["[]", '"a run"', "{not json", '{"task": "a1", "n": 3'])
def test_a_manifest_that_is_not_an_object_is_one_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(DataError, match="manifest") as caught:
        load_run(tmp_path)
    assert str(tmp_path / "manifest.json") in str(caught.value)


def test_derived_runs_drop_how_the_source_went_and_say_where_they_came_from() -> None:
    base = Manifest.from_json(RUN_MANIFEST)
    rescored = derive(base, "rescore", ["/runs/x"], task_info={"task": "a1", "rules_version": "v2"}, n=3)
    assert rescored.derived_from == "/runs/x" and rescored.status is None and rescored.summary is None
    assert rescored.task_info["rules_version"] == "v2" and rescored.fingerprint != base.fingerprint
    assert rescored["written_by_a_later_version"] == {"keep": [1, 2]}
    assert base.status == "complete" and base.task_info["rules_version"] == "v1"  # the source is untouched
    other_rules = derive(base, "rescore", ["/runs/x"], task_info={"task": "a1", "rules_version": "v3"})
    assert other_rules.fingerprint != rescored.fingerprint  # new rules: a new folder, never an overwrite
    merged = derive(base, "merge", ["/s/1", "/s/2"], n=6)
    assert merged.merged_from == ["/s/1", "/s/2"] and merged.identity["shard"] is None  # type: ignore[index]
    assert merged.config["shard"] is None  # type: ignore[index]
    unsharded = Manifest.from_json({**RUN_MANIFEST, "identity": {"task": {"task": "a1"}, "shard": "2/2"}})
    assert derive(unsharded, "merge", []).fingerprint == merged.fingerprint  # any shard: the same run
    imported = derive(
        Manifest(task="a3", model="m", dataset="koniq", dataset_info={"fingerprint": "1"}), "import", ["f"]
    )
    again = derive(
        Manifest(task="a3", model="m", dataset="koniq", dataset_info={"fingerprint": "1"}), "import", ["g"]
    )
    changed = derive(
        Manifest(task="a3", model="m", dataset="koniq", dataset_info={"fingerprint": "2"}), "import", ["f"]
    )
    assert imported.source == "import" and imported.fingerprint == again.fingerprint != changed.fingerprint
    assert imported.folder(Path("runs")) == Path("runs/a3/m/koniq") / imported.fingerprint


def test_a_run_opened_on_a_typed_manifest_writes_it_whole(tmp_path: Path) -> None:
    manifest = Manifest.from_json({k: v for k, v in RUN_MANIFEST.items() if k not in {"status", "created"}})
    run = Run.open(tmp_path / "r", manifest)
    run.append([Record("0", {"x": 1})])
    run.finish({"n": 1})
    run.close()
    stored = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert stored["status"] == "complete" and stored["written_by_a_later_version"] == {"keep": [1, 2]}
    assert load_run(tmp_path / "r").manifest.status == "complete"


# -- verdicts ----------------------------------------------------------------------------------------------
JUDGE = JudgeIdentity("judge", "0123456789abcdef", "a1-judge-v1", 3)
OLD_A1 = {
    "key": "0123456789abcdef:a1-judge-v1:3",
    "model": "judge",
    "version": "a1-judge-v1",
    "rounds": 3,
    "replies": ["Result: 1", None, "Result: 1"],
    "verdicts": [1, None, 1],
    "correct": True,
    "mean": 1.0,
}
OLD_A2 = {
    "judge": {
        "name": "judge",
        "fingerprint": "0123456789abcdef",
        "prompt_version": "a2-judge-v1",
        "rounds": 1,
    },
    "replies": {"completeness": ["Score: 2"], "precision": ["??"], "relevance": [None]},
    "scores": {"completeness": [2], "precision": [None], "relevance": [None]},
}


def test_old_a1_and_a2_verdicts_read_as_the_one_shape() -> None:
    a1 = PerceptionOutput.from_json({"answer": "A", "letter": "A", "index": 4, "judge": OLD_A1})
    assert a1.verdict == Verdict(
        JUDGE, {"result": ["Result: 1", None, "Result: 1"]}, {"result": [1, None, 1]}
    )
    assert a1.judged_correct() is None  # 2 ones and 1 failed round of 3: the missing round could decide it
    assert a1.extra == {"index": 4} and "judge" not in a1.to_json() and a1.to_json()["index"] == 4
    assert not a1.verdict.complete(JUDGE)  # a failed call: judged again (its answered rounds are cached)
    assert PerceptionOutput.from_json(a1.to_json()) == a1  # today's shape reads back the same
    a2 = DescriptionOutput.from_json(
        {"description": "d", "judgement": OLD_A2, "previous_judgements": [OLD_A2]}
    )
    assert a2.verdict is not None and a2.verdict.judge == JudgeIdentity(
        "judge", "0123456789abcdef", "a2-judge-v1", 1
    )
    assert a2.previous_verdicts == (a2.verdict,) and a2.round_scores() is None  # relevance has no valid round
    assert DescriptionOutput.from_json(a2.to_json()) == a2
    # the manifest forms of the judge (kept as they were: they are in the fingerprints) name the same judge
    assert JudgeIdentity.from_json(JUDGE.keyed()) == JUDGE == JudgeIdentity.from_json(JUDGE.to_json())
    assert stored_verdicts({"verdict": a1.verdict.to_json()}) == (a1.verdict, ())


def test_each_task_reads_its_records_through_its_typed_output() -> None:
    record = Record(
        "q0", {"img_path": "q0.png", "mos": 3.5, "logits": {"good": 1.0, "poor": None}, "score": None}
    )
    out = TASKS.get("a3").read(record)
    assert isinstance(out, AssessmentOutput) and out.mos == 3.5 and out.score != out.score  # null is NaN
    assert out.logits is not None and out.logits["poor"] != out.logits["poor"]
    assert isinstance(TASKS.get("a1").read(Record("0", {"letter": None})), PerceptionOutput)
    assert isinstance(TASKS.get("a2").read(Record("0", {"description": ""})), DescriptionOutput)

"""A1 end to end with real transformers classes: tiny random models (tests/tiny_models.py) in both modes.

The weights are random, so the replies are noise; what is checked is the plumbing: every item gets a reply
(or one loss per option), the stored replies score offline to the same numbers, and pairs go through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import tiny_models
from qbench.store import find_runs
from test_a1_cli import pair_file, qbench, single_file

pytestmark = pytest.mark.hf


def test_tiny_llava_generates_replies_that_score_like_an_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = single_file(tmp_path)
    model = f"hf:{tiny_models.cached('llava')}"
    code, _, err = qbench(
        capsys,
        "run",
        "a1",
        "--model",
        model,
        "--data",
        data,
        "-T",
        "max_new_tokens=6",
        "--out",
        tmp_path / "r",
    )
    # random weights: the replies may all be unreadable, which is an unusable run (exit 3), still stored
    assert code in (0, 3), err
    (run,) = find_runs([tmp_path / "r"])
    assert (
        run.manifest["task_info"]["mode"] == "generate" and run.manifest["task_info"]["max_new_tokens"] == 6
    )
    records = run.records()
    assert len(records) == 8 and all(isinstance(r.output["response"], str) for r in records.values())

    items = json.loads(data.read_text())
    saved = tmp_path / "saved_dev.json"
    saved.write_text(
        json.dumps([dict(item, response=records[str(i)].output["response"]) for i, item in enumerate(items)])
    )
    status = run.manifest["status"]
    imported_code, _, err = qbench(
        capsys, "import", "a1", saved, "--model", "saved", "--out", tmp_path / "imported"
    )
    assert imported_code == code, err
    (imported,) = find_runs([tmp_path / "imported"])
    assert imported.manifest["status"] == status
    keys = ("accuracy", "accuracy/yes-no", "accuracy/what", "accuracy/how", "invalid_rate")
    ran, got = (json.loads((r.path / "metrics.json").read_text()) for r in (run, imported))
    assert {k: ran[k] for k in keys} == {k: got[k] for k in keys}


def test_tiny_qwen2_vl_ranks_the_options_of_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = pair_file(tmp_path)
    model = f"hf:{tiny_models.cached('qwen2_vl')}"
    code, _, err = qbench(
        capsys, "run", "a1", "--model", model, "--data", data, "-T", "mode=options", "--out", tmp_path / "r"
    )
    assert code == 0, err
    (run,) = find_runs([tmp_path / "r"])
    records = run.records().values()
    assert run.manifest["task_info"]["pair"] is True and len(records) == 6
    assert all(len(r.output["losses"]) == len(r.output["options"]) for r in records)
    right = sum(r.output["letter"] == r.output["answer"] for r in records)
    assert run.metrics()["accuracy"] == right / 6 and "accuracy/compare" in run.metrics()

"""Start-up overlap (qbench.startup): samples are decoded and pre-processed while the weights load, within the
memory bound, and the records are exactly those of a run without it.

The weights of a tiny model load in milliseconds, so loading is slowed down here (a real checkpoint takes
seconds to minutes); the processor still loads first, as it does in the adapter.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import tiny_models  # noqa: E402
from qbench import evaluate, startup  # noqa: E402
from qbench.health import UnusableRun  # noqa: E402
from qbench.models import hf  # noqa: E402
from qbench.store import find_runs  # noqa: E402

pytestmark = pytest.mark.hf

N = 18
BATCH = 4
SIZE = (160, 120)  # a decoded image holds 160 * 120 * 3 bytes


def photos(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(N):
        name = f"p{i:02d}.jpg"
        Image.fromarray(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def a3_data(folder: Path) -> Path:
    names = photos(folder)
    data = folder / "photos.json"
    data.write_text(json.dumps([{"img_path": n, "gt_score": 1.0 + (i % 5)} for i, n in enumerate(names)]))
    return data


def a1_data(folder: Path) -> Path:
    names = photos(folder)
    items = [
        {
            "img_path": n,
            "question": ["Is the image blurry?", "How is the clarity of the image?"][i % 2],
            "candidates": [["Yes", "No"], ["High", "Medium", "Low"]][i % 2],
            "correct_ans": ["Yes", "Low"][i % 2],
            "type": i % 3,
            "concern": i % 4,
        }
        for i, n in enumerate(names)
    ]
    data = folder / "llvisionqa_dev.json"
    data.write_text(json.dumps(items))
    return data


class Watch:
    """Slows the weights down and records, for every ``prepare`` call, whether the weights were there yet."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float = 1.5) -> None:
        self.weights_loaded = threading.Event()
        self.prepared_without_weights = 0
        self.prepared_with_weights = 0
        load = transformers.AutoModelForImageTextToText.from_pretrained

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(delay)
            try:
                return load(*args, **kwargs)
            finally:
                self.weights_loaded.set()

        prepare = hf.HFModel.prepare

        def watched(model: Any, capability: str, requests: Any) -> Any:
            if self.weights_loaded.is_set():
                self.prepared_with_weights += 1
            else:
                self.prepared_without_weights += 1
            return prepare(model, capability, requests)

        monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", slow)
        monkeypatch.setattr(hf.HFModel, "prepare", watched)


def run(task: str, data: Path, out: Path, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(records by id, the run's summary). The random model's A1 replies are unreadable, which makes the run
    "unusable" (exit 3); its records are what is compared here, and they are kept."""
    task_options = {"bootstrap": "0", **({"max_new_tokens": "6"} if task == "a1" else {})}
    try:
        evaluate(
            task,
            f"hf:{tiny_models.cached('llava')}",
            data,
            out=out,
            batch_size=BATCH,
            task_options=task_options,
            progress=False,
            **options,
        )
    except UnusableRun:
        assert task == "a1"
    (done,) = find_runs([out])
    records = {rid: (r.output, r.error) for rid, r in done.records().items()}
    return records, done.manifest["summary"]


@pytest.mark.parametrize("task", ["a3", "a1"])
def test_batches_prepared_while_the_weights_load_give_the_same_records(
    task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (a3_data if task == "a3" else a1_data)(tmp_path / "data")
    watch = Watch(monkeypatch)
    overlapped, summary = run(task, data, tmp_path / "overlap", cache=False)
    stats = summary["startup"]
    assert watch.prepared_without_weights >= 1, "the processor ran before the weights were there"
    assert stats["prepared_batches"] >= 1 and stats["used_batches"] >= 1
    assert stats["decoded"] >= BATCH and stats["prepare_started_s"] is not None
    assert len(overlapped) == N and all(error is None for _, error in overlapped.values())

    # the same run with no start-up work at all: the records are identical
    monkeypatch.setattr(startup, "EARLY_MEMORY_CAP", 0)
    plain, summary = run(task, data, tmp_path / "plain", cache=False)
    assert summary["startup"]["decoded"] == 0 and summary["startup"]["prepared_batches"] == 0
    assert plain == overlapped


def test_the_memory_bound_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = a3_data(tmp_path / "data")
    image = SIZE[0] * SIZE[1] * 3
    monkeypatch.setattr(startup, "EARLY_MEMORY_CAP", 3 * image)
    Watch(monkeypatch, delay=2.0)
    records, summary = run("a3", data, tmp_path / "bounded", cache=False)
    stats = summary["startup"]
    assert stats["budget_bytes"] == 3 * image
    assert stats["decoded"] >= 1
    # a new image or batch starts only below the bound: at most the images in flight (two batches) over it
    assert stats["peak_bytes"] <= stats["budget_bytes"] + 2 * BATCH * image
    assert len(records) == N and all(error is None for _, error in records.values())


def test_cached_answers_win_over_start_up_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = a1_data(tmp_path / "data")
    first, _ = run("a1", data, tmp_path / "first")
    Watch(monkeypatch)
    again, summary = run("a1", data, tmp_path / "again")
    assert summary["cache_hits"] == N and again == first


def test_a_start_up_batch_that_fails_in_the_model_is_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = a1_data(tmp_path / "data")
    monkeypatch.setattr(startup, "EARLY_MEMORY_CAP", 0)
    expected, _ = run("a1", data, tmp_path / "plain", cache=False)
    monkeypatch.undo()

    watch = Watch(monkeypatch)
    generate = hf.HFModel._generate_encoded
    calls = []

    def fails_once(model: Any, *args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory (test)")
        return generate(model, *args)

    monkeypatch.setattr(hf.HFModel, "_generate_encoded", fails_once)
    records, summary = run("a1", data, tmp_path / "overlap", cache=False)
    assert watch.prepared_without_weights >= 1 and summary["startup"]["used_batches"] >= 1
    assert records == expected


def test_a_resumed_run_drops_start_up_work_for_finished_samples(tmp_path: Path) -> None:
    from qbench.data.dataset import LoadOptions, load_dataset

    samples = load_dataset(a3_data(tmp_path / "data"), LoadOptions()).samples
    loading = startup.StagedLoad(time.sleep, 30)  # a model that takes long and never offers its processor
    early = startup.EarlyWork(samples, 2, loading)
    deadline = time.monotonic() + 30
    while early.stats.decoded < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert early.stats.decoded >= 6
    early.keep(samples[3:])  # samples 0-2 were finished by an earlier run
    assert [early.take(s) for s in samples[:3]] == [None, None, None]
    decoded = early.take(samples[3])
    assert decoded is not None and decoded.result()[1]  # the images and their content keys
    early.close()

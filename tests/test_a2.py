"""A2 description: data formats, the request, judging, the metrics arithmetic, re-scoring and submissions.

The judge here is a scripted Python object (no server): it answers each (dimension, description) prompt from
a list of replies, so every number below can be worked out by hand.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from helpers import natural_image
from qbench.cache import ResponseCache
from qbench.data.dataset import LoadOptions, load_dataset
from qbench.data.descriptions import pair_images, read_descriptions
from qbench.errors import DataError, RunError, UsageError
from qbench.judging import JudgeIdentity, judge_records
from qbench.store import Run, load_run
from qbench.tasks import prompts
from qbench.tasks.description import DescriptionTask, read
from qbench.tasks.description_report import write_a2_submission
from qbench.types import ImageSlot, Record, Request, Text

# --- data -------------------------------------------------------------------------------------------------


def _images(folder: Path, *names: str) -> None:
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        natural_image(i, (16, 12)).save(folder / name)


def test_a_list_of_images_with_golden_descriptions(tmp_path: Path) -> None:
    items = [
        {"img_path": "a.jpg", "golden_description": "Sharp, well exposed."},
        {"img_path": "sub\\b.png", "reference": "Blurry and dark."},  # the alias, and a Windows separator
        {"img_path": "c.jpg"},  # no reference: generated, never judged
    ]
    (tmp_path / "lldescribe.json").write_text(json.dumps(items))
    dataset = load_dataset(tmp_path / "lldescribe.json")
    assert (dataset.format, dataset.kind, dataset.name) == ("describe", "describe", "lldescribe")
    a, b, c = dataset.samples
    assert a.id == "a.jpg" and a.images == (tmp_path / "a.jpg",) and a.reference == "Sharp, well exposed."
    assert (
        b.id == "sub\\b.png"
        and b.images == (tmp_path / "sub" / "b.png",)
        and b.reference == "Blurry and dark."
    )
    assert c.reference is None and c.source == "c.jpg"


def test_the_official_pair_file_gives_the_two_original_images(tmp_path: Path) -> None:
    lines = [
        {"img_path": "lldescribe_compare\\00079.jpg_cat_09769.jpg.jpg", "response": ""},
        {"img_path": "lldescribe_compare\\0a.png_cat_1b.jpg", "response": ""},
    ]
    (tmp_path / "q-bench2-a2.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "all_single_images").mkdir()
    first, second = load_dataset(tmp_path / "q-bench2-a2.jsonl").samples
    originals = tmp_path / "all_single_images"
    assert first.images == (originals / "00079.jpg", originals / "09769.jpg")
    assert first.source == lines[0]["img_path"] and first.extra["pair"] == ["00079.jpg", "09769.jpg"]
    assert second.images == (originals / "0a.png", originals / "1b.jpg")


@pytest.mark.parametrize(
    ("img_path", "expected"),
    [
        ("llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg", ("00079.jpg", "09769.jpg")),
        ("compare/a.JPG_cat_b.png.jpg", ("a.JPG", "b.png")),
        ("a.jpg_cat_b.jpg", ("a.jpg", "b.jpg")),
        ("my_cat_photo.jpg", None),  # an ordinary file name that happens to contain "_cat_"
        ("plain.jpg", None),
    ],
)
def test_pair_names(img_path: str, expected: tuple[str, str] | None) -> None:
    assert pair_images(img_path) == expected


def test_pair_originals_may_be_given_directly_with_images(tmp_path: Path) -> None:
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"img_path": "x\\a.jpg_cat_b.jpg.jpg"}) + "\n")
    (sample,) = read_descriptions(tmp_path / "pairs.jsonl", LoadOptions(images=tmp_path / "originals"))
    assert sample.images == (tmp_path / "originals" / "a.jpg", tmp_path / "originals" / "b.jpg")


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"golden_description": "x"}, "img_path", "missing"),
        ({"img_path": "a.jpg", "golden_description": 3}, "golden_description", "must be a string"),
        ({"img_path": "a.jpg", "golden_description": "x", "reference": "y"}, "reference", "differ"),
    ],
)
def test_bad_items_are_named(tmp_path: Path, item: dict, field: str, message: str) -> None:
    (tmp_path / "d.json").write_text(json.dumps([{"img_path": "ok.jpg"}, item]))
    with pytest.raises(DataError) as err:
        read_descriptions(tmp_path / "d.json", LoadOptions())
    assert (err.value.item, err.value.field) == (1, field) and message in err.value.message


def test_an_image_folder_is_every_image_sorted_by_relative_path(tmp_path: Path) -> None:
    _images(tmp_path, "b.jpg", "a.png", "nested/c.jpg", ".hidden/d.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = load_dataset(tmp_path)
    assert (dataset.format, dataset.kind) == ("image-folder", "describe")
    assert [s.id for s in dataset.samples] == ["a.png", "b.jpg", "nested/c.jpg"]
    assert dataset.samples[2].images == (tmp_path / "nested" / "c.jpg",)


def test_an_empty_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no image files"):
        load_dataset(tmp_path)


# --- the request and the output -----------------------------------------------------------------------


def test_requests_use_the_official_prompts_greedy_with_a_bounded_budget(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"img_path": "a.jpg"}) + "\n" + json.dumps({"img_path": "p\\a.jpg_cat_b.jpg.jpg"}) + "\n"
    )
    single, pair = read_descriptions(tmp_path / "d.jsonl", LoadOptions())
    task = DescriptionTask({"max_new_tokens": "200"})
    one = task.request(single, ("img",), ("k",))
    assert one.content == (ImageSlot(0), Text(prompts.A2_SINGLE)) and one.greedy and one.max_new_tokens == 200
    two = task.request(pair, ("i1", "i2"), ("k1", "k2"))
    assert two.content == (
        Text("The first image:"),
        ImageSlot(0),
        Text("The second image:"),
        ImageSlot(1),
        Text(prompts.A2_PAIR),
    )
    assert DescriptionTask().request(single, ("img",), ("k",)).max_new_tokens == 512
    assert task.output(pair, "Both are sharp.") == {
        "img_path": "p\\a.jpg_cat_b.jpg.jpg",
        "img_paths": ["a.jpg", "b.jpg"],
        "description": "Both are sharp.",
    }


def test_a2_refuses_other_data_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "mos.json").write_text(json.dumps([{"img_path": "a.jpg", "gt_score": 3}]))
    with pytest.raises(UsageError, match="needs images to describe"):
        DescriptionTask().setup("generate", load_dataset(tmp_path / "mos.json"))
    with pytest.raises(UsageError, match="judge_rounds"):
        DescriptionTask({"judge_rounds": "0"})
    with pytest.raises(UsageError, match="did you mean"):
        DescriptionTask({"judge_round": "3"})


def test_judging_without_references_is_a_usage_error(tmp_path: Path) -> None:
    _images(tmp_path, "a.jpg")
    task = DescriptionTask()
    task.setup("generate", load_dataset(tmp_path))
    with pytest.raises(UsageError, match="no reference descriptions"):
        task.set_judge(ScriptedJudge({}))
    with pytest.raises(UsageError, match="no reference descriptions"):  # stored records without references
        judge_records(
            task, [Record("a.jpg", {"img_path": "a.jpg", "description": "Sharp."})], ScriptedJudge({})
        )


# --- judging --------------------------------------------------------------------------------------------

DIMENSION_OF = {
    "completely includes": "completeness",
    "precisely reflects": "precision",
    "is relevant": "relevance",
}


class ScriptedJudge:
    """Answers each (dimension, description) prompt with the next of its scripted replies.

    A reply that is an Exception plays a failed call (returned in its slot, as API adapters do).
    """

    def __init__(self, script: dict[tuple[str, str], list[str | Exception]], name: str = "scripted-judge"):
        self.script = {key: list(replies) for key, replies in script.items()}
        self.name = name
        self.asked: Counter[tuple[str, str]] = Counter()

    def info(self) -> dict[str, str]:
        return {"kind": "test"}

    def generate(self, requests: Sequence[Request]) -> list[str | Exception]:
        out = []
        for request in requests:
            assert request.system == "You are a helpful assistant." and not request.greedy
            dimension = next(d for phrase, d in DIMENSION_OF.items() if phrase in request.text)
            description = request.text.split("[", 1)[1].split("]", 1)[0]
            self.asked[dimension, description] += 1
            out.append(self.script[dimension, description].pop(0))
        return out


def _records() -> list[Record]:
    return [
        Record(
            "a.jpg", {"img_path": "a.jpg", "reference": "Sharp and bright.", "description": "Very sharp."}
        ),
        Record(
            "b.jpg", {"img_path": "b.jpg", "reference": "Blurry, dark.", "description": "A cat on a sofa."}
        ),
    ]


# completeness pools 9 valid rounds (one unparsable): P0 1/9, P1 5/9, P2 3/9 -> 11/9. Averaging per-image
# means instead would give (1.2 + 1.25) / 2 = 1.225: the pooled rule is the official table's arithmetic.
SCRIPT: dict[tuple[str, str], list[str | Exception]] = {
    ("completeness", "Very sharp."): ["Score: 2", "Score: 2", "Score: 1", "score:1", "**Score:** 0"],
    ("completeness", "A cat on a sofa."): ["Score: 2", "Score: 1", "Score: 1", "Score: 1", "I cannot tell."],
    ("precision", "Very sharp."): ["Score: 2"] * 5,
    ("precision", "A cat on a sofa."): ["Score: 2"] * 5,
    ("relevance", "Very sharp."): ["Score: 1"] * 5,
    ("relevance", "A cat on a sofa."): ["Score: 0"] * 5,
}


def test_metrics_pool_all_valid_rounds_and_drop_unparsable_ones() -> None:
    task = DescriptionTask()
    judged = judge_records(task, _records(), ScriptedJudge(SCRIPT))
    metrics = task.metrics("lldescribe", judged)
    assert metrics["completeness"] == pytest.approx(11 / 9)
    p = [metrics[f"completeness/p{k}"] for k in range(3)]
    assert p == pytest.approx([1 / 9, 5 / 9, 3 / 9]) and metrics["completeness/valid_rounds"] == 9
    assert metrics["precision"] == 2.0 and metrics["relevance"] == 0.5
    assert metrics["sum"] == pytest.approx(11 / 9 + 2.0 + 0.5)
    assert (metrics["judge_unparsable"], metrics["judge_failed_calls"], metrics["judge_rounds_total"]) == (
        1,
        0,
        30,
    )
    assert metrics["judge_failure_rate"] == pytest.approx(1 / 30)
    assert (metrics["n"], metrics["n_judged"]) == (2, 2)
    verdict = read(judged[1]).verdict
    assert verdict is not None and verdict.judge is not None
    assert (
        verdict.replies["completeness"][4] == "I cannot tell." and verdict.scores["completeness"][4] is None
    )
    assert verdict.judge == JudgeIdentity(
        name="scripted-judge", fingerprint=verdict.judge.fingerprint, version="a2-judge-v1", rounds=5
    )
    assert JudgeIdentity.from_json(task.manifest()["judge"]) == verdict.judge


def test_a_judged_record_is_returned_unchanged_and_costs_nothing() -> None:
    task = DescriptionTask()
    judge = ScriptedJudge(SCRIPT)
    judged = judge_records(task, _records(), judge)
    again = judge_records(task, judged, judge)
    assert all(new is old for new, old in zip(again, judged)) and sum(judge.asked.values()) == 30


def test_failed_calls_are_counted_then_only_they_are_asked_again(tmp_path: Path) -> None:
    script = {key: list(replies) for key, replies in SCRIPT.items()}
    script["precision", "Very sharp."][3] = TimeoutError("judge timed out")
    task = DescriptionTask()
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = judge_records(task, _records(), ScriptedJudge(script), cache)
    metrics = task.metrics("d", first)
    assert metrics["judge_failed_calls"] == 1 and metrics["judge_failure_rate"] == pytest.approx(2 / 30)
    assert metrics["precision/valid_rounds"] == 9  # the failed round is dropped, not scored as 0
    retry = ScriptedJudge({("precision", "Very sharp."): ["Score: 1"]})  # same identity: name and info
    second = judge_records(task, first, retry, cache)
    assert sum(retry.asked.values()) == 1 and second[1] is first[1]
    assert read(second[0]).verdict.scores["precision"] == [2, 2, 2, 1, 2]  # type: ignore[union-attr]
    assert read(second[0]).previous_verdicts == ()  # a completed judging, not a second opinion


def test_another_judge_keeps_the_first_verdict_and_every_description() -> None:
    task = DescriptionTask()
    first = judge_records(task, _records(), ScriptedJudge(SCRIPT))
    other = ScriptedJudge({key: ["Score: 0"] * 5 for key in SCRIPT}, name="other-judge")
    second = judge_records(task, first, other)
    for old, new in zip(first, second):
        assert new.output["description"] == old.output["description"]
        assert read(new).previous_verdicts == (read(old).verdict,)
        assert read(new).verdict.judge.name == "other-judge"  # type: ignore[union-attr]
    assert task.metrics("d", second)["sum"] == 0.0
    task.restore_judge({"judge": read(first[0]).verdict.judge.to_json()})  # type: ignore[union-attr]  # metrics follow the current judge
    assert task.metrics("d", second)["sum"] == pytest.approx(11 / 9 + 2.5)


def test_rounds_are_an_option() -> None:
    task = DescriptionTask({"judge_rounds": "2"})
    judge = ScriptedJudge({key: list(replies) for key, replies in SCRIPT.items()})
    metrics = task.metrics("d", judge_records(task, _records(), judge))
    assert sum(judge.asked.values()) == 12 and metrics["judge_rounds_total"] == 12
    assert metrics["completeness"] == pytest.approx((2 + 2 + 2 + 1) / 4)


def test_rescore_reads_the_stored_replies_again() -> None:
    task = DescriptionTask()
    judged = judge_records(task, _records(), ScriptedJudge(SCRIPT))
    output = json.loads(json.dumps(judged[0].output))  # as stored, then damaged by an "old parser"
    output["verdict"]["scores"] = {d: [0] * 5 for d in output["verdict"]["scores"]}
    stale = Record("a.jpg", output)
    (fixed,) = task.rescore([stale])
    assert fixed.output["verdict"]["scores"] == judged[0].output["verdict"]["scores"]
    assert (
        fixed.output["description"] == "Very sharp."
        and stale.output["verdict"]["scores"]["precision"] == [0] * 5
    )
    assert task.rescore([judged[1]])[0] is judged[1]  # nothing to fix: the same record


def test_without_a_judge_only_the_descriptions_are_summarised() -> None:
    records = [Record("a", {"description": "Sharp and bright photo."}), Record("b", {"description": ""})]
    metrics = DescriptionTask().metrics("d", records)
    assert metrics == {"n": 2, "description_words": 2.0, "empty_descriptions": 1, "n_judged": 0}


def test_bootstrap_intervals_resample_images() -> None:
    records = [
        Record(f"{i}.jpg", {"img_path": f"{i}.jpg", "reference": "ref", "description": f"d{i}"})
        for i in range(6)
    ]
    script: dict[tuple[str, str], list[str | Exception]] = {}
    for i in range(6):
        for dimension in ("completeness", "precision", "relevance"):
            script[dimension, f"d{i}"] = [f"Score: {i % 3}"] * 5
    task = DescriptionTask({"bootstrap": "200"})
    metrics = task.metrics("d", judge_records(task, records, ScriptedJudge(script)))
    low, high = metrics["sum_ci"]
    assert metrics["sum"] == pytest.approx(3.0) and low < metrics["sum"] < high
    assert all(len(metrics[f"{d}_ci"]) == 2 for d in ("completeness", "precision", "relevance"))
    assert "sum_ci" not in DescriptionTask({"bootstrap": "0"}).metrics(
        "d", judge_records(task, records, ScriptedJudge(script))
    )


def test_a_judge_that_answers_nothing_stops_the_run_instead_of_reporting_nans() -> None:
    broken = ScriptedJudge({key: [ConnectionError("refused")] * 5 for key in SCRIPT})
    with pytest.raises(RunError, match="every one of 30 calls to the judge scripted-judge failed"):
        judge_records(DescriptionTask(), _records(), broken)


# --- submission ---------------------------------------------------------------------------------------


def _stored_run(path: Path, records: list[Record], status: str = "complete") -> Run:
    run = Run.open(
        path, {"task": "a2", "model": "hf:/models/tiny", "dataset": "q-bench2-a2", "fingerprint": "f"}
    )
    run.append(records)
    if status == "complete":
        run.finish({"n": len(records)})
    run.close()
    return load_run(path)


def test_pairs_are_submitted_as_the_official_jsonl_with_responses_filled(tmp_path: Path) -> None:
    names = ["cmp\\a.jpg_cat_b.jpg.jpg", "cmp\\c.jpg_cat_d.jpg.jpg"]
    records = [  # stored out of order, as a merged shard run is; "index" is the position in the data file
        Record(n, {"index": i, "img_path": n, "img_paths": ["x", "y"], "description": f" Pair {i}.\n"})
        for i, n in reversed(list(enumerate(names)))
    ]
    written = write_a2_submission(_stored_run(tmp_path / "run", records), f"{tmp_path / 'out'}/")
    assert written == tmp_path / "out" / "hf-tiny_q-bench2-a2_a2.jsonl"
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert lines == [
        {"img_path": names[0], "response": "Pair 0."},
        {"img_path": names[1], "response": "Pair 1."},
    ]


def test_singles_are_submitted_as_a_json_list(tmp_path: Path) -> None:
    records = [Record("a.jpg", {"img_path": "a.jpg", "description": "Sharp."})]
    written = write_a2_submission(_stored_run(tmp_path / "run", records), tmp_path / "mine.json")
    assert json.loads(written.read_text()) == [{"img_path": "a.jpg", "response": "Sharp."}]


def test_an_unfinished_run_is_not_submitted(tmp_path: Path) -> None:
    run = _stored_run(tmp_path / "run", [Record("a.jpg", {}, error="boom")], status="running")
    with pytest.raises(RunError, match="not complete"):
        write_a2_submission(run)

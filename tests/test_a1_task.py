"""The A1 task on its own: exact prompts, reading replies, the options mode, metrics, the judge and re-scoring."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from qbench.cache import ResponseCache
from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.judging import judge_records
from qbench.tasks import prompts
from qbench.tasks.answers import RULES_VERSION
from qbench.tasks.judge import A1_JUDGE_SYSTEM, A1_JUDGE_VERSION
from qbench.tasks.perception import PerceptionTask, a1_metrics, choose_by_loss, read
from qbench.types import ImageSlot, Record, Request, Sample, Text

LIGHTING = Sample(
    id="0",
    images=(Path("building.jpg"),),
    question="How is the lighting of this building?",
    options=("High", "Low", "Medium"),
    answer="B",
    qtype=2,
    concern=3,
    source="building.jpg",
    extra={"pair": False, "lang": "en"},
)
CLARITY_PAIR = Sample(
    id="0",
    images=(Path("a.jpg"), Path("b.jpg")),
    question="Compared to the first image, how is the clarity of the second image?",
    options=("More blurry", "Clearer", "About the same"),
    answer="B",
    qtype=2,
    concern=0,
    source="llvisionqa_compare_dev\\a.jpg_cat_b.jpg.jpg",
    extra={"pair": True, "lang": "en"},
)
BLURRY_ZH = Sample(
    id="0",
    images=(Path("x.jpg"),),
    question="这张图片模糊吗？",
    options=("是", "否"),
    answer="A",
    qtype=0,
    concern=0,
    extra={"pair": False, "lang": "zh"},
)


def dataset_of(*samples: Sample, kind: str = "mcq") -> Dataset:
    return Dataset(name="toy", samples=samples, format="llvisionqa", kind=kind)


def ready(task: PerceptionTask, *samples: Sample, capability: str = "generate") -> PerceptionTask:
    task.setup(capability, dataset_of(*samples))
    return task


# --- the prompt snapshots (protocol 1.5, 2.4, 8.1) -----------------------------------------------------------


def test_single_prompt_is_the_official_text() -> None:
    request = ready(PerceptionTask(), LIGHTING).request(LIGHTING, ("img",), ("key",))
    assert request.content == (
        ImageSlot(0),
        Text(
            "How is the lighting of this building?\n"
            "Choose between one of the options as follows:\n"
            "A. High\n"
            "B. Low\n"
            "C. Medium\n"
        ),
    )
    assert request.max_new_tokens == 1024 and request.greedy and request.options == ()


def test_pair_prompt_labels_both_images_in_order() -> None:
    request = ready(PerceptionTask(), CLARITY_PAIR).request(CLARITY_PAIR, ("first", "second"), ("k1", "k2"))
    assert request.content == (
        Text("The first image:"),
        ImageSlot(0),
        Text("The second image:"),
        ImageSlot(1),
        Text(
            "Compared to the first image, how is the clarity of the second image?\n"
            "Choose between one of the options as follows:\n"
            "A. More blurry\n"
            "B. Clearer\n"
            "C. About the same\n"
        ),
    )


def test_chinese_prompt_uses_the_chinese_instruction() -> None:
    task = ready(PerceptionTask(), BLURRY_ZH)
    assert task.request(BLURRY_ZH, ("img",), ("key",)).content == (
        ImageSlot(0),
        Text("这张图片模糊吗？\n在下列选项中选择一个:\nA. 是\nB. 否\n"),
    )
    assert task.manifest()["lang"] == "zh"


def test_options_mode_shows_no_options_and_asks_for_their_losses() -> None:
    task = ready(PerceptionTask({"mode": "options"}), LIGHTING, capability="score_options")
    request = task.request(LIGHTING, ("img",), ("key",))
    assert request.content == (
        ImageSlot(0),
        Text("How is the lighting of this building?\nChoose between one of the options as follows:\n"),
    )
    assert request.options == ("High", "Low", "Medium")


# --- modes and options ---------------------------------------------------------------------------------------


def test_mode_decides_what_the_task_needs() -> None:
    assert PerceptionTask().needs == ("generate", "score_options")  # generate when the model can
    assert PerceptionTask({"mode": "generate"}).needs == ("generate",)
    assert PerceptionTask({"mode": "options"}).needs == ("score_options",)
    with pytest.raises(UsageError, match="must be one of: generate, options"):
        PerceptionTask({"mode": "ppl"})
    with pytest.raises(UsageError, match="did you mean 'max_new_tokens'"):
        PerceptionTask({"max_tokens": "5"})
    assert PerceptionTask({"max_new_tokens": "16"}).max_new_tokens == 16


def test_setup_refuses_data_that_is_not_multiple_choice() -> None:
    with pytest.raises(UsageError, match="task a1 needs multiple-choice questions"):
        PerceptionTask().setup("generate", dataset_of(Sample(id="a", images=(), mos=1.0), kind="iqa"))


def test_manifest_names_every_version() -> None:
    info = ready(PerceptionTask(), LIGHTING).manifest()
    assert info == {
        "task": "a1",
        "mode": "generate",
        "capability": "generate",
        "prompt_version": prompts.A1_PROMPT_VERSION,
        "rules_version": RULES_VERSION,
        "lang": "en",
        "pair": False,
        "max_new_tokens": 1024,
        "metric_options": {"bootstrap": 1000},  # it changes metrics.json, so it is part of the identity
    }


# --- reading replies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "letter", "rule", "correct"),
    [
        ("B", "B", "leading-letter", True),
        ("B. Low", "B", "leading-letter", True),
        ("The lighting of the building is low.", "B", "option-text", True),
        ("The answer is (C).", "C", "explicit", False),
        ("D", None, "letter-not-an-option", False),  # three options: a D is unreadable, not a guess
        ("I cannot tell.", None, "unreadable", False),
        ("", None, "empty", False),
    ],
)
def test_replies_are_read_with_the_extraction_rules(
    reply: str, letter: str | None, rule: str, correct: bool
) -> None:
    out = ready(PerceptionTask(), LIGHTING).output(LIGHTING, reply)
    assert (out["letter"], out["rule"], out["correct"]) == (letter, rule, correct)
    assert out["response"] == reply and out["img_path"] == "building.jpg" and out["answer"] == "B"


def test_hidden_answer_gives_no_correctness() -> None:
    hidden = Sample(**{**LIGHTING.__dict__, "answer": None})
    out = ready(PerceptionTask(), hidden).output(hidden, "B")
    assert out["letter"] == "B" and out["correct"] is None


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([2.5, 0.7, 1.1], ("B", "argmin-loss")),
        ([0.7, 0.7, 1.1], (None, "tied-loss")),  # a tie is no answer, never a coin flip
        ([0.1, math.nan, 1.1], (None, "non-finite-loss")),
    ],
)
def test_options_mode_picks_the_lowest_loss(losses: list[float], expected: tuple[str | None, str]) -> None:
    assert choose_by_loss(losses, 3) == expected


def test_options_mode_output_keeps_the_losses() -> None:
    task = ready(PerceptionTask({"mode": "options"}), LIGHTING, capability="score_options")
    out = task.output(LIGHTING, [2.5, 0.7, 1.1])
    assert out["losses"] == [2.5, 0.7, 1.1] and out["letter"] == "B" and out["correct"] is True
    with pytest.raises(ValueError, match="expected 3 losses"):
        task.output(LIGHTING, [0.1, 0.2])


# --- metrics -------------------------------------------------------------------------------------------------


def record(
    i: int, qtype: int, concern: int, letter: str | None, answer: str | None = "A", pair: bool = False
) -> Record:
    rule = "leading-letter" if letter else "unreadable"
    fields = {
        "qtype": qtype,
        "concern": concern,
        "letter": letter,
        "answer": answer,
        "pair": pair,
        "rule": rule,
    }
    return Record(str(i), fields)


def test_single_image_columns_by_hand() -> None:
    # (type, concern, right?)  yes-no: 2/3; what: 1/2; how: 0/1; distortion (0): 2/2; other (1): 0/2;
    # in-context distortion (2): 1/1; in-context other (3): 0/1; overall 3/6; one unreadable reply.
    records = [
        record(0, 0, 0, "A"),
        record(1, 0, 0, "A"),
        record(2, 0, 1, "B"),
        record(3, 1, 1, None),
        record(4, 1, 2, "A"),
        record(5, 2, 3, "C"),
    ]
    metrics = a1_metrics(records, resamples=0)
    assert metrics == {
        "n": 6,
        "n_scored": 6,
        "invalid_rate": 1 / 6,
        "rule/leading-letter": 5,
        "rule/unreadable": 1,
        "accuracy": 3 / 6,
        "accuracy/yes-no": 2 / 3,
        "accuracy/what": 1 / 2,
        "accuracy/how": 0.0,
        "accuracy/distortion": 1.0,
        "accuracy/other": 0.0,
        "accuracy/in-context-distortion": 1.0,
        "accuracy/in-context-other": 0.0,
    }


def test_pair_columns_group_the_concerns() -> None:
    # concern 0 dist/compare: right, 1 dist/joint: wrong, 2 other/compare: right, 3 other/joint: right.
    records = [record(0, 0, 0, "A", pair=True), record(1, 0, 1, "B", pair=True)]
    records += [record(2, 1, 2, "A", pair=True), record(3, 2, 3, "A", pair=True)]
    metrics = a1_metrics(records, resamples=0)
    assert metrics["accuracy"] == 0.75
    assert (metrics["accuracy/distortion"], metrics["accuracy/other"]) == (0.5, 1.0)
    assert (metrics["accuracy/compare"], metrics["accuracy/joint"]) == (1.0, 0.5)
    assert "accuracy/in-context-distortion" not in metrics


def test_an_empty_column_is_nan_so_every_run_has_the_same_keys() -> None:
    metrics = a1_metrics([record(0, 0, 0, "A"), record(1, 0, 0, "B")], resamples=0)
    assert math.isnan(metrics["accuracy/what"]) and metrics["accuracy/yes-no"] == 0.5


def test_hidden_answers_report_only_n_and_invalid_rate() -> None:
    metrics = a1_metrics([record(0, 0, 0, "A", answer=None), record(1, 1, 1, None, answer=None)])
    assert metrics == {
        "n": 2,
        "n_scored": 0,
        "invalid_rate": 0.5,
        "rule/leading-letter": 1,
        "rule/unreadable": 1,
    }


def test_accuracy_interval_is_seeded() -> None:
    records = [record(i, i % 3, i % 4, "A" if i % 3 else "B") for i in range(30)]
    first, again = a1_metrics(records), a1_metrics(records)
    low, high = first["accuracy_ci"]
    assert first["accuracy_ci"] == again["accuracy_ci"] and low < first["accuracy"] < high


# --- the judge (protocol 1.6, 8.5) ----------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    store = ResponseCache(tmp_path / "cache.sqlite")
    yield store
    store.close()


class ScriptedJudge:
    """A judge that says 1 when the reply contains the correct option's text, else 0; "???" rounds are invalid."""

    def __init__(self, name: str = "judge-a", unparsable_rounds: int = 0) -> None:
        self.name = name
        self.calls: list[Request] = []
        self.unparsable_rounds = unparsable_rounds

    def info(self) -> dict[str, Any]:
        return {"kind": "scripted", "name": self.name}

    def generate(self, requests: Sequence[Request]) -> list[str]:
        out = []
        for request in requests:
            self.calls.append(request)
            text = request.text
            if sum(r.text == text for r in self.calls) <= self.unparsable_rounds:
                out.append("???")
                continue
            correct = text.split("with option [")[1].split("]")[0].split(". ", 1)[1]
            reply = text.split("there will be an answer [")[1].split("] provided")[0]
            out.append(f"Result: {int(correct.lower() in reply.lower())}")
        return out


def generated_records(task: PerceptionTask) -> list[Record]:
    hidden = Sample(**{**LIGHTING.__dict__, "id": "2", "answer": None})
    return [
        Record("0", task.output(LIGHTING, "The lighting is low.")),
        Record("1", task.output(Sample(**{**LIGHTING.__dict__, "id": "1"}), "It looks high to me.")),
        Record("2", task.output(hidden, "B")),
    ]


def test_judge_votes_five_rounds_and_keeps_every_reply(cache: ResponseCache) -> None:
    task = ready(PerceptionTask(), LIGHTING)
    judge = ScriptedJudge()
    task.set_judge(judge)
    judged = judge_records(task, generated_records(task), judge, cache)
    assert len(judge.calls) == 10  # two answerable items x 5 rounds; the hidden one cannot be judged
    first = read(judged[0])
    assert first.verdict is not None
    assert first.verdict.replies["result"] == ["Result: 1"] * 5 and first.verdict.scores["result"] == [1] * 5
    assert first.judged_correct() is True
    assert read(judged[1]).judged_correct() is False and read(judged[2]).verdict is None
    assert judge.calls[0].system == A1_JUDGE_SYSTEM and not judge.calls[0].greedy
    assert "[B. Low, A. High, C. Medium]" in judge.calls[0].text  # the correct option first (protocol 1.6)
    metrics = task.metrics("toy", judged)
    assert (
        metrics["judged/accuracy"] == 0.5 and metrics["judged/n"] == 2 and metrics["judged/agreement"] == 1.0
    )
    info = task.manifest()
    assert info["judge"]["model"] == "judge-a" and info["judge_version"] == A1_JUDGE_VERSION

    # Judged again by the same judge: nothing to do. Another judge: judged again (its own key and rounds).
    assert judge_records(task, judged, judge, cache) == judged and len(judge.calls) == 10
    other = ScriptedJudge("judge-b")
    task.set_judge(other)
    again = judge_records(task, judged, other, cache)
    assert len(other.calls) == 10 and again[0].output["verdict"]["judge"]["name"] == "judge-b"


def test_unparsable_rounds_can_leave_an_item_undecided(cache: ResponseCache) -> None:
    task = ready(PerceptionTask({"judge_rounds": "5"}), LIGHTING)
    judge = ScriptedJudge(unparsable_rounds=3)  # 3 invalid rounds, 2 ones: neither 3 ones nor a sure "no"
    task.set_judge(judge)
    judged = judge_records(task, generated_records(task)[:1], judge, cache)
    verdict = read(judged[0])
    assert verdict.verdict is not None and verdict.verdict.scores["result"] == [None, None, None, 1, 1]
    assert verdict.judged_correct() is None
    metrics = task.metrics("toy", judged)
    assert metrics["judged/accuracy"] == 0.0 and metrics["judged/undecided_rate"] == 1.0
    assert metrics["judged/invalid_round_rate"] == 0.6


def test_judge_is_refused_in_options_mode() -> None:
    task = ready(PerceptionTask({"mode": "options"}), LIGHTING, capability="score_options")
    with pytest.raises(UsageError, match="options mode has none"):
        task.set_judge(ScriptedJudge())


# --- re-scoring ------------------------------------------------------------------------------------------------


def test_rescore_reads_the_stored_replies_again() -> None:
    task = ready(PerceptionTask(), LIGHTING)
    stale = Record(
        "0", {**task.output(LIGHTING, "Low."), "letter": None, "rule": "unreadable", "correct": False}
    )
    fresh = task.rescore([stale])[0]
    assert (fresh.output["letter"], fresh.output["rule"], fresh.output["correct"]) == (
        "B",
        "option-text",
        True,
    )
    assert fresh.output["response"] == "Low."


def test_restore_judge_reports_the_runs_own_verdicts(cache: ResponseCache) -> None:
    task = ready(PerceptionTask(), LIGHTING)
    judge = ScriptedJudge()
    task.set_judge(judge)
    judged = judge_records(task, generated_records(task), judge, cache)
    later = PerceptionTask()  # as `qbench score` builds it, without a judge
    later.restore_judge(task.manifest())
    assert later.metrics("toy", later.rescore(judged))["judged/accuracy"] == 0.5

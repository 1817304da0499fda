"""A1 from the command line: import saved replies, run models, judge, validate data, export submissions.

The expected accuracies are computed by hand in the tables below: one row per item, with the reply, the
letter the extraction rules read from it (protocol 8.4) and whether that is right.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from qbench.cli import main
from qbench.store import find_runs
from qbench.tasks.perception import read
from qbench.types import ImageSlot, Request, Text

YES_NO = ["Yes", "No"]

# Single images. Columns: type, concern, candidates, correct_ans, reply; then, in the comment, the letter the
# rules read and whether it is right.
# fmt: off
SINGLE = [
    (0, 0, YES_NO, "Yes", "A"),                                                                  # A  right
    (0, 1, YES_NO, "No", "Yes, it is."),                                                         # A  wrong
    (0, 2, YES_NO, "No", "B. No"),                                                               # B  right
    (1, 0, ["Noise", "Blur", "Overexposure", "Underexposure"], "Blur", "The answer is (B)."),     # B  right
    (1, 3, ["Red", "Green", "Blue"], "Green", "I am not sure."),                                 # -  unreadable
    (2, 1, ["High", "Low", "Medium"], "Low", "C"),                                               # C  wrong
    (2, 2, ["Clear", "Blurry", "Very blurry"], "Very blurry", "It is very blurry."),             # C  right
    (2, 3, ["Warm", "Cool"], "Warm", "D"),                                                       # -  not an option
]
# fmt: on
# yes-no 2/3, what 1/2, how 1/3; distortion (0) 2/2, other (1) 0/2, in-context distortion (2) 2/2,
# in-context other (3) 0/2; overall 4/8; unreadable 2/8.
SINGLE_EXPECTED = {
    "accuracy": 0.5,
    "accuracy/yes-no": 2 / 3,
    "accuracy/what": 0.5,
    "accuracy/how": 1 / 3,
    "accuracy/distortion": 1.0,
    "accuracy/other": 0.0,
    "accuracy/in-context-distortion": 1.0,
    "accuracy/in-context-other": 0.0,
    "invalid_rate": 0.25,
}

# Pairs, the same columns.
# fmt: off
PAIRS = [
    (2, 0, ["More blurry", "Clearer", "About the same"], "Clearer", "B"),                        # B  right
    (0, 1, YES_NO, "No", "Yes"),                                                                 # A  wrong
    (1, 2, ["The first image", "The second image"], "The second image", "The second image."),    # B  right
    (0, 3, YES_NO, "Yes", "A."),                                                                 # A  right
    (1, 0, ["Noise", "Blur", "Overexposure"], "Noise", "Blur"),                                  # B  wrong
    (2, 1, ["Both", "Neither", "Only one"], "Neither", ""),                                       # -  empty
]
# fmt: on
# yes-no 1/2, what 1/2, how 1/2; distortion {0,1} 1/4, other {2,3} 2/2, compare {0,2} 2/3, joint {1,3} 1/3;
# overall 3/6; unreadable 1/6.
PAIR_EXPECTED = {
    "accuracy": 0.5,
    "accuracy/yes-no": 0.5,
    "accuracy/what": 0.5,
    "accuracy/how": 0.5,
    "accuracy/distortion": 0.25,
    "accuracy/other": 1.0,
    "accuracy/compare": 2 / 3,
    "accuracy/joint": 1 / 3,
    "invalid_rate": 1 / 6,
}


def single_items() -> list[dict[str, Any]]:
    return [
        {
            "type": t,
            "concern": c,
            "question": f"Question {i} about the single image?",
            "img_path": f"img_{i}.png",
            "candidates": list(cands),
            "correct_ans": answer,
        }
        for i, (t, c, cands, answer, _) in enumerate(SINGLE)
    ]


def pair_items() -> list[dict[str, Any]]:
    return [
        {
            "type": t,
            "concern": c,
            "question": f"Question {i} about the two images?",
            "img_path": f"llvisionqa_compare_dev\\p{i}a.png_cat_p{i}b.png.jpg",
            "candidates": list(cands),
            "correct_ans": answer,
            "correct_choice": "ABCD"[cands.index(answer)],
        }
        for i, (t, c, cands, answer, _) in enumerate(PAIRS)
    ]


def write_images(folder: Path, names: Sequence[str]) -> None:
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20 + i, 12), (40 * i % 256, 90, 200)).save(folder / name)


def single_file(folder: Path, name: str = "llvisionqa_dev.json", *, hidden: bool = False) -> Path:
    items = single_items()
    if hidden:
        for item in items:
            del item["correct_ans"]
    write_images(folder, [item["img_path"] for item in items])
    path = folder / name
    path.write_text(json.dumps(items, indent=1))
    return path


def pair_file(folder: Path) -> Path:
    items = pair_items()
    write_images(folder, [f"all_single_images/p{i}{side}.png" for i in range(len(items)) for side in "ab"])
    path = folder / "q-bench2-a1-dev.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def qbench(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def report_rows(capsys: pytest.CaptureFixture[str], runs: Path) -> list[dict[str, Any]]:
    code, out, err = qbench(capsys, "report", runs, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def assert_metrics(metrics: dict[str, Any], expected: dict[str, float]) -> None:
    assert {k: metrics[k] for k in expected} == pytest.approx(expected)


# --- qbench import a1 ----------------------------------------------------------------------------------------


def test_import_single_replies_gives_the_hand_computed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = [dict(item, response=reply) for item, (*_, reply) in zip(single_items(), SINGLE)]
    path = tmp_path / "llava_llvisionqa_dev_answers.json"
    path.write_text(json.dumps(saved))
    code, _, err = qbench(capsys, "import", "a1", path, "--model", "llava-v1.5", "--out", tmp_path / "runs")
    assert code == 0, err
    (row,) = report_rows(capsys, tmp_path / "runs")
    assert (row["task"], row["model"], row["dataset"], row["split"], row["n"]) == (
        "a1",
        "llava-v1.5",
        "llvisionqa",
        "dev",
        8,
    )
    assert_metrics(row["metrics"], SINGLE_EXPECTED)
    code, markdown, _ = qbench(capsys, "report", tmp_path / "runs", "--format", "md")
    header = (
        "| Model | Yes-or-No | What | How | Distortion | Other | In-context Distortion | In-context Other |"
    )
    assert (
        header in markdown and "| 66.67 | 50.00 | 33.33 | 100.00 | 0.00 | 100.00 | 0.00 | 50.00 |" in markdown
    )


def test_import_pair_jsonl_gives_the_hand_computed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pairs_dev.jsonl"
    path.write_text(
        "".join(json.dumps(dict(item, response=p[-1])) + "\n" for item, p in zip(pair_items(), PAIRS))
    )
    code, _, err = qbench(capsys, "import", "a1", path, "--model", "owl", "--out", tmp_path / "runs")
    assert code == 0, err
    (row,) = report_rows(capsys, tmp_path / "runs")
    assert row["dataset"] == "qbench2" and row["n"] == 6
    assert_metrics(row["metrics"], PAIR_EXPECTED)


def test_import_replies_without_questions_matched_to_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = single_file(tmp_path)
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps({"id": i, "response": r[-1]}) + "\n" for i, r in enumerate(SINGLE)))
    code, _, err = qbench(
        capsys, "import", "a1", replies, "--model", "m", "--data", data, "--out", tmp_path / "runs"
    )
    assert code == 0, err
    (row,) = report_rows(capsys, tmp_path / "runs")
    assert row["dataset"] == "llvisionqa_dev" and row["split"] == "dev"
    assert_metrics(row["metrics"], SINGLE_EXPECTED)

    code, _, err = qbench(capsys, "import", "a1", replies, "--model", "m", "--out", tmp_path / "runs2")
    assert code == 2 and "pass the question file with --data" in err


def test_import_keeps_the_first_of_repeated_items(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = [dict(item, response=reply) for item, (*_, reply) in zip(single_items(), SINGLE)]
    path = tmp_path / "answers.json"
    path.write_text(json.dumps([*saved, dict(saved[1], response="B")]))  # a re-run appended item 1 again
    code, _, err = qbench(capsys, "import", "a1", path, "--model", "m", "--out", tmp_path / "runs")
    assert code == 0, err
    (run,) = find_runs([tmp_path / "runs"])
    assert run.manifest["duplicates"] == 1 and run.metrics()["n"] == 8
    assert_metrics(run.metrics(), SINGLE_EXPECTED)


def test_import_names_a_missing_reply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(single_items()))
    code, _, err = qbench(capsys, "import", "a1", path, "--model", "m", "--out", tmp_path / "runs")
    assert code == 2
    assert err.startswith(f"error: {path}: item 0: field 'response': no saved reply (found keys: ")


# --- qbench run a1 ----------------------------------------------------------------------------------------------


def test_random_model_runs_in_options_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = single_file(tmp_path)
    code, out, err = qbench(
        capsys, "run", "a1", "--model", "random", "--data", data, "--out", tmp_path / "runs"
    )
    assert code == 0, err
    (run,) = find_runs([tmp_path / "runs"])
    assert run.manifest["task_info"]["mode"] == "options" and run.status == "complete"
    records = run.records()
    assert len(records) == 8 and all(
        len(r.output["losses"]) == len(r.output["options"]) for r in records.values()
    )
    right = sum(r.output["letter"] == r.output["answer"] for r in records.values())
    assert run.metrics()["accuracy"] == right / 8 and run.metrics()["invalid_rate"] == 0.0

    code, out, err = qbench(
        capsys, "run", "a1", "--model", "random", "--data", data, "--out", tmp_path / "runs"
    )
    assert code == 0 and "8 already done" in out  # the same command resumes


class ScriptedModel:
    """A user's own model (``py:test_a1_cli:ScriptedModel``): replies from the tables above, by question."""

    name = "scripted"
    seen: ClassVar[list[Request]] = []

    def generate(self, requests: Sequence[Request]) -> list[str]:
        replies = {item["question"]: row[-1] for item, row in zip(single_items(), SINGLE)}
        replies |= {item["question"]: row[-1] for item, row in zip(pair_items(), PAIRS)}
        ScriptedModel.seen.extend(requests)
        # The question is the first line of the last text part (after the images and their labels).
        return [replies[request.content[-1].text.split("\n")[0]] for request in requests]  # type: ignore[union-attr]


def test_python_model_replies_are_extracted_and_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ScriptedModel.seen.clear()
    data = single_file(tmp_path)
    args = (
        "run",
        "a1",
        "--model",
        "py:test_a1_cli:ScriptedModel",
        "--data",
        data,
        "--out",
        tmp_path / "runs",
    )
    code, _, err = qbench(capsys, *args)
    assert code == 0, err
    (run,) = find_runs([tmp_path / "runs"])
    assert_metrics(run.metrics(), SINGLE_EXPECTED)  # the same numbers as importing the same replies
    first = ScriptedModel.seen[0]
    assert (
        first.text
        == "Question 0 about the single image?\nChoose between one of the options as follows:\nA. Yes\nB. No\n"
    )
    assert len(first.images) == 1 and first.images[0].size == (20, 12)
    assert run.records()["1"].output["response"] == "Yes, it is."


def test_python_model_on_pairs_sees_both_images_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ScriptedModel.seen.clear()
    data = pair_file(tmp_path)
    args = (
        "run",
        "a1",
        "--model",
        "py:test_a1_cli:ScriptedModel",
        "--data",
        data,
        "--out",
        tmp_path / "runs",
    )
    code, _, err = qbench(capsys, *args)
    assert code == 0, err
    (run,) = find_runs([tmp_path / "runs"])
    assert_metrics(run.metrics(), PAIR_EXPECTED)
    first = next(r for r in ScriptedModel.seen if "Question 0 " in r.text)
    assert [im.size for im in first.images] == [(20, 12), (21, 12)]  # p0a.png, then p0b.png
    assert first.content[:4] == (
        Text("The first image:"),
        ImageSlot(0),
        Text("The second image:"),
        ImageSlot(1),
    )


class ScriptedJudge:
    """``py:test_a1_cli:ScriptedJudge``: 1 when the reply names the correct option's text or letter."""

    name = "scripted-judge"

    def generate(self, requests: Sequence[Request]) -> list[str]:
        out = []
        for request in requests:
            letter, text = request.text.split("with option [")[1].split("]")[0].split(". ", 1)
            reply = request.text.split("there will be an answer [")[1].split("] provided")[0]
            out.append(f"Result: {int(text.lower() in reply.lower() or reply.startswith(letter))}")
        return out


def test_judge_adds_judged_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = single_file(tmp_path)
    model = "py:test_a1_cli:ScriptedModel"
    judge = "py:test_a1_cli:ScriptedJudge"
    code, _, err = qbench(
        capsys, "run", "a1", "--model", model, "--judge", judge, "--data", data, "-o", tmp_path / "r"
    )
    assert code == 0, err
    (run,) = find_runs([tmp_path / "r"])
    metrics = run.metrics()
    # This naive judge accepts items 0 ("A"), 2 ("B. No") and 6 ("very blurry") but not item 3, "The answer
    # is (B).", which the extraction rules read as right: 3/8 judged, agreeing with the rules on 7 of 8 items.
    assert metrics["judged/accuracy"] == 3 / 8 and metrics["judged/n"] == 8
    assert metrics["judged/agreement"] == 7 / 8 and metrics["accuracy"] == 0.5
    verdicts = [read(r).verdict for r in run.records().values()]
    assert all(v is not None and v.scores["result"] in ([0] * 5, [1] * 5) for v in verdicts)
    assert run.manifest["task_info"]["judge"]["model"] == "scripted-judge"


# --- submissions, re-scoring -----------------------------------------------------------------------------------


def test_test_split_run_exports_the_submission_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = single_file(tmp_path, "llvisionqa_test.json", hidden=True)
    args = ("run", "a1", "--model", "py:test_a1_cli:ScriptedModel", "--data", data, "--split", "test")
    code, _, err = qbench(capsys, *args, "--out", tmp_path / "runs")
    assert code == 0, err
    (run,) = find_runs([tmp_path / "runs"])
    metrics = run.metrics()
    # No answers: no accuracy, only how many replies could be read (items 4 and 7 cannot).
    assert (metrics["n"], metrics["n_scored"], metrics["invalid_rate"]) == (8, 0, 0.25)
    assert not any(key.startswith("accuracy") for key in metrics)

    code, _, err = qbench(
        capsys, "report", tmp_path / "runs", "--format", "submission", "-o", tmp_path / "sub.json"
    )
    assert code == 0, err
    submitted = json.loads((tmp_path / "sub.json").read_text())
    originals = json.loads(data.read_text())
    assert submitted == [dict(item, response=row[-1]) for item, row in zip(originals, SINGLE)]


def test_score_rereads_stored_replies_into_a_new_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = [dict(item, response=reply) for item, (*_, reply) in zip(single_items(), SINGLE)]
    path = tmp_path / "answers_dev.json"
    path.write_text(json.dumps(saved))
    qbench(capsys, "import", "a1", path, "--model", "m", "--out", tmp_path / "runs")
    (imported,) = find_runs([tmp_path / "runs"])
    code, _, err = qbench(capsys, "score", imported.path)
    assert code == 0, err
    rescored = next(r for r in find_runs([tmp_path / "runs"]) if r.manifest.get("derived_from"))
    assert_metrics(rescored.metrics(), SINGLE_EXPECTED)

    # The official GPT-assisted path can come later too: judge the stored replies of the imported run.
    code, _, err = qbench(capsys, "score", imported.path, "--judge", "py:test_a1_cli:ScriptedJudge")
    assert code == 0, err
    judged = [r for r in find_runs([tmp_path / "runs"]) if "judged/accuracy" in r.metrics()]
    assert len(judged) == 1 and judged[0].metrics()["judged/accuracy"] == 3 / 8


# --- qbench validate -------------------------------------------------------------------------------------------


def test_validate_lists_every_field_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = single_items()
    items[1]["correct_ans"] = "Maybe"
    items[3]["type"] = 5
    items[5]["candidates"] = ["High"]
    del items[6]["question"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(items))
    code, _, err = qbench(capsys, "validate", "--data", path)
    assert code == 2
    assert err.splitlines() == [
        f"{path}: item 1: field 'correct_ans': 'Maybe' is not one of the options ['Yes', 'No']",
        f"{path}: item 3: field 'type': code 5 is out of range (0 yes-no, 1 what, 2 how)",
        f"{path}: item 5: field 'candidates': 1 option(s); an item has 2 to 4: ['High']",
        f"{path}: item 6: field 'question': missing or empty",
    ]


def test_validate_lists_every_missing_or_broken_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = single_file(tmp_path)
    (tmp_path / "img_2.png").unlink()
    (tmp_path / "img_4.png").write_bytes(b"not an image")
    code, _, err = qbench(capsys, "validate", "--data", path)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"{tmp_path / 'img_2.png'}: item 2: field 'img_path': image file not found"
    assert lines[1].startswith(f"{tmp_path / 'img_4.png'}: item 4: field 'img_path': image cannot be decoded")
    code, out, _ = qbench(capsys, "validate", "--data", pair_file(tmp_path / "pairs"))
    assert code == 0 and out.startswith("ok: q-bench2-a1-dev (qbench2, 6 items")

"""The family's tasks end to end through the CLI, on generated data in each real format, with known answers.

* A-Bench: the official prompt, letters by the A1 rules, the category table (every leaf, P1/P2, Overall) on a
  fixture whose right and wrong answers are chosen, and the test-answer JSONL export with ``response``.
* MICBench: 3- and 4-image questions through ``py:``, the loopback OpenAI server (images in order, after their
  labels, pixel for pixel) and a tiny real multi-image ``hf:`` model; accuracy overall and by ``num_img``; a
  model that takes fewer images is refused with one line before any work.
* Q-Bench-Video: PyAV videos whose frames show their index: exactly the official frames reach the model
  (16, or 8 + 8 for a pair), VLMEvalKit's only on request; open-ended replies judged 5 rounds through the loopback
  server; item score = mean of s/2 over valid rounds; breakdowns by type, concern and context.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fake_openai_server import FakeOpenAIServer, user_text
from family_data import ABENCH_ITEMS, MICBENCH_ITEMS, abench_json, micbench_json
from qbench.data.images import file_key
from qbench.judging import stored_verdicts
from qbench.store import find_runs
from qbench.tasks import abench, micbench, prompts, qbench_video
from test_a1_cli import qbench


def scripted(tmp_path: Path, replies: dict[str, str], log: Path, **options: str) -> list[str]:
    path = tmp_path / "replies.json"
    path.write_text(json.dumps(replies))
    extra = [x for key, value in options.items() for x in ("-M", f"{key}={value}")]
    return ["--model", "py:family_models:Scripted", "-M", f"replies={path}", "-M", f"log={log}", *extra]


def entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def md_table(text: str, title: str) -> list[list[str]]:
    """The cells of the markdown table under the heading that starts with ``title`` (separator row dropped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and title in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def one_run(out: Path) -> Any:
    (run,) = find_runs([out])
    return run


# -- A-Bench ----------------------------------------------------------------------------------------------------

#: item -> reply: right (R), wrong (W) or unreadable (U) by design.
ABENCH_REPLIES = {
    0: "A",  # R major
    1: "A.",  # W major
    2: "The answer is C",  # R minor
    3: "Riverside",  # R attribute (option text)
    4: "B",  # W attribute
    5: "I cannot tell from this image.",  # U contradiction
    6: "B",  # R technical
    7: "(A)",  # W technical
    8: "A",  # R aesthetic
    9: "E",  # U generative (not an option)
}
ABENCH_EXPECTED = {
    "accuracy": 0.5,
    "accuracy/part1": 0.5,
    "accuracy/part1/basic_recognition": 2 / 3,
    "accuracy/part1/basic_recognition/major": 0.5,
    "accuracy/part1/basic_recognition/minor": 1.0,
    "accuracy/part1/bag_of_words": 0.5,
    "accuracy/part1/bag_of_words/attribute": 0.5,
    "accuracy/part1/outside_knowledge": 0.0,
    "accuracy/part1/outside_knowledge/contradiction": 0.0,
    "accuracy/part2": 0.5,
    "accuracy/part2/technical": 0.5,
    "accuracy/part2/aesthetic": 1.0,
    "accuracy/part2/generative": 0.0,
    "invalid_rate": 0.2,
}


def abench_replies() -> dict[str, str]:
    return {f"Question {i} about the generated image?": reply for i, reply in ABENCH_REPLIES.items()}


def test_abench_category_table_on_known_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = abench_json(tmp_path / "data")
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "abench",
        *scripted(tmp_path, abench_replies(), log),
        "--data",
        data,
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    run = one_run(tmp_path / "r")
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert {k: metrics[k] for k in ABENCH_EXPECTED} == pytest.approx(ABENCH_EXPECTED)
    assert metrics["n/part1/basic_recognition/major"] == 2 and metrics["n"] == len(ABENCH_ITEMS)
    assert [label for _, label in abench.columns(metrics)] == [
        "Major",
        "Minor",
        "Attr.",
        "Contra.",
        "P1 (semantic)",
        "Technical",
        "Aesthetic",
        "Generative",
        "P2 (quality)",
        "Overall",
    ]
    # the official prompt: the image first, then question, option lines and the letter instruction
    first = entries(log)[0]
    assert first["parts"] == [
        0,
        "Question 0 about the generated image?\nA. cat\nB. dog\nC. bird\n"
        "Answer with the option's letter from the given choices directly.",
    ]
    assert run.manifest["task_info"]["prompt_version"] == abench.ABENCH_PROMPT_VERSION
    # the category table of the report: the authors' grouping, the known answers, published rows marked
    code, out, err = qbench(capsys, "report", tmp_path / "r", "--format", "md", "--references")
    assert code == 0, err
    table = md_table(out, "A-Bench")
    assert table[0] == [
        "Model",
        "Major",
        "Minor",
        "Attr.",
        "N. Adj.",
        "Comp.",
        "Number",
        "Term",
        "Contra.",
        "P1 (semantic)",
        "Technical",
        "Aesthetic",
        "Generative",
        "P2 (quality)",
        "Overall",
        "Unreadable",
        "n",
    ]
    ours = next(row for row in table if row[0].startswith("scripted"))
    assert ours[1:] == [
        "50.00", "100.00", "50.00", "-", "-", "-", "-", "0.00", "50.00", "50.00", "100.00", "0.00", "50.00",
        "50.00", "20.00", "10",
    ]  # fmt: skip
    gemini = next(row for row in table if row[0].startswith("Gemini 1.5 Pro"))
    assert "published" in gemini[0] and gemini[1] == "93.80" and gemini[12] == "59.02"


def test_abench_unknown_leaves_get_their_own_column() -> None:
    metrics = {
        "accuracy": 0.5,
        "accuracy/part1/bag_of_words/spatial": 0.1,
        "accuracy/part1/bag_of_words/composition": 0.2,
        "accuracy/part1/bag_of_words": 0.15,
        "accuracy/part1": 0.15,
        "accuracy/part2/generative": 0.3,
        "accuracy/part2": 0.3,
    }
    assert abench.columns(metrics) == [
        ("accuracy/part1/bag_of_words/composition", "Comp."),
        ("accuracy/part1/bag_of_words/spatial", "bag_of_words -> spatial"),
        ("accuracy/part1", "P1 (semantic)"),
        ("accuracy/part2/generative", "Generative"),
        ("accuracy/part2", "P2 (quality)"),
        ("accuracy", "Overall"),
    ]
    rows = abench.reference_rows()
    assert rows[0]["model"] == "Gemini 1.5 Pro" and rows[0]["values"]["Major"] == pytest.approx(0.938)
    assert all(len(r["values"]) == 11 and "053143e7" in r["reference"] for r in rows)


def test_abench_test_split_exports_the_submission_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = abench_json(tmp_path / "data", answers=False)
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "abench",
        *scripted(tmp_path, abench_replies(), log),
        "--data",
        data,
        "--split",
        "test",
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    run = one_run(tmp_path / "r")
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert "accuracy" not in metrics and metrics["n_scored"] == 0 and metrics["invalid_rate"] == 0.2
    target = tmp_path / "sub" / "abench_test.jsonl"
    code, _, err = qbench(capsys, "report", run.path, "--format", "submission", "-o", target)
    assert code == 0 and target.is_file(), err
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    released = json.loads(data.read_text())
    assert [{k: v for k, v in line.items() if k != "response"} for line in lines] == released
    assert [line["response"] for line in lines] == [ABENCH_REPLIES[i] for i in range(len(released))]
    assert list(lines[0]) == ["img_path", "question", "answers", "category", "response"]


# -- MICBench ---------------------------------------------------------------------------------------------------

MIC_REPLIES = {
    "Question 0:": "B",  # R (3 images)
    "Question 1:": "D",  # R (4 images)
    "Question 2:": "No",  # W (3 images)
    "Question 3:": "B. No",  # R (4 images)
}
MIC_EXPECTED = {"accuracy": 0.75, "accuracy/3-images": 0.5, "accuracy/4-images": 1.0, "invalid_rate": 0.0}


def test_micbench_through_py_sees_every_image_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = micbench_json(tmp_path / "data")
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "micbench",
        *scripted(tmp_path, MIC_REPLIES, log),
        "--data",
        data,
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    metrics = json.loads((one_run(tmp_path / "r").path / "metrics.json").read_text())
    assert {k: metrics[k] for k in MIC_EXPECTED} == pytest.approx(MIC_EXPECTED)
    code, out, err = qbench(capsys, "report", tmp_path / "r", "--format", "md")
    assert code == 0, err
    assert md_table(out, "MICBench") == [
        ["Model", "3 images", "4 images", "Overall", "Unreadable", "n"],
        [md_table(out, "MICBench")[1][0], "50.00", "100.00", "75.00", "0.00", "4"],
    ]
    assert micbench.columns(metrics) == [
        ("accuracy/3-images", "3 images"),
        ("accuracy/4-images", "4 images"),
        ("accuracy", "Overall"),
    ]
    items = json.loads(data.read_text())
    seen = {e["parts"][-1].split(":")[0]: e for e in entries(log)}
    for i, item in enumerate(items):
        entry = seen[f"Question {i}"]
        n = item["num_img"]
        labels = [p for p in entry["parts"] if isinstance(p, str) and p in prompts.IMAGE_LABELS]
        assert labels == list(prompts.IMAGE_LABELS[:n])
        assert [p for p in entry["parts"] if isinstance(p, int)] == list(range(n))
        assert entry["keys"] == [
            file_key(data.parent / rel) for rel in item["img_path"]
        ]  # the files, in order


def test_micbench_through_the_loopback_server_sends_images_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = micbench_json(tmp_path / "data")

    def answer(body: dict[str, Any]) -> str:
        text = user_text(body)
        return next(reply for key, reply in MIC_REPLIES.items() if key in text)

    with FakeOpenAIServer(answer) as server:
        code, _, err = qbench(
            capsys,
            "run",
            "micbench",
            "--model",
            "openai:m",
            "-M",
            f"api_base={server.url}",
            "-M",
            "api_key=k",
            "--data",
            data,
            "--out",
            tmp_path / "r",
        )
        bodies = list(server.bodies)
    assert code == 0, err
    metrics = json.loads((one_run(tmp_path / "r").path / "metrics.json").read_text())
    assert {k: metrics[k] for k in MIC_EXPECTED} == pytest.approx(MIC_EXPECTED)
    items = json.loads(data.read_text())
    assert len(bodies) == len(items)
    for body in bodies:
        parts = body["messages"][-1]["content"]
        i = int(parts[-1]["text"].split(":")[0].split()[-1])
        n = items[i]["num_img"]
        texts = [p["text"] for p in parts[: 2 * n : 2]]
        assert texts == list(prompts.IMAGE_LABELS[:n])
        for j, part in enumerate(parts[1 : 2 * n : 2]):
            b64 = part["image_url"]["url"].partition(",")[2]
            sent = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
            on_disk = Image.open(data.parent / items[i]["img_path"][j]).convert("RGB")
            assert np.array_equal(np.asarray(sent), np.asarray(on_disk)), (i, j)


def test_micbench_refuses_a_model_that_takes_fewer_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = micbench_json(tmp_path / "data")
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "micbench",
        *scripted(tmp_path, MIC_REPLIES, log, max_images="3"),
        "--data",
        data,
        "--out",
        tmp_path / "r",
    )
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "takes at most 3 image(s) per request; task micbench sends 4" in lines[0]
    assert not log.exists()  # nothing was asked


@pytest.mark.hf
def test_micbench_through_a_tiny_multi_image_hf_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers")
    import tiny_models

    data = micbench_json(tmp_path / "data")
    model = f"hf:{tiny_models.cached('qwen2_vl')}"
    code, _, err = qbench(
        capsys,
        "run",
        "micbench",
        "--model",
        model,
        "--data",
        data,
        "-T",
        "max_new_tokens=4",
        "--out",
        tmp_path / "r",
    )
    assert code in (0, 3), err  # random weights: the replies may all be unreadable
    records = one_run(tmp_path / "r").records()
    assert len(records) == len(MICBENCH_ITEMS)
    assert sorted(r.output["num_img"] for r in records.values()) == [3, 3, 4, 4]
    assert all(r.ok and isinstance(r.output["response"], str) for r in records.values())


# -- Q-Bench-Video ----------------------------------------------------------------------------------------------


def official(n: int, k: int) -> list[int]:
    return [int(n / k) * i for i in range(k)]


VIDEO_REPLIES = {
    "Is the video blurry?": "B.",  # R
    "How is the composition": "A.",  # W
    "Which video is smoother?": "B.",  # R
    "Describe the AIGC artifacts": "The hands look wrong.",
    "Compare the noise": "The first one is noisier.",
}


def judge_server() -> FakeOpenAIServer:
    """Judge replies by item: the AIGC item gets 2, 1, 2, 2 and one unparsable round; the pair item only
    replies the official parse cannot read ("Score:2" has no ": ")."""
    rounds: Counter[str] = Counter()
    lock = threading.Lock()
    scripts = {
        "Describe the AIGC artifacts": ["Score: 2", "Score: 1", "Score: 2", "Score: 2", "Score: two"],
        "Compare the noise": ["Score:2"] * 5,
    }

    def respond(body: dict[str, Any]) -> str:
        text = user_text(body)
        key = next(k for k in scripts if k in text)
        with lock:
            r = rounds[key]
            rounds[key] += 1
        return scripts[key][r]

    return FakeOpenAIServer(respond)


def test_qbench_video_official_frames_prompts_and_judged_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    data = qbench_video_json(tmp_path / "data", frames=(40, 33, 25, 50, 17))
    log = tmp_path / "log.jsonl"
    with judge_server() as judge:
        code, _, err = qbench(
            capsys,
            "run",
            "qbench-video",
            *scripted(tmp_path, VIDEO_REPLIES, log, frames="yes"),
            "--judge",
            "openai:judge",
            "-J",
            f"api_base={judge.url}",
            "-J",
            "api_key=k",
            "--data",
            data,
            "--out",
            tmp_path / "r",
        )
        judge_bodies = list(judge.bodies)
    assert code == 0, err
    seen = {next(k for k in VIDEO_REPLIES if k in "".join(map(str, e["parts"]))): e for e in entries(log)}
    # exactly the official frames reach the model: 16 of one video, 8 + 8 of a pair
    assert seen["Is the video blurry?"]["frames"] == official(40, 16)
    assert seen["How is the composition"]["frames"] == official(33, 16)
    assert seen["Which video is smoother?"]["frames"] == official(25, 8) + official(50, 8)
    assert seen["Describe the AIGC artifacts"]["frames"] == official(17, 16)
    assert seen["Compare the noise"]["frames"] == official(40, 8) + official(17, 8)
    assert all(all(e["api_jpeg"]) and len(e["frames"]) == 16 for e in seen.values())
    # the official message order
    single = seen["Is the video blurry?"]["parts"]
    assert single[:3] == [qbench_video.PREFIX_SINGLE, "\n", "The video frames:"]
    assert single[3:19] == list(range(16))
    assert single[19:] == ["Is the video blurry?\nA. Yes\nB. No\n", qbench_video.MCQ_INSTRUCTION]
    pair = seen["Which video is smoother?"]["parts"]
    assert pair[:3] == [qbench_video.PREFIX_PAIR, "\n", "The first video frames:"]
    assert (
        pair[3:11] == list(range(8))
        and pair[11] == "The second video frames:"
        and pair[12:20] == list(range(8, 16))
    )
    assert seen["Describe the AIGC artifacts"]["parts"][-1] == "Describe the AIGC artifacts of the video.\n"
    # the judge: official prompts, 5 rounds per open-ended item, nothing for multiple choice
    assert len(judge_bodies) == 10
    assert judge_bodies[0]["messages"][0]["content"] == qbench_video.JUDGE_SYSTEM
    assert (
        "evaluate whether the response [The hands look wrong.] completely matches the correct answer [The hands"
        in ("".join(user_text(b) for b in judge_bodies))
    )
    run = one_run(tmp_path / "r")
    metrics = json.loads((run.path / "metrics.json").read_text())
    open_score = (1 + 0.5 + 1 + 1) / 4
    expected = {
        "accuracy": (1 + 0 + 1 + open_score + 0) / 5,
        "accuracy/yes-no": 1.0,
        "accuracy/what-how": 0.5,
        "accuracy/open-ended": open_score / 2,
        "accuracy/technical": 0.5,
        "accuracy/aesthetic": 0.0,
        "accuracy/temporal": 1.0,
        "accuracy/aigc": open_score,
        "accuracy/context/global": (1 + open_score) / 2,
        "accuracy/context/referring": 0.0,
        "accuracy/context/compare": 1.0,
        "accuracy/context/joint": 0.0,
        "invalid_rate": 0.0,
        "judged/no_valid_round": 1,
        "judged/invalid_round_rate": 0.6,
        "n_open_unjudged": 0,
    }
    assert {k: metrics[k] for k in expected} == pytest.approx(expected)
    records = run.records()
    (verdict, _) = stored_verdicts(records["3"].output)
    assert verdict is not None
    assert verdict.scores["result"] == [2, 1, 2, 2, None] or sorted(
        s for s in verdict.scores["result"] if s is not None
    ) == [1, 2, 2, 2]
    code, out, err = qbench(capsys, "report", tmp_path / "r", "--format", "md", "--references")
    assert code == 0, err
    table = md_table(out, "Q-Bench-Video")
    header = [
        "Model",
        "Yes-or-No",
        "What-How",
        "Open-ended",
        "Technical",
        "Aesthetic",
        "Temporal",
        "AIGC",
        "Overall",
    ]
    assert table[0][:9] == header
    ours = next(row for row in table if row[0].startswith("scripted"))
    assert ours[1:4] == ["100.00", "50.00", f"{100 * open_score / 2:.2f}"]
    assert ours[8] == f"{100 * (1 + 0 + 1 + open_score + 0) / 5:.2f}"
    human = next(row for row in table if row[0].startswith("Human"))
    assert "published" in human[0]
    assert human[1:9] == ["86.57", "81.00", "77.11", "79.22", "80.23", "82.72", "86.21", "81.56"]
    labels = [label for _, label in qbench_video.columns(metrics)]
    assert labels == [
        "Yes-or-No",
        "What-How",
        "Open-ended",
        "Technical",
        "Aesthetic",
        "Temporal",
        "AIGC",
        "Overall",
        "Global",
        "Referring",
        "Compare",
        "Joint",
    ]


def test_qbench_video_vlmevalkit_sampling_is_explicit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    data = qbench_video_json(tmp_path / "data", frames=(40, 33, 25, 50, 17))
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "qbench-video",
        *scripted(tmp_path, VIDEO_REPLIES, log, frames="yes"),
        "-T",
        "sampling=vlmevalkit",
        "--data",
        data,
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    seen = {next(k for k in VIDEO_REPLIES if k in "".join(map(str, e["parts"]))): e for e in entries(log)}
    assert seen["Is the video blurry?"]["frames"] == [int(i * 40 / 17) for i in range(1, 17)]
    assert seen["Which video is smoother?"]["frames"] == [int(i * 25 / 9) for i in range(1, 9)] + [
        int(i * 50 / 9) for i in range(1, 9)
    ]
    run = one_run(tmp_path / "r")
    assert run.manifest["task_info"]["sampling"] == "vlmevalkit"
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["n_open_unjudged"] == 2 and metrics["accuracy"] == pytest.approx(2 / 3)  # MCQ only


def test_qbench_video_broken_video_fails_that_item_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    data = qbench_video_json(tmp_path / "data")
    (tmp_path / "data" / "video" / "v1.mp4").write_bytes(b"broken" * 100)
    log = tmp_path / "log.jsonl"
    code, _, err = qbench(
        capsys,
        "run",
        "qbench-video",
        *scripted(tmp_path, VIDEO_REPLIES, log, frames="yes"),
        "--data",
        data,
        "--out",
        tmp_path / "r",
    )
    records = one_run(tmp_path / "r").records()
    assert not records["1"].ok and "v1.mp4" in str(records["1"].error) and "item 1" in str(records["1"].error)
    assert all(records[i].ok for i in ("0", "2", "3", "4"))
    assert code in (0, 1), err


def test_choice_outputs_round_trip_and_rescore_from_the_stored_reply() -> None:
    from qbench.tasks.abench import ABenchTask
    from qbench.types import Record

    stored = {
        "index": 3,
        "question": "Q?",
        "options": ["sharp", "blurry"],
        "answer": "B",
        "img_path": "part2_0003.png",
        "category": "part2 -> technical",
        "response": "The answer is B",
        "letter": None,
        "rule": "an-older-rule",
        "correct": False,
    }
    (new,) = ABenchTask().rescore([Record("3", stored)])
    assert new.output == {**stored, "letter": "B", "rule": "explicit", "correct": True}  # unknown keys kept
    assert ABenchTask.read(new).to_json() == new.output
    failed = Record("4", {}, error="decode failed")
    assert ABenchTask().rescore([failed]) == [failed]


def test_qbench_video_through_the_loopback_server_sends_the_official_jpeg_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    from video_files import frame_number, write_video

    folder = tmp_path / "data"
    write_video(folder / "video" / "big.mp4", 48, width=1280, height=720)
    item = {
        "video_name": "big.mp4",
        "question": "Is the video blurry?",
        "answers": ["Yes", "No"],
        "correct_ans": "No",
        "question_type": "Yes-or-No",
        "concern": "Technical",
        "context": "Global",
    }
    data = folder / "Q_Bench_Video_dev.json"
    data.write_text(json.dumps([item]))
    with FakeOpenAIServer(lambda body: "B.") as server:
        code, _, err = qbench(
            capsys,
            "run",
            "qbench-video",
            "--model",
            "openai:m",
            "-M",
            f"api_base={server.url}",
            "-M",
            "api_key=k",
            "--data",
            data,
            "--out",
            tmp_path / "r",
        )
        (body,) = server.bodies
    assert code == 0, err
    parts = body["messages"][-1]["content"]
    images = [p["image_url"] for p in parts if p["type"] == "image_url"]
    assert len(images) == 16 and all(i["detail"] == "low" for i in images)
    frames = []
    for image in images:
        header, _, b64 = image["url"].partition(",")
        assert header == "data:image/jpeg;base64"
        sent = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert sent.format == "JPEG" and sent.size == (512, 288)
        frames.append(frame_number(sent))
    assert frames == official(48, 16)
    assert [p["text"] for p in parts if p["type"] == "text"] == [
        qbench_video.PREFIX_SINGLE,
        "\n",
        "The video frames:",
        "Is the video blurry?\nA. Yes\nB. No\n",
        qbench_video.MCQ_INSTRUCTION,
    ]
    assert body["max_tokens"] == 1000


def test_video_outputs_round_trip_read_the_first_judge_form_and_rescore() -> None:
    from qbench.tasks.qbench_video import QBenchVideoTask, VideoOutput
    from qbench.types import Record

    first_form = {  # as written by the first Q-Bench-Video task (a flat "judge" with "scores")
        "index": 3,
        "question": "Describe it.",
        "qtype": "open-ended",
        "concerns": ["aigc"],
        "context": "global",
        "video_name": "v4.mp4",
        "response": "Deformed hands.",
        "reference": "The hands are deformed.",
        "judge": {
            "key": "abc:qbench-video-judge-v1:5",
            "model": "openai:judge",
            "version": "qbench-video-judge-v1",
            "rounds": 5,
            "replies": ["Score: 2", "Score: 1", "Score: 2", "Score: 2", "Score: two"],
            "scores": [2, 1, 2, 2, None],
            "score": 0.875,
        },
    }
    out = VideoOutput.from_json(first_form)
    assert out.verdict is not None and out.verdict.scores["result"] == [2, 1, 2, 2, None]
    assert out.extra == {"index": 3}
    again = VideoOutput.from_json(out.to_json())
    assert again == out
    metrics = qbench_video.video_metrics([out])
    assert metrics["accuracy/open-ended"] == pytest.approx(0.875)
    mcq = Record(
        "0",
        {
            "question": "Blurry?",
            "qtype": "yes-no",
            "concerns": ["technical"],
            "context": "global",
            "video_name": "v0.mp4",
            "response": "The answer is B",
            "options": ["Yes", "No"],
            "answer": "B",
            "letter": None,
            "rule": "old",
            "correct": False,
        },
    )
    (new,) = QBenchVideoTask().rescore([mcq])
    assert (new.output["letter"], new.output["rule"], new.output["correct"]) == ("B", "explicit", True)
    assert QBenchVideoTask.read(new).to_json() == new.output


@pytest.mark.hf
def test_qbench_video_through_a_tiny_multi_image_hf_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("av")
    import tiny_models
    from family_data import qbench_video_json

    data = qbench_video_json(tmp_path / "data")
    model = f"hf:{tiny_models.cached('qwen2_vl')}"
    code, _, err = qbench(
        capsys,
        "run",
        "qbench-video",
        "--model",
        model,
        "--data",
        data,
        "-T",
        "max_new_tokens=3",
        "--out",
        tmp_path / "r",
    )
    assert code in (0, 3), err  # random weights: the replies may all be unreadable
    records = one_run(tmp_path / "r").records()
    assert len(records) == 5 and all(r.ok and isinstance(r.output["response"], str) for r in records.values())


def test_qbench_video_health_and_show_count_letters_of_choice_items_and_judge_rounds_of_open_ones() -> None:
    """Through the task's hooks (qbench.health and qbench.browse name no task): unreadable letters are counted
    over the multiple-choice items only, judge rounds over the open-ended ones (the first judge form too)."""
    from qbench.browse import describe, unreadable
    from qbench.health import check
    from qbench.types import Record

    def choice(i: int, reply: str, letter: str | None) -> Record:
        rule = "explicit" if letter else "unreadable"
        output = {"qtype": "yes-no", "response": reply, "options": ["Yes", "No"], "answer": "B"}
        return Record(str(i), {**output, "letter": letter, "rule": rule, "correct": letter == "B"})

    judged = {
        "qtype": "open-ended",
        "response": "Deformed hands.",
        "reference": "The hands are deformed.",
        "judge": {
            "replies": ["Score: 2", "Score: two", "Score: 1", "Score: 2", "Score: 2"]
        },  # scores re-read
    }
    records = [
        choice(0, "B", "B"),
        choice(1, "Hmm, hard to say", None),
        choice(2, "A", "A"),
        choice(3, "Hmm, hard to say", None),
        Record("4", judged),
    ]
    health = check("qbench-video", records, {})
    assert health.unusable is None
    assert health.warnings == [
        "suspect run: 2 of 4 (50.0%) answers unreadable "
        "(commonest rules: unreadable x2; commonest replies: 'Hmm, hard to say' x2)",
        "suspect run: 1 of 5 (20.0%) judge rounds gave no verdict (commonest: no 'Score: k' in 'Score: two' x1)",
    ]
    assert [unreadable(r, "qbench-video") for r in records] == [False, True, False, True, True]
    assert describe(records[1], "qbench-video") == "1: - (unreadable) wrong; reply: 'Hmm, hard to say'"
    assert describe(records[4], "qbench-video").startswith('4: {"qtype": "open-ended", "response": ')
    lost = {**judged, "judge": {"replies": ["no idea"] * 5, "scores": [None] * 5}}
    every_open_one_lost = check("qbench-video", [choice(0, "B", "B"), Record("4", lost)], {})
    assert (every_open_one_lost.unusable or "").startswith("no judge round could be read: 5 of 5 (100.0%)")

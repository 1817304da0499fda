"""Loaders of A-Bench, MICBench and Q-Bench-Video in their real formats, on small generated files.

Each test reads a file written in the released layout (tests/family_data.py) through ``load_dataset`` with
format detection, and then breaks one field to check that the error is one line naming file, item and field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from family_data import ABENCH_ITEMS, MICBENCH_ITEMS, abench_json, abench_parquet, micbench_json
from qbench.data.dataset import LoadOptions, detect_format, load_dataset
from qbench.errors import DataError


def one_line_error(path: Path, item: int, field: str, **options: object) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(path, LoadOptions(**options))  # type: ignore[arg-type]
    line = caught.value.one_line()
    assert str(path) in line and f"item {item}" in line and f"'{field}'" in line and "\n" not in line
    return line


# -- A-Bench ----------------------------------------------------------------------------------------------------


def test_abench_json_reads_items_categories_and_answers(tmp_path: Path) -> None:
    path = abench_json(tmp_path)
    assert detect_format(path) == "abench"
    ds = load_dataset(path)
    assert ds.format == "abench" and ds.kind == "mcq" and len(ds) == len(ABENCH_ITEMS)
    for sample, (category, options, correct) in zip(ds.samples, ABENCH_ITEMS):
        assert sample.options == options and sample.answer == "ABCD"[correct]
        assert sample.extra["category"] == category
        assert sample.images[0].is_file() and sample.images[0].parent == tmp_path
    assert ds.samples[0].source == "part1_0000.png"


def test_abench_legacy_release_has_hidden_answers(tmp_path: Path) -> None:
    ds = load_dataset(abench_json(tmp_path, answers=False), LoadOptions(split="test"))
    assert all(s.answer is None for s in ds.samples)


def test_abench_hf_layout_reads_like_the_json(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    folder = abench_parquet(tmp_path / "hf")
    ds = load_dataset(folder, LoadOptions(split="dev"))
    assert ds.format == "hf-parquet" and len(ds) == len(ABENCH_ITEMS)
    from_json = load_dataset(abench_json(tmp_path / "json"))
    for a, b in zip(ds.samples, from_json.samples):
        assert (a.options, a.answer, a.extra["category"]) == (b.options, b.answer, b.extra["category"])
        assert a.images[0].read_bytes() == b.images[0].read_bytes()  # the embedded bytes, stored once
    test = load_dataset(abench_parquet(tmp_path / "hf2", "test"), LoadOptions(split="test"))
    assert all(s.answer is None for s in test.samples)  # "@" = hidden


def test_abench_bad_fields_are_one_line(tmp_path: Path) -> None:
    path = abench_json(tmp_path)
    items = json.loads(path.read_text())
    items[3]["category"] = "part3 -> nowhere"
    path.write_text(json.dumps(items))
    assert "part1|part2" in one_line_error(path, 3, "category")
    items[3]["category"] = ABENCH_ITEMS[3][0]
    items[5]["correct_ans"] = "maybe"
    path.write_text(json.dumps(items))
    one_line_error(path, 5, "correct_ans")
    items[5]["correct_ans"] = "no"
    items[6]["img_path"] = "../outside.png"
    path.write_text(json.dumps(items))
    one_line_error(path, 6, "img_path")


# -- MICBench ---------------------------------------------------------------------------------------------------


def test_micbench_reads_three_and_four_images_in_order(tmp_path: Path) -> None:
    path = micbench_json(tmp_path)
    assert detect_format(path) == "micbench"
    ds = load_dataset(path)
    assert ds.kind == "mcq" and len(ds) == len(MICBENCH_ITEMS)
    for i, (sample, (n, options, correct)) in enumerate(zip(ds.samples, MICBENCH_ITEMS)):
        assert sample.extra["num_img"] == n == len(sample.images)
        assert [p.name for p in sample.images] == [f"q{i}_{j}.png" for j in range(n)]
        assert sample.options == options and sample.answer == "ABCD"[correct]


def test_micbench_bad_fields_are_one_line(tmp_path: Path) -> None:
    path = micbench_json(tmp_path)
    items = json.loads(path.read_text())
    items[1]["num_img"] = 3
    path.write_text(json.dumps(items))
    assert "does not match the 4" in one_line_error(path, 1, "num_img")
    items[1]["num_img"] = 4
    items[2]["img_path"] = items[2]["img_path"] * 2
    path.write_text(json.dumps(items))
    one_line_error(path, 2, "img_path")
    items[2]["img_path"] = items[2]["img_path"][:3]
    items[3]["correct_choice"] = "A"  # correct_ans is option B
    path.write_text(json.dumps(items))
    assert "disagrees" in one_line_error(path, 3, "correct_choice")


# -- Q-Bench-Video ----------------------------------------------------------------------------------------------


def test_qbench_video_reads_single_pair_and_open_items(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    path = qbench_video_json(tmp_path)
    assert detect_format(path) == "qbench-video"
    ds = load_dataset(path)
    assert ds.kind == "video" and len(ds) == 5
    single, referring, pair, open_single, open_pair = ds.samples
    assert single.extra["media"] == "video"
    assert [p.name for p in single.images] == ["v0.mp4"]
    assert (single.extra["qtype"], single.extra["concerns"], single.extra["context"]) == (
        "yes-no",
        ("technical",),
        "global",
    )
    assert single.answer == "B" and referring.answer == "C" and referring.extra["context"] == "referring"
    assert [p.name for p in pair.images] == ["v2.mp4", "v3.mp4"] and pair.answer == "B"
    assert open_single.options == () and open_single.answer is None
    assert open_single.reference == "The hands are deformed and the background flickers."
    assert open_single.extra["qtype"] == "open-ended" and open_single.extra["concerns"] == ("aigc",)
    assert [p.name for p in open_pair.images] == ["v0.mp4", "v4.mp4"]
    assert all(p.is_file() for s in ds.samples for p in s.images)


def test_qbench_video_bad_fields_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json

    path = qbench_video_json(tmp_path)
    items = json.loads(path.read_text())
    items[0]["question_type"] = "Multiple"
    path.write_text(json.dumps(items))
    one_line_error(path, 0, "question_type")
    items[0]["question_type"] = "Yes-or-No"
    items[2]["video_name"] = "v2.mp4"  # a Compare item must name a pair
    path.write_text(json.dumps(items))
    assert "_cat_" in one_line_error(path, 2, "video_name")
    items[2]["video_name"] = "../v2.mp4_cat_v3.mp4.mp4"
    path.write_text(json.dumps(items))
    one_line_error(path, 2, "video_name")


def test_validate_checks_videos_by_decoding_them(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from family_data import qbench_video_json
    from qbench.validate import validate_dataset

    path = qbench_video_json(tmp_path)
    problems, dataset = validate_dataset(str(path), LoadOptions())
    assert problems == [] and dataset is not None
    (tmp_path / "video" / "v3.mp4").write_bytes(b"not a video at all" * 20)
    problems, _ = validate_dataset(str(path), LoadOptions())
    (line,) = problems
    assert "v3.mp4" in line and "item 2" in line and "not a readable video" in line


def test_catalog_installs_videos_and_micbench_from_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("av")
    import shutil

    from family_data import qbench_video_json
    from test_a1_cli import qbench

    monkeypatch.setenv("QBENCH_DATA_DIR", str(tmp_path / "home"))
    src = qbench_video_json(tmp_path / "release")
    shutil.copy(src, src.parent / "Q_Bench_Video_test.json")
    micbench_json(tmp_path / "mic")
    code, _, err = qbench(capsys, "data", "add", "qbench-video", "--from", tmp_path / "release")
    assert code == 0, err
    code, _, err = qbench(capsys, "data", "add", "micbench", "--from", tmp_path / "mic")
    assert code == 0, err
    videos = load_dataset("qbench-video-dev")
    assert len(videos) == 5 and videos.info["catalog"] == "qbench-video"
    assert [p.name for p in videos.samples[2].images] == ["v2.mp4", "v3.mp4"]
    assert all(p.is_file() for s in videos.samples for p in s.images)
    mic = load_dataset("micbench-dev")
    assert [s.extra["num_img"] for s in mic.samples] == [n for n, _, _ in MICBENCH_ITEMS]
    code, out, err = qbench(capsys, "validate", "-d", "qbench-video-dev")
    assert code == 0 and "every image decodes" in out, err

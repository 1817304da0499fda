"""A1 data in every official shape: LLVisionQA json, Q-Bench2 jsonl, the HF parquet layout, save_to_disk.

Each test writes a tiny data set with real (small) image files into a temporary folder, as a user's download
would look, and reads it back through :func:`qbench.data.dataset.load_dataset`.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qbench.data.dataset import LoadOptions, detect_format, load_dataset
from qbench.data.hf_layout import ImageStore, image_cache_dir, is_hub_id, read_hf_folder
from qbench.data.llvisionqa import item_problems, split_pair_path
from qbench.errors import DataError, MissingDependency

# Three items as the official dev json has them (protocol 1.2): key order type, concern, question, img_path,
# candidates, correct_ans. The first is HF dev row 0 of protocol 1.3.
SINGLE_ITEMS = [
    {
        "type": 2,
        "concern": 3,
        "question": "How is the lighting of this building?",
        "img_path": "building.jpg",
        "candidates": ["High", "Low", "Medium"],
        "correct_ans": "Low",
    },
    {
        "type": 0,
        "concern": 0,
        "question": "Is this image blurry?",
        "img_path": "blurry.png",
        "candidates": ["Yes", "No"],
        "correct_ans": "Yes",
    },
    {
        "type": 1,
        "concern": 1,
        "question": "What is the main colour tone of this image?",
        "img_path": "tone.jpg",
        "candidates": ["Warm", "Cool", "Neutral", "Green"],
        "correct_ans": "Neutral",
    },
]

# The pair example of protocol 2.2, and a joint question; the jsonl also has correct_choice.
PAIR_ITEMS = [
    {
        "type": 2,
        "concern": 0,
        "question": "Compared to the first image, how is the clarity of the second image?",
        "img_path": "llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg",
        "candidates": ["More blurry", "Clearer", "About the same"],
        "correct_ans": "Clearer",
        "correct_choice": "B",
    },
    {
        "type": 0,
        "concern": 1,
        "question": "Are both of these images very blurry?",
        "img_path": "llvisionqa_compare_dev\\00079.jpg_cat_10001.png.jpg",
        "candidates": ["Yes", "No"],
        "correct_ans": "No",
        "correct_choice": "B",
    },
]

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]


def image_bytes(colour: str, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, fmt)
    return buffer.getvalue()


def write_image(path: Path, colour: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(colour, "JPEG" if path.suffix == ".jpg" else "PNG"))
    return path


def write_single(
    folder: Path, items: list[dict[str, Any]] = SINGLE_ITEMS, name: str = "llvisionqa_dev.json"
) -> Path:
    for i, item in enumerate(items):
        write_image(folder / item["img_path"], COLOURS[i % len(COLOURS)])
    path = folder / name
    path.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_pairs(
    folder: Path, items: list[dict[str, Any]] = PAIR_ITEMS, name: str = "q-bench2-a1-dev.jsonl"
) -> Path:
    for i, item in enumerate(items):
        for j, original in enumerate(split_pair_path(item["img_path"])):
            write_image(folder / "all_single_images" / original, COLOURS[(i + j) % len(COLOURS)])
    path = folder / name
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


# --- HF parquet layout, written by hand with pyarrow (protocol 1.3) -----------------------------------------


def hf_rows(items: list[dict[str, Any]], *, pair: bool, hidden: bool = False) -> list[dict[str, Any]]:
    """The HF rows of official items: options padded with "N/A", the answer as a letter ("@" when hidden)."""
    rows = []
    for i, item in enumerate(items):
        options = item["candidates"] + ["N/A"] * (4 - len(item["candidates"]))
        row: dict[str, Any] = {"id": i, "question": item["question"]}
        if pair:
            first, second = split_pair_path(item["img_path"])
            row["image1"] = {"bytes": image_bytes(COLOURS[i % 6]), "path": first}
            row["image2"] = {"bytes": image_bytes(COLOURS[(i + 1) % 6]), "path": second}
        else:
            row["image"] = {"bytes": image_bytes(COLOURS[i % 6], "JPEG"), "path": item["img_path"]}
        row.update({f"option{k}": options[k] for k in range(4)})
        row["question_type"] = item["type"]
        row["question_concern"] = item["concern"]
        row["correct_choice"] = "@" if hidden else "ABCD"[item["candidates"].index(item["correct_ans"])]
        rows.append(row)
    return rows


def write_hf_folder(folder: Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """``<folder>/data/<split>-00000-of-00001.parquet`` as on the hub, the image as an HF Image struct."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for split, rows in splits.items():
        image_columns = ["image1", "image2"] if "image1" in rows[0] else ["image"]
        fields = [("id", pa.int64())]
        fields += [(c, image) for c in image_columns]
        fields += [("question", pa.string())] + [(f"option{k}", pa.string()) for k in range(4)]
        fields += [
            ("question_type", pa.int64()),
            ("question_concern", pa.int64()),
            ("correct_choice", pa.string()),
        ]
        table = pa.Table.from_pylist(rows, schema=pa.schema(fields))
        (folder / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


# --- LLVisionQA json ---------------------------------------------------------------------------------------


def test_llvisionqa_items_become_samples(tmp_path: Path) -> None:
    path = write_single(tmp_path)
    dataset = load_dataset(path)
    assert (dataset.format, dataset.kind, dataset.split, dataset.name) == (
        "llvisionqa",
        "mcq",
        "dev",
        "llvisionqa_dev",
    )
    first, second, third = dataset.samples
    assert first.id == "0" and first.images == (tmp_path / "building.jpg",)
    assert first.options == ("High", "Low", "Medium") and first.answer == "B"
    assert (first.qtype, first.concern, first.source) == (2, 3, "building.jpg")
    assert first.extra == {"pair": False, "lang": "en"}
    assert second.answer == "A" and third.answer == "C" and third.options[-1] == "Green"


def test_test_split_answers_are_hidden(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The released test json has no correct_ans; the release figure draws ["N/A"]; both mean hidden.
    items = [
        dict(SINGLE_ITEMS[0]),
        dict(SINGLE_ITEMS[1], correct_ans="N/A"),
        dict(SINGLE_ITEMS[2], correct_ans=["N/A"]),
    ]
    del items[0]["correct_ans"]
    path = write_single(tmp_path, items, "llvisionqa_test.json")
    assert [s.answer for s in load_dataset(path, LoadOptions(split="test")).samples] == [None, None, None]
    with caplog.at_level(logging.WARNING, logger="qbench"):
        load_dataset(path)  # --split dev on a file without answers is almost surely a mistake
    assert "--split test" in caplog.text


def test_trailing_na_padding_is_dropped(tmp_path: Path) -> None:
    item = dict(SINGLE_ITEMS[0], candidates=["High", "Low", "Medium", "N/A"])
    assert load_dataset(write_single(tmp_path, [item])).samples[0].options == ("High", "Low", "Medium")


def test_images_resolve_against_the_images_flag(tmp_path: Path) -> None:
    path = write_single(tmp_path / "images")
    moved = tmp_path / "questions.json"
    path.rename(moved)
    dataset = load_dataset(moved, LoadOptions(images=tmp_path / "images"))
    assert dataset.samples[0].images == (tmp_path / "images" / "building.jpg",)


def test_chinese_file_selects_the_chinese_instruction(tmp_path: Path) -> None:
    items = [dict(SINGLE_ITEMS[1], question="这张图片模糊吗？", candidates=["是", "否"], correct_ans="是")]
    path = write_single(tmp_path, items, "质衡-问答-验证集.json")
    sample = load_dataset(path, LoadOptions(lang="zh")).samples[0]
    assert sample.extra["lang"] == "zh" and sample.answer == "A" and sample.options == ("是", "否")


# --- Q-Bench2 pairs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("img_path", "originals"),
    [
        ("llvisionqa_compare_dev\\00079.jpg_cat_09769.jpg.jpg", ("00079.jpg", "09769.jpg")),
        ("llvisionqa_compare_test/a.png_cat_b.png.jpg", ("a.png", "b.png")),
        ("a.jpg_cat_b.jpg", ("a.jpg", "b.jpg")),  # no extension of its own: nothing to drop
    ],
)
def test_pair_paths_split_into_their_originals(img_path: str, originals: tuple[str, str]) -> None:
    assert split_pair_path(img_path) == originals


@pytest.mark.parametrize("img_path", ["00079.jpg", "a.jpg_cat_b.jpg_cat_c.jpg.jpg", "_cat_b.jpg.jpg"])
def test_pair_paths_that_are_not_two_names_are_rejected(img_path: str) -> None:
    with pytest.raises(ValueError, match="_cat_"):
        split_pair_path(img_path)


def test_qbench2_jsonl_reads_both_originals(tmp_path: Path) -> None:
    dataset = load_dataset(write_pairs(tmp_path))
    assert dataset.format == "qbench2"
    first, second = dataset.samples
    singles = tmp_path / "all_single_images"
    assert first.images == (singles / "00079.jpg", singles / "09769.jpg")
    assert second.images == (singles / "00079.jpg", singles / "10001.png")
    assert (first.answer, second.answer) == ("B", "B")
    assert first.source == PAIR_ITEMS[0]["img_path"] and first.extra["pair"] is True


def test_images_flag_may_be_the_all_single_images_folder(tmp_path: Path) -> None:
    path = write_pairs(tmp_path)
    dataset = load_dataset(path, LoadOptions(images=tmp_path / "all_single_images"))
    assert dataset.samples[0].images[0] == tmp_path / "all_single_images" / "00079.jpg"
    dataset = load_dataset(path, LoadOptions(images=tmp_path))
    assert dataset.samples[0].images[0] == tmp_path / "all_single_images" / "00079.jpg"


def test_a_pair_json_list_is_read_as_pairs(tmp_path: Path) -> None:
    write_pairs(tmp_path)
    items = [
        dict(PAIR_ITEMS[0]),
        dict(PAIR_ITEMS[1], img_path=["all_single_images/00079.jpg", "all_single_images/10001.png"]),
    ]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(items))
    assert detect_format(path) == "qbench2"
    dataset = load_dataset(path)
    assert dataset.samples[1].images == (
        tmp_path / "all_single_images/00079.jpg",
        tmp_path / "all_single_images/10001.png",
    )


def test_correct_choice_must_agree_with_correct_ans(tmp_path: Path) -> None:
    path = write_pairs(tmp_path, [dict(PAIR_ITEMS[0], correct_choice="A")])
    with pytest.raises(DataError, match=r"item 0: field 'correct_choice': A disagrees with correct_ans"):
        load_dataset(path)


# --- every problem, one line each --------------------------------------------------------------------------


def test_item_problems_lists_every_problem(tmp_path: Path) -> None:
    items = [
        SINGLE_ITEMS[0],
        dict(SINGLE_ITEMS[1], correct_ans="Maybe", type=3),
        dict(SINGLE_ITEMS[2], concern=4, candidates=["Only one"]),
        {"type": 0, "concern": 0, "img_path": "x.jpg", "candidates": ["A", "B", "C", "D", "E"]},
    ]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(items))
    problems = item_problems(path, "llvisionqa", LoadOptions())
    assert problems == [
        f"{path}: item 1: field 'type': code 3 is out of range (0 yes-no, 1 what, 2 how)",
        f"{path}: item 1: field 'correct_ans': 'Maybe' is not one of the options ['Yes', 'No']",
        f"{path}: item 2: field 'concern': code 4 is out of range "
        "(0 distortion, 1 other, 2 in-context distortion, 3 in-context other)",
        f"{path}: item 2: field 'candidates': 1 option(s); an item has 2 to 4: ['Only one']",
        f"{path}: item 3: field 'question': missing or empty",
        f"{path}: item 3: field 'candidates': 5 option(s); an item has 2 to 4: ['A', 'B', 'C', 'D', 'E']",
    ]
    with pytest.raises(DataError, match="item 1: field 'type'"):
        load_dataset(path)  # the reader stops at the first problem, with the same words


def test_pair_item_problems_name_the_pair_codes(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(dict(PAIR_ITEMS[0], concern=7, img_path="single.jpg")) + "\n")
    problems = item_problems(path, "qbench2", LoadOptions())
    assert "other/joint" in problems[0] and "'img_path'" in problems[1] and len(problems) == 2


# --- the HF parquet layout ---------------------------------------------------------------------------------


def test_hf_parquet_reads_like_the_json(tmp_path: Path) -> None:
    folder = write_hf_folder(tmp_path / "Q-Bench-HF", {"dev": hf_rows(SINGLE_ITEMS, pair=False)})
    from_hf = load_dataset(folder)
    from_json = load_dataset(write_single(tmp_path / "json"))
    assert (from_hf.format, from_hf.name, len(from_hf)) == ("hf-parquet", "Q-Bench-HF", 3)
    for hf, js in zip(from_hf.samples, from_json.samples):
        assert (hf.id, hf.question, hf.options, hf.answer, hf.qtype, hf.concern) == (
            js.id,
            js.question,
            js.options,
            js.answer,
            js.qtype,
            js.concern,
        )
    assert from_hf.samples[0].source == "building.jpg"


def test_hf_images_are_extracted_once_by_content(tmp_path: Path) -> None:
    rows = hf_rows(SINGLE_ITEMS, pair=False)
    folder = write_hf_folder(tmp_path / "hf", {"dev": rows})
    sample = load_dataset(folder).samples[0]
    cached = sample.images[0]
    assert cached.is_relative_to(image_cache_dir()) and cached.suffix == ".jpg"
    assert cached.read_bytes() == rows[0]["image"]["bytes"]
    mtime = cached.stat().st_mtime_ns
    assert load_dataset(folder).samples[0].images[0] == cached and cached.stat().st_mtime_ns == mtime
    store = ImageStore()
    assert store.put(rows[0]["image"]["bytes"]) == cached and store.written == 0  # reused, not rewritten
    assert not list(image_cache_dir().rglob(".tmp-*"))  # no temporary file left behind


def test_hf_image_given_by_path_only_resolves_against_the_folder(tmp_path: Path) -> None:
    rows = hf_rows(SINGLE_ITEMS[:1], pair=False)
    rows[0]["image"] = {"bytes": None, "path": "photos/building.jpg"}  # an HF struct that points at a file
    folder = write_hf_folder(tmp_path / "hf", {"dev": rows})
    assert load_dataset(folder).samples[0].images == (folder / "photos" / "building.jpg",)
    other = tmp_path / "elsewhere"
    assert load_dataset(folder, LoadOptions(images=other)).samples[0].images == (
        other / "photos/building.jpg",
    )


def test_hf_test_split_hides_answers_marked_at(tmp_path: Path) -> None:
    folder = write_hf_folder(
        tmp_path / "hf",
        {"dev": hf_rows(SINGLE_ITEMS, pair=False), "test": hf_rows(SINGLE_ITEMS, pair=False, hidden=True)},
    )
    test = load_dataset(folder, LoadOptions(split="test"))
    assert test.split == "test" and [s.answer for s in test.samples] == [None, None, None]
    with pytest.raises(DataError, match=r"no parquet files for split 'dev' \(splits here: test\)"):
        write_hf_folder(tmp_path / "only-test", {"test": hf_rows(SINGLE_ITEMS, pair=False, hidden=True)})
        load_dataset(tmp_path / "only-test")


def test_hf_pairs_have_two_images_in_order(tmp_path: Path) -> None:
    rows = hf_rows(PAIR_ITEMS, pair=True)
    sample = load_dataset(write_hf_folder(tmp_path / "Q-Bench2-HF", {"dev": rows})).samples[0]
    assert [p.read_bytes() for p in sample.images] == [rows[0]["image1"]["bytes"], rows[0]["image2"]["bytes"]]
    assert sample.extra["pair"] is True and sample.concern == 0 and sample.answer == "B"
    assert sample.source == "00079.jpg|09769.jpg"


def test_hf_answer_in_a_padding_slot_is_an_error(tmp_path: Path) -> None:
    rows = hf_rows(SINGLE_ITEMS[1:2], pair=False)
    rows[0]["correct_choice"] = "C"  # option2 is "N/A" padding
    with pytest.raises(
        DataError, match=r"item 0: field 'correct_choice': letter C is not one of the 2 options"
    ):
        load_dataset(write_hf_folder(tmp_path / "hf", {"dev": rows}))


def test_hf_parquet_needs_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_hf_folder(tmp_path / "hf", {"dev": hf_rows(SINGLE_ITEMS, pair=False)})
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if the extra were not installed
    with pytest.raises(MissingDependency, match=r"pyarrow.*pip install 'qbench\[datasets\]'"):
        read_hf_folder(folder, LoadOptions())


def test_save_to_disk_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "id": datasets.Value("int64"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            **{f"option{k}": datasets.Value("string") for k in range(4)},
            "question_type": datasets.Value("int64"),
            "question_concern": datasets.Value("int64"),
            "correct_choice": datasets.Value("string"),
        }
    )
    rows = hf_rows(SINGLE_ITEMS, pair=False)
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    split = datasets.Dataset.from_dict(columns, features=features)
    datasets.DatasetDict({"dev": split}).save_to_disk(str(tmp_path / "saved"))
    dataset = load_dataset(tmp_path / "saved")
    assert dataset.format == "hf-disk" and [s.answer for s in dataset.samples] == ["B", "A", "C"]
    assert dataset.samples[2].images[0].read_bytes() == rows[2]["image"]["bytes"]
    with pytest.raises(DataError, match=r"no split 'test' \(splits: dev\)"):
        load_dataset(tmp_path / "saved", LoadOptions(split="test"))


def test_hub_id_offline_fails_with_one_clear_line() -> None:
    pytest.importorskip("datasets")
    assert is_hub_id("q-future/Q-Bench-HF") and not is_hub_id("data/llvisionqa_dev.json")
    with pytest.raises(DataError) as caught:
        load_dataset("q-future/Q-Bench-HF")  # tests run with HF_HUB_OFFLINE=1 (conftest)
    line = caught.value.one_line()
    assert "\n" not in line
    assert line.startswith(
        "'q-future/Q-Bench-HF' is not a local file or folder, and loading it from the Hugging Face Hub"
    )
    assert "data/<split>-*.parquet" in line

"""A1 against an OpenAI-compatible server: a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py).

What goes over the wire must be the official prompt with the image(s) in place, and the numbers must be the
ones that scoring the same replies offline (``qbench import a1``) gives.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fake_openai_server import FakeOpenAIServer, user_text
from qbench.store import find_runs
from test_a1_cli import (
    PAIR_EXPECTED,
    PAIRS,
    SINGLE,
    SINGLE_EXPECTED,
    pair_items,
    qbench,
    single_file,
    single_items,
)
from test_a1_data import hf_rows, write_hf_folder

ACCURACY_KEYS = [k for k in SINGLE_EXPECTED if k.startswith("accuracy")]


def replying(table: list[tuple[dict[str, Any], str]]) -> Callable[[dict[str, Any]], str]:
    """A responder that answers each item's question with its scripted reply."""

    def respond(body: dict[str, Any]) -> str:
        text = user_text(body)
        return next(reply for item, reply in table if item["question"] in text)

    return respond


def single_table() -> list[tuple[dict[str, Any], str]]:
    return [(item, row[-1]) for item, row in zip(single_items(), SINGLE)]


def pair_table() -> list[tuple[dict[str, Any], str]]:
    return [(item, row[-1]) for item, row in zip(pair_items(), PAIRS)]


def decoded(part: Mapping[str, Any]) -> np.ndarray:
    """The pixels of an ``image_url`` part (a base64 data URL)."""
    data = part["image_url"]["url"].split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def pixels(data: bytes | Path) -> np.ndarray:
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    return np.asarray(Image.open(source).convert("RGB"))


def run_openai(capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, data: Path, out: Path) -> Any:
    args = [
        "run",
        "a1",
        "--model",
        "openai:fake-model",
        "--api-base",
        server.url,
        "--data",
        data,
        "--out",
        out,
    ]
    code, _, err = qbench(capsys, *args)
    assert code == 0, err
    (run,) = find_runs([out])
    return run


def offline_metrics(
    capsys: pytest.CaptureFixture[str], table: list[tuple[dict[str, Any], str]], folder: Path
) -> dict[str, Any]:
    """``qbench import a1`` of the same replies, saved the way the authors' script saves them."""
    saved = folder / "saved_dev.json"
    saved.write_text(json.dumps([dict(item, response=reply) for item, reply in table]))
    code, _, err = qbench(capsys, "import", "a1", saved, "--model", "saved", "--out", folder / "imported")
    assert code == 0, err
    (run,) = find_runs([folder / "imported"])
    return run.metrics()


def test_llvisionqa_over_http_sends_the_official_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = single_file(tmp_path)
    with FakeOpenAIServer(replying(single_table())) as server:
        run = run_openai(capsys, server, data, tmp_path / "runs")
    assert len(server.bodies) == 8
    body = next(b for b in server.bodies if "Question 3 " in user_text(b))
    (message,) = body["messages"]
    image, text = message["content"]
    assert image["type"] == "image_url" and text == {
        "type": "text",
        "text": "Question 3 about the single image?\n"
        "Choose between one of the options as follows:\n"
        "A. Noise\nB. Blur\nC. Overexposure\nD. Underexposure\n",
    }
    assert np.array_equal(
        decoded(image), pixels(tmp_path / "img_3.png")
    )  # lossless, as decoded from the file
    metrics = run.metrics()
    assert {k: metrics[k] for k in SINGLE_EXPECTED} == pytest.approx(SINGLE_EXPECTED)
    offline = offline_metrics(capsys, single_table(), tmp_path)
    assert {k: metrics[k] for k in ACCURACY_KEYS} == {k: offline[k] for k in ACCURACY_KEYS}


def test_hf_parquet_single_over_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = hf_rows(single_items(), pair=False)
    folder = write_hf_folder(tmp_path / "Q-Bench-HF", {"dev": rows})
    with FakeOpenAIServer(replying(single_table())) as server:
        run = run_openai(capsys, server, folder, tmp_path / "runs")
    body = next(b for b in server.bodies if "Question 5 " in user_text(b))
    image, text = body["messages"][0]["content"]
    assert text["text"].endswith("A. High\nB. Low\nC. Medium\n")  # the "N/A" padding is never shown
    assert np.array_equal(decoded(image), pixels(rows[5]["image"]["bytes"]))
    metrics = run.metrics()
    assert {k: metrics[k] for k in SINGLE_EXPECTED} == pytest.approx(SINGLE_EXPECTED)


def test_hf_parquet_pairs_send_both_images_in_order_with_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = hf_rows(pair_items(), pair=True)
    folder = write_hf_folder(tmp_path / "Q-Bench2-HF", {"dev": rows})
    with FakeOpenAIServer(replying(pair_table())) as server:
        run = run_openai(capsys, server, folder, tmp_path / "runs")
    body = next(b for b in server.bodies if "Question 0 " in user_text(b))
    first_label, first, second_label, second, text = body["messages"][0]["content"]
    assert (first_label["text"], second_label["text"]) == ("The first image:", "The second image:")
    assert np.array_equal(decoded(first), pixels(rows[0]["image1"]["bytes"]))
    assert np.array_equal(decoded(second), pixels(rows[0]["image2"]["bytes"]))
    assert text["text"] == (
        "Question 0 about the two images?\nChoose between one of the options as follows:\n"
        "A. More blurry\nB. Clearer\nC. About the same\n"
    )
    metrics = run.metrics()
    assert {k: metrics[k] for k in PAIR_EXPECTED} == pytest.approx(PAIR_EXPECTED)
    offline = offline_metrics(capsys, pair_table(), tmp_path)
    keys = [k for k in PAIR_EXPECTED if k.startswith("accuracy")]
    assert {k: metrics[k] for k in keys} == {k: offline[k] for k in keys}

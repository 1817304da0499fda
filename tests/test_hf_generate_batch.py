"""Batched A1 generation gives, for every tiny model family, exactly the answers of one request at a time.

The batch really runs as one processor call and one ``generate`` (recorded, since the adapter retries a
failed batch one by one, which would make any comparison pass); prompts differ in length and images in size,
so rows are left padded. A row that ends early is cut at its own end of sequence, which is checked with an
end-of-sequence token that one row reaches at its second step and a pad token that decodes to a real word.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tiny_models  # noqa: E402
from qbench.models import hf  # noqa: E402
from qbench.models.base import load_model  # noqa: E402
from qbench.tasks import prompts  # noqa: E402
from qbench.types import Request  # noqa: E402

pytestmark = pytest.mark.hf

MAX_NEW = 8
QUESTIONS = [
    ("Is the image blurry?", ("Yes", "No")),
    ("How is the clarity of the image?", ("High", "Medium", "Low")),
    (
        "What is the main distortion of this picture, if there is any at all?",
        ("Noise", "Blur", "Motion", "Low"),
    ),
    ("Is the color vivid?", ("Yes", "No")),
    ("Which part is the clearest?", ("The sky", "The face", "The background")),
]


def picture(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def a1_requests() -> list[Request]:
    """Official A1 prompts of different lengths on images of different sizes, a pair among them."""
    sizes = [(48, 64), (64, 40), (30, 30), (56, 56), (40, 90)]
    requests = [
        Request(
            content=prompts.a1_content(q, opts, 1),
            images=(picture(i, sizes[i]),),
            image_keys=(f"k{i}",),
            max_new_tokens=MAX_NEW,
        )
        for i, (q, opts) in enumerate(QUESTIONS)
    ]
    pair = Request(
        content=prompts.a1_content("Which image is sharper?", ("The first", "The second"), 2),
        images=(picture(7, (50, 50)), picture(8, (36, 60))),
        image_keys=("k7", "k8"),
        max_new_tokens=MAX_NEW,
    )
    return [*requests[:2], pair, *requests[2:]]


def fresh(family: str) -> Any:
    """A model of its own for each test (some tests change its generation config)."""
    return load_model(f"hf:{tiny_models.cached(family)}", {})


def record_batches(model: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    encode = model._encode

    def recording(texts: list[str], images: list[list[Any]], processor: Any = None) -> Any:
        sizes.append(len(texts))
        return encode(texts, images, processor)

    monkeypatch.setattr(model, "_encode", recording)
    return sizes


@pytest.mark.parametrize("family", tiny_models.FAMILIES)
def test_batched_answers_equal_batch_one_answers(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fresh(family)
    requests = a1_requests()
    lengths = {int(model._encode_requests([r])["input_ids"].shape[1]) for r in requests}
    assert len(lengths) > 1, "rows of different lengths, so the batch is left padded"
    sizes = record_batches(model, monkeypatch)
    batched = model.generate(requests)
    one_by_one = family in hf.GENERATE_ONE_AT_A_TIME
    assert sizes == ([1] * len(requests) if one_by_one else [len(requests)])
    alone = [model.generate([r])[0] for r in requests]
    assert batched == alone
    assert len(set(alone)) > 1, "different prompts give different answers, so the comparison means something"

    # the same batch pre-processed by the runner's preparing threads
    if not one_by_one:
        with ThreadPoolExecutor(2) as pool:
            prepared = list(pool.map(lambda rs: model.prepare("generate", rs), [requests[:3], requests[3:]]))
        got = model.generate(requests[:3], prepared=prepared[0]) + model.generate(
            requests[3:], prepared=prepared[1]
        )
        assert got == alone


def raw_tokens(model: Any, request: Request) -> list[int]:
    """The new tokens of transformers' own greedy generate for one request."""
    batch = model._encode_requests([request])
    with torch.inference_mode():
        out = model.model.generate(
            **batch, max_new_tokens=MAX_NEW, do_sample=False, pad_token_id=model.tokenizer.pad_token_id
        )
    return out[0, batch["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "idefics3"])
def test_a_row_that_ends_early_is_cut_at_its_own_end(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fresh(family)
    requests = a1_requests()
    tokens = [raw_tokens(model, r) for r in requests]
    # an end-of-sequence token that the first request produces at its second step (and not before), while
    # another request runs on past it: in the batch, the first row is then padded for several steps
    first = tokens[0]
    eos = first[1]
    assert eos != first[0]
    assert any(eos not in row[:4] for row in tokens[1:]), "another row must go on after the first ends"
    model.model.generation_config.eos_token_id = eos
    # a pad token that decodes to a real word: without the cut, the padding would show in the answer
    word = model.tokenizer(" good", add_special_tokens=False)["input_ids"][0]
    assert word != eos
    model.tokenizer.pad_token = model.tokenizer.convert_ids_to_tokens(word)

    batched = model.generate(requests)
    alone = [model.generate([r])[0] for r in requests]
    assert batched == alone
    assert batched[0] == model.tokenizer.decode([first[0]], skip_special_tokens=True).strip()

    # the check can fail: without cutting at the end of sequence, the padded row differs
    monkeypatch.setattr(hf, "cut_at_eos", lambda rows, ids: rows)
    assert model.generate(requests)[0] != batched[0]


def test_cut_at_eos_keeps_each_row_up_to_its_own_first_end() -> None:
    rows = [[5, 6, 2, 9, 9], [5, 2], [7, 8, 9], [3, 1, 1]]
    assert hf.cut_at_eos(rows, {2, 3}) == [[5, 6], [5], [7, 8, 9], []]
    assert hf.cut_at_eos(rows, set()) == rows


def test_a_family_on_the_fallback_list_generates_one_at_a_time_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = fresh("llava")
    requests = a1_requests()
    expected = model.generate(requests)
    monkeypatch.setitem(hf.GENERATE_ONE_AT_A_TIME, "llava", "batched answers differ (test)")
    sizes = record_batches(model, monkeypatch)
    with caplog.at_level(logging.INFO, logger="qbench"):
        assert model.prepare("generate", requests) is None
        assert model.generate(requests) == expected
        model.generate(requests[:2])
    assert sizes == [1] * (len(requests) + 2)
    said = [r.getMessage() for r in caplog.records if "one request at a time" in r.getMessage()]
    assert len(said) == 1 and "batched answers differ (test)" in said[0]

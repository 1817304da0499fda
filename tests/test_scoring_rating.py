"""Generated ratings: the published prompts verbatim, the strict parser on thinking blocks, JSON and garbage,
and the sampling settings and per-image spread."""

from __future__ import annotations

import math

import pytest

from qbench.scoring.rating import PROMPTS, parse_rating
from qbench.scoring.samples import PUBLISHED, aggregate, sample_settings

VQ = PROMPTS["vq-r1"]
FAST = PROMPTS["vq-r1-fast"]
QI = PROMPTS["q-insight"]
PLAIN = PROMPTS["plain"]


def test_prompts_are_the_published_texts() -> None:
    # VisualQuality-R1 README, "with thinking": question + instruction
    assert VQ.text.startswith(
        "You are doing the image quality assessment task. Here is the question: What is"
    )
    assert VQ.text.endswith(
        "First output the thinking process in <think> </think> tags and then output the final answer with only "
        "one score in <answer> </answer> tags."
    )
    assert (
        "rounded to two decimal places, with 1 representing very poor quality and 5 representing" in VQ.text
    )
    assert FAST.text.endswith(
        "excellent quality. Output the final answer with only one score in <answer> </answer> tags."
    )
    assert VQ.image_first and FAST.image_first and VQ.system is None
    # Q-Insight demo_score.py: system prompt, text before the image, JSON rating
    assert QI.system is not None and QI.system.endswith(
        "<think> reasoning process here </think><answer> answer here </answer>"
    )
    assert QI.text.endswith(
        'Return the final answer in JSON format with the following keys: "rating": The score.'
    )
    assert not QI.image_first
    assert len({p.version for p in PROMPTS.values()}) == len(PROMPTS)


@pytest.mark.parametrize(
    ("reply", "prompt", "rating", "form"),
    [
        ("<think>It is sharp, 2 faces. Score 1?</think><answer>3.75</answer>", VQ, 3.75, "number"),
        ("<think>x</think><answer>2</answer> then <answer>4.5</answer>", VQ, 4.5, "number"),  # the last one
        ("<answer> The score is 4.25 out of 5 </answer>", FAST, 4.25, "number"),
        ('<think>noise</think><answer>{"rating": 3.42}</answer>', QI, 3.42, "json-rating"),
        ('<answer>```json\n{"rating": "4.10"}\n```</answer>', QI, 4.10, "json-rating"),
        ("<answer>2.5</answer>", QI, 2.5, "number"),
        ("4", PLAIN, 4.0, "number"),
        (" 3.5. ", PLAIN, 3.5, "number"),
        ("<answer>1</answer>", PLAIN, 1.0, "number"),
        ("<answer>5.00</answer>", VQ, 5.0, "number"),
    ],
)
def test_parsed_ratings(reply: str, prompt: object, rating: float, form: str) -> None:
    got = parse_rating(reply, prompt)  # type: ignore[arg-type]
    assert got.ok and got.rating == pytest.approx(rating) and got.form == form


@pytest.mark.parametrize(
    ("reply", "prompt", "reason"),
    [
        ("", VQ, "empty reply"),
        ("   ", PLAIN, "empty reply"),
        (
            "<think>I think it is 4</think> The score is 4.",
            VQ,
            "no <answer>",
        ),  # no guessing from the thinking
        ("<think>long</think><answer>3.", VQ, "unclosed <answer>"),  # cut off by max_new_tokens
        ("<answer></answer>", VQ, "empty <answer>"),
        ("<answer>excellent</answer>", VQ, "no number"),
        ("<answer>7.5</answer>", VQ, "outside 1..5"),
        ("<answer>0.99</answer>", FAST, "outside 1..5"),
        ("<answer>-3</answer>", VQ, "outside 1..5"),
        ('<answer>{"score": 3}</answer>', QI, "no 'rating'"),
        ('<answer>{"rating": [3]}</answer>', QI, "not a number"),
        ('<answer>{"rating": "high"}</answer>', QI, "not a number"),
        ('<answer>{"rating": 3.4</answer>', QI, "does not parse"),
        ('<answer>{"rating": true}</answer>', QI, "not a number"),
        ("I would say 4", PLAIN, "not one number"),
        ("3 or 4", PLAIN, "not one number"),
        ("\x00\xff garbage {{{", PLAIN, "not one number"),
    ],
)
def test_unparsed_replies_say_why_and_have_no_rating(reply: str, prompt: object, reason: str) -> None:
    got = parse_rating(reply, prompt)  # type: ignore[arg-type]
    assert not got.ok and got.rating is None
    assert reason in got.reason


def test_greedy_by_default_and_published_sampling_with_seeds() -> None:
    [greedy] = sample_settings("vq-r1", 0)
    assert greedy.greedy and greedy.hf_kwargs() == {"do_sample": False}
    settings = sample_settings("q-insight", 3)
    assert [s.seed for s in settings] == [42, 43, 44]
    assert all((s.temperature, s.top_k, s.top_p) == (1.0, 50, 0.95) for s in settings)
    assert settings[0].hf_kwargs() == {"do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 0.95}
    assert settings[1].openai_kwargs() == {
        "temperature": 1.0,
        "top_p": 0.95,
        "seed": 43,
        "extra_body": {"top_k": 50},
    }
    assert PUBLISHED["vq-r1"].top_p == 1.0 and PUBLISHED["vq-r1"].top_k == 50
    with pytest.raises(ValueError):
        sample_settings("vq-r1", -1)


def test_spread_counts_unparsed_and_never_imputes() -> None:
    spread = aggregate([3.0, None, 4.0, 5.0])
    assert spread.mean == pytest.approx(4.0) and spread.std == pytest.approx(1.0) and spread.n == 3
    assert spread.unparsed == 1
    one = aggregate([None, 2.5])
    assert (one.mean, one.std, one.n, one.unparsed) == (2.5, 0.0, 1, 1)
    none = aggregate([None, None])
    assert math.isnan(none.mean) and none.n == 0 and none.unparsed == 2

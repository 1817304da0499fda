"""Tests for the LLM-judge prompts and parsing (protocol.md 1.6, 3, 8.5, 8.6).

The snapshot tests spell the whole prompt out on purpose: a diff here means the judge sees a different
text, which must come with a new A1_JUDGE_VERSION / A2_JUDGE_VERSION.
"""

import pytest

from qbench.tasks.judge import (
    A1_JUDGE_SYSTEM,
    A1_JUDGE_VERSION,
    A2_DIMENSIONS,
    A2_JUDGE_SYSTEM,
    A2_JUDGE_VERSION,
    a1_judge_messages,
    a1_majority,
    a1_vote_mean,
    a2_distribution,
    a2_judge_messages,
    parse_a1_verdict,
    parse_a2_score,
)

# --- versions and system prompts -------------------------------------------------------------------------


def test_versions() -> None:
    assert A1_JUDGE_VERSION == "a1-judge-v1"
    assert A2_JUDGE_VERSION == "a2-judge-v1"


def test_a1_system_prompt_snapshot() -> None:
    assert A1_JUDGE_SYSTEM == (
        "You are a helpful assistant that grades answers related to visual video quality. There are a lot "
        "of special terms or keywords related to video processing and photography. You will pay attention to "
        "the context of `quality evaluation' when grading."
    )


def test_a2_system_prompt_snapshot() -> None:
    assert A2_JUDGE_SYSTEM == "You are a helpful assistant."


# --- A1 prompt ----------------------------------------------------------------------------------------

A1_EXPECTED_USER = (
    "Assuming you are a grader, you will now be provided with a question [How is the lighting of this "
    "building?] and a set of options [B. Low, A. High, C. Medium] with option [B. Low] being the correct "
    "answer. Additionally, there will be an answer [The lighting is rather dim.] provided by a respondent. "
    "Please determine whether the respondent's answer is correct considering the context of the question. "
    "Even if the word choice is not completely the same, you can decide based on the given options and see "
    "whether the one in the answer is close enough to the given correct answer, The result is 1 if the "
    "answer is correct and else the result is 0. Please only provide the result in the following format: "
    "Result:"
)


def test_a1_judge_messages_snapshot() -> None:
    messages = a1_judge_messages(
        "How is the lighting of this building?",
        ["High", "Low", "Medium", "N/A"],  # HF dev row 0 (protocol 1.3), with its padding
        "Low",
        "The lighting is rather dim.\n",
    )
    assert messages == [
        {"role": "system", "content": A1_JUDGE_SYSTEM},
        {"role": "user", "content": A1_EXPECTED_USER},
    ]


def test_a1_correct_option_is_listed_first_with_its_display_letter() -> None:
    user = a1_judge_messages("Is the image blurry?", ["Yes", "No"], "No", "B")[1]["content"]
    assert "a set of options [B. No, A. Yes] with option [B. No] being the correct answer" in user
    assert "an answer [B] provided" in user


def test_a1_correct_answer_must_be_an_option() -> None:
    with pytest.raises(ValueError, match="not one of the options"):
        a1_judge_messages("Is the image blurry?", ["Yes", "No"], "B", "B")  # a letter, not the text
    with pytest.raises(ValueError):
        a1_judge_messages("Is the image blurry?", ["Yes", "No", "N/A"], "N/A", "B")


def test_a1_placeholders_are_filled_once() -> None:
    # A reply quoting the template's own placeholders must reach the judge unchanged.
    user = a1_judge_messages("Q?", ["Yes", "No"], "Yes", "[question] [options[0]]")[1]["content"]
    assert "an answer [[question] [options[0]]] provided" in user
    assert "a question [Q?]" in user


# --- A2 prompts ---------------------------------------------------------------------------------------

DESC = "The image is sharp with vivid colors."
GOLD = "The photo is slightly blurry and noisy."

A2_EXPECTED_USER = {
    "completeness": (
        "Evaluate whether the description [The image is sharp with vivid colors.] completely includes the "
        "low-level visual information in the reference description [The photo is slightly blurry and "
        "noisy.]. Please rate score 2 for completely or almost completely including reference "
        "information, 0 for not including at all, 1 for including part of the information or similar "
        "description. Please only provide the result in the following format: Score:"
    ),
    "precision": (
        "Evaluate whether output [The image is sharp with vivid colors.] precisely reflects reference [The "
        "photo is slightly blurry and noisy.]. Please rate score 2 for totally no controversial low-level "
        "descriptions, 1 for less controversial low-level descriptions than matched descriptions, and 0 for "
        "more controversial low-level descriptions than matched descriptions. Please only provide the result "
        "in the following format: Score:"
    ),
    "relevance": (
        "Evaluate whether the description [The image is sharp with vivid colors.] is relevant to the "
        "low-level visual information, which may include blur, noise, exposure, artifact, color, lighting, "
        "focus, composition, etc. Please rate score 2 for completely relevant, 1 for partly relevant, and 0 "
        "for totally irrelevant. Please only provide the result in the following format: Score:"
    ),
}


def test_a2_dimensions() -> None:
    assert A2_DIMENSIONS == ("completeness", "precision", "relevance")


@pytest.mark.parametrize("dimension", A2_DIMENSIONS)
def test_a2_judge_messages_snapshot(dimension: str) -> None:
    assert a2_judge_messages(dimension, DESC, GOLD) == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": A2_EXPECTED_USER[dimension]},
    ]


def test_a2_unknown_dimension() -> None:
    with pytest.raises(ValueError, match="unknown A2 dimension"):
        a2_judge_messages("preciseness", DESC, GOLD)


def test_a2_placeholders_are_filled_once() -> None:
    user = a2_judge_messages("completeness", "see [GOLDEN_DESC]", GOLD)[1]["content"]
    assert "the description [see [GOLDEN_DESC]] completely includes" in user


# --- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Result: 1", 1, id="one"),
        pytest.param("Result: 0", 0, id="zero"),
        pytest.param("result: 1", 1, id="lower-case"),
        pytest.param("RESULT : 0", 0, id="upper-case-space-before-colon"),
        pytest.param("Result:1", 1, id="no-space"),
        pytest.param("Result: 1.", 1, id="trailing-period"),
        pytest.param("  Result:   0 \n", 0, id="surrounding-whitespace"),
        pytest.param("**Result:** 1", 1, id="markdown-bold"),
        pytest.param("Result：1", 1, id="full-width-colon"),
        pytest.param("The answer matches the correct option. Result: 1", 1, id="text-before"),
        pytest.param("Result: 1\nThe respondent chose the right option.", 1, id="text-after"),
        pytest.param("Result: 1. Result: 1", 1, id="repeated-same"),
        pytest.param("1", 1, id="bare-number"),
        pytest.param("0.", 0, id="bare-number-period"),
        pytest.param("Result: 1 or Result: 0", None, id="conflicting"),
        pytest.param("Result: 2", None, id="out-of-range"),
        pytest.param("Result: 10", None, id="two-digits"),
        pytest.param("Result: 0.5", None, id="fraction"),
        pytest.param("Result:", None, id="no-value"),
        pytest.param("The answer is correct.", None, id="no-result"),
        pytest.param("The result is 1", None, id="no-colon"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_a1_verdict(text: str, expected: int | None) -> None:
    assert parse_a1_verdict(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Score: 2", 2, id="two"),
        pytest.param("Score: 1", 1, id="one"),
        pytest.param("Score: 0", 0, id="zero"),
        pytest.param("score:2", 2, id="lower-case-no-space"),
        pytest.param("Score: 2.", 2, id="trailing-period"),
        pytest.param("**Score:** 1", 1, id="markdown"),
        pytest.param("The description covers most points.\nScore: 2", 2, id="text-before"),
        pytest.param("2", 2, id="bare-number"),
        pytest.param("Score: 3", None, id="out-of-range"),
        pytest.param("Score: 1.5", None, id="fraction"),
        pytest.param("Score: 12", None, id="two-digits"),
        pytest.param("Score: 1, Score: 2", None, id="conflicting"),
        pytest.param("Score: 2 and Score: 3", None, id="one-invalid"),
        pytest.param("Result: 1", None, id="wrong-label"),
        pytest.param("I would rate it highly.", None, id="no-score"),
    ],
)
def test_parse_a2_score(text: str, expected: int | None) -> None:
    assert parse_a2_score(text) == expected


# --- A1 aggregation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        pytest.param([1, 1, 1, 1, 1], True, id="5-of-5"),
        pytest.param([1, 1, 1, 0, 0], True, id="3-of-5"),
        pytest.param([1, 1, 0, 0, 0], False, id="2-of-5"),
        pytest.param([0, 0, 0, 0, 0], False, id="0-of-5"),
        pytest.param([1, 1, 1, None, None], True, id="3-ones-2-invalid"),
        pytest.param([1, 0, 0, 0, None], False, id="1-one-1-invalid-cannot-reach-3"),
        pytest.param([1, 1, 0, 0, None], None, id="invalid-round-could-decide"),
        pytest.param([1, 1, None, None, None], None, id="fewer-than-3-valid"),
        pytest.param([0, 0, None, None, None], None, id="fewer-than-3-valid-zeros"),
        pytest.param([None] * 5, None, id="no-valid-round"),
        pytest.param([], None, id="no-round"),
        pytest.param([1, 1, 1], True, id="three-rounds-all-one"),
        pytest.param([1, 1, 0], False, id="three-rounds-two-ones"),
    ],
)
def test_a1_majority(verdicts: list[int | None], expected: bool | None) -> None:
    assert a1_majority(verdicts) is expected


def test_a1_majority_rejects_unparsed_values() -> None:
    with pytest.raises(ValueError):
        a1_majority([1, 2, 1])


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        pytest.param([1, 1, 1, 0, 0], 0.6, id="five-valid"),
        pytest.param([1, None, 0, None, None], 0.5, id="invalid-rounds-dropped"),
    ],
)
def test_a1_vote_mean(verdicts: list[int | None], expected: float) -> None:
    assert a1_vote_mean(verdicts) == pytest.approx(expected)


def test_a1_vote_mean_without_valid_rounds() -> None:
    assert a1_vote_mean([None, None]) is None


# --- A2 aggregation -----------------------------------------------------------------------------------


def test_a2_distribution_official_completeness_example() -> None:
    # InternLM-XComposer-VL completeness: P0/P1/P2 19.94/51.82/28.24% -> 1.08 (protocol 3).
    scores = [0] * 1994 + [1] * 5182 + [2] * 2824
    result = a2_distribution(scores)
    assert result["n"] == 10000
    assert result["p0"] == pytest.approx(0.1994)
    assert result["p1"] == pytest.approx(0.5182)
    assert result["p2"] == pytest.approx(0.2824)
    assert result["mean"] == pytest.approx(1.083)
    assert round(result["mean"], 2) == 1.08


def test_a2_distribution_drops_invalid_rounds() -> None:
    result = a2_distribution([2, None, 1, 2, None])
    assert result == {
        "p0": 0.0,
        "p1": pytest.approx(1 / 3),
        "p2": pytest.approx(2 / 3),
        "mean": 5 / 3,
        "n": 3,
    }


def test_a2_distribution_without_valid_rounds() -> None:
    assert a2_distribution([None, None]) == {"p0": None, "p1": None, "p2": None, "mean": None, "n": 0}
    assert a2_distribution([])["n"] == 0


def test_a2_distribution_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        a2_distribution([0, 3])

"""Table tests for the deterministic A1 answer extraction (protocol.md 8.4, clauses a-e)."""

import pytest

from qbench.tasks.answers import (
    RULES,
    RULES_VERSION,
    Extraction,
    extract_choice,
    letters,
    valid_options,
)

# Option sets used below, in display order.
LEVEL = ["High", "Low", "Medium"]  # the HF dev row 0 of protocol 1.3, without its padding
LEVEL_PADDED = ["High", "Low", "Medium", "N/A"]  # the same item as the HF format stores it
YES_NO = ["Yes", "No"]
CLARITY = ["Clear", "Unclear"]
BLUR = ["Blurry", "Very blurry", "Sharp"]
DISTORTION = ["Noise", "Motion blur", "Overexposure", "Underexposure"]
SHARP_BLURRY = ["Sharp", "Blurry"]

CASES = [
    # --- clause a: empty replies -------------------------------------------------------------------
    ("", LEVEL, None, "empty", "empty-string"),
    ("   \n\t ", LEVEL, None, "empty", "whitespace-only"),
    ("****", LEVEL, None, "empty", "emphasis-only"),
    # --- clause b: every letter form -----------------------------------------------------------------
    ("B", LEVEL, "B", "leading-letter", "letter-alone"),
    ("  B \n", LEVEL, "B", "leading-letter", "letter-alone-with-whitespace"),
    ("B.", LEVEL, "B", "leading-letter", "letter-dot"),
    ("B)", LEVEL, "B", "leading-letter", "letter-paren"),
    ("B:", LEVEL, "B", "leading-letter", "letter-colon"),
    ("(B)", LEVEL, "B", "leading-letter", "round-brackets"),
    ("[B]", LEVEL, "B", "leading-letter", "square-brackets"),
    ("**B**", LEVEL, "B", "leading-letter", "bold"),
    ("*B*", LEVEL, "B", "leading-letter", "italic"),
    ("__B__", LEVEL, "B", "leading-letter", "underscore-bold"),
    ("`B`", LEVEL, "B", "leading-letter", "backticks"),
    ("**B.** Low", LEVEL, "B", "leading-letter", "bold-letter-dot-then-text"),
    ("b", LEVEL, "B", "leading-letter", "lower-case-whole-response"),
    ("(b)", LEVEL, "B", "leading-letter", "lower-case-bracketed"),
    ("[c] medium", LEVEL, "C", "leading-letter", "lower-case-square-bracketed-then-text"),
    ("B. Low", LEVEL, "B", "leading-letter", "letter-dot-option-text"),
    ("B) Low", LEVEL, "B", "leading-letter", "letter-paren-option-text"),
    ("B Low", LEVEL, "B", "leading-letter", "letter-space-own-option-text"),
    ("B low.", LEVEL, "B", "leading-letter", "letter-space-own-text-any-case-punctuated"),
    ("C Medium!", LEVEL, "C", "leading-letter", "letter-space-own-text-exclamation"),
    ("B. No, because option A is wrong", LEVEL, "B", "leading-letter", "letter-dot-anything-follows"),
    ("A. High, not B. Low", LEVEL, "A", "leading-letter", "only-the-start-counts"),
    ("(C) The lighting is medium.", LEVEL, "C", "leading-letter", "bracketed-then-sentence"),
    ("B\n\nThe building is dimly lit.", LEVEL, "B", "leading-letter", "letter-alone-on-first-line"),
    ("A", YES_NO, "A", "leading-letter", "yes-no-letter"),
    ("D", LEVEL_PADDED, None, "letter-not-an-option", "padding-slot-letter"),
    ("D. Underexposure", DISTORTION, "D", "leading-letter", "fourth-option"),
    # --- clause b: what is NOT a letter answer -------------------------------------------------------
    ("A blurry photo of a dog", YES_NO, None, "unreadable", "article-a-is-not-a-letter"),
    ("A blurry photo of a dog", SHARP_BLURRY, "B", "option-text", "article-a-then-option-text"),
    ("A or B", LEVEL, None, "unreadable", "a-or-b-hedge"),
    ("B High", LEVEL, "A", "option-text", "letter-space-other-options-text-is-not-a-letter"),
    ("b.", LEVEL, None, "unreadable", "lower-case-letter-dot-is-not-a-letter"),
    ("b) low", LEVEL, "B", "option-text", "lower-case-letter-paren-falls-to-option-text"),
    ("A.I.-generated images look low quality", LEVEL, "B", "option-text", "abbreviation-is-not-a-letter"),
    # --- letters outside the options ---------------------------------------------------------------
    ("D", LEVEL, None, "letter-not-an-option", "d-with-three-options"),
    ("D. High", LEVEL, None, "letter-not-an-option", "d-dot-with-three-options"),
    ("(E)", DISTORTION, None, "letter-not-an-option", "e-bracketed-with-four-options"),
    ("C", YES_NO, None, "letter-not-an-option", "c-for-yes-no"),
    ("The answer is (D).", LEVEL, None, "letter-not-an-option", "explicit-d-with-three-options"),
    # --- clause c: explicit statements ---------------------------------------------------------------
    ("The answer is (C).", LEVEL, "C", "explicit", "answer-is-bracketed"),
    ("The answer is C", LEVEL, "C", "explicit", "answer-is-bare"),
    ("answer: C", LEVEL, "C", "explicit", "answer-colon-lower"),
    ("Answer: C", LEVEL, "C", "explicit", "answer-colon"),
    ("**Answer:** B", LEVEL, "B", "explicit", "answer-colon-bold"),
    ("ANSWER IS B", LEVEL, "B", "explicit", "keywords-any-case"),
    ("The correct answer is: A. High", LEVEL, "A", "explicit", "answer-is-colon"),
    ("I choose option D", DISTORTION, "D", "explicit", "option-d"),
    ("My choice B, since it looks dim.", LEVEL, "B", "explicit", "choice-b"),
    ("The best option is B.", LEVEL, "B", "explicit", "option-is"),
    ("The answer is (b)", LEVEL, "B", "explicit", "answer-is-lower-bracketed"),
    ("Looking at it, the answer is B. Option B fits best.", LEVEL, "B", "explicit", "same-letter-twice"),
    ("Option A is wrong, so the answer is B", LEVEL, None, "unreadable", "two-different-explicit-letters"),
    ("the answer is a low one", LEVEL, "B", "option-text", "lower-case-bare-letter-is-not-explicit"),
    ("Answer: High", LEVEL, "A", "option-text", "answer-colon-then-word-is-not-a-letter"),
    # --- clause d: option texts ----------------------------------------------------------------------
    ("The clarity is high.", LEVEL, "A", "option-text", "sentence-with-option-text"),
    ("LOW", LEVEL, "B", "option-text", "option-text-any-case"),
    ("Medium-level lighting", LEVEL, "C", "option-text", "option-text-before-hyphen"),
    ("The light is high and low.", LEVEL, None, "unreadable", "two-options-mentioned"),
    ("It is highly exposed.", LEVEL, None, "unreadable", "no-partial-word-match"),
    ("No, the image is not blurry.", YES_NO, "B", "option-text", "no-sentence"),
    ("Yes", YES_NO, "A", "option-text", "yes-is-option-text-not-a-letter"),
    ("Yes and no", YES_NO, None, "unreadable", "yes-and-no"),
    ("There is nothing noticeable.", YES_NO, None, "unreadable", "no-inside-other-words"),
    ("The image is clear.", CLARITY, "A", "option-text", "clear-whole-word"),
    ("The image is unclear.", CLARITY, "B", "option-text", "unclear-does-not-count-as-clear"),
    ("Clear? No, it is unclear.", CLARITY, None, "unreadable", "clear-and-unclear-both-present"),
    ("It is very blurry.", BLUR, "B", "option-text", "very-blurry-wins-over-blurry"),
    ("Very  Blurry", BLUR, "B", "option-text", "very-blurry-inner-whitespace"),
    ("It is blurry.", BLUR, "A", "option-text", "blurry-alone"),
    ("Very blurry, or just blurry?", BLUR, None, "unreadable", "blurry-outside-very-blurry-counts"),
    ("It suffers from motion blur.", DISTORTION, "B", "option-text", "multi-word-option"),
    ("The photo is heavily overexposed.", DISTORTION, None, "unreadable", "inflected-form-is-not-the-option"),
    ("The lighting is medium, not n/a.", LEVEL_PADDED, "C", "option-text", "n-a-padding-ignored"),
    ("N/A", LEVEL_PADDED, None, "unreadable", "n-a-reply-is-unreadable"),
    # --- clause e: nothing readable ------------------------------------------------------------------
    ("I cannot tell from this image.", LEVEL, None, "unreadable", "refusal"),
]


@pytest.mark.parametrize(
    ("response", "options", "letter", "rule"),
    [pytest.param(r, o, x, rule, id=case_id) for r, o, x, rule, case_id in CASES],
)
def test_extract_choice(response: str, options: list[str], letter: str | None, rule: str) -> None:
    assert extract_choice(response, options) == Extraction(letter, rule)


def test_case_ids_are_unique_and_cover_every_rule() -> None:
    ids = [case[-1] for case in CASES]
    assert len(ids) == len(set(ids))
    assert {case[3] for case in CASES} == set(RULES)


def test_readable_property() -> None:
    assert Extraction("A", "leading-letter").readable
    assert not Extraction(None, "unreadable").readable


def test_options_are_not_mutated_and_result_is_deterministic() -> None:
    options = list(LEVEL_PADDED)
    first = extract_choice("The clarity is high.", options)
    assert options == LEVEL_PADDED
    assert extract_choice("The clarity is high.", options) == first


@pytest.mark.parametrize(("n", "expected"), [(0, ()), (2, ("A", "B")), (4, ("A", "B", "C", "D"))])
def test_letters(n: int, expected: tuple[str, ...]) -> None:
    assert letters(n) == expected


@pytest.mark.parametrize("n", [-1, 27])
def test_letters_rejects_impossible_counts(n: int) -> None:
    with pytest.raises(ValueError):
        letters(n)


def test_valid_options_drops_padding_but_keeps_positions() -> None:
    assert valid_options(["High", "Low", "Medium", "N/A"]) == {"A": "High", "B": "Low", "C": "Medium"}
    assert valid_options(["Yes", "No", "N/A", "N/A"]) == {"A": "Yes", "B": "No"}


def test_rules_version() -> None:
    assert RULES_VERSION == "a1-extract-v1"

"""LLM-judge prompts and verdict parsing for A1 and A2 (protocol.md 1.6, 3, 8.5, 8.6).

Pure functions only: they build OpenAI-style chat messages and read the judge's replies; sending the
messages, sampling, retries and caching belong to the executors.

The prompt texts are the protocol's reconstructions of the official ones (marked UNVERIFIED there) and
are kept verbatim as module constants.  Any change to a text, to how its placeholders are filled, or to
how replies are parsed must bump :data:`A1_JUDGE_VERSION` / :data:`A2_JUDGE_VERSION`, which run manifests
record (protocol 8), so old numbers never silently change meaning.

How placeholders are filled (a project decision; the sources give only the bracketed templates):
the square brackets stay as delimiters and the value goes inside them, e.g. ``[MLLM_DESC]`` becomes
``[The image is blurry.]`` -- the same convention as the MedQ-Bench derivative of the completeness prompt
(protocol 3).  Filling is a single pass, so a value that itself contains ``[GOLDEN_DESC]`` or
``[answer]`` is never substituted again.
"""

import re
from collections.abc import Mapping, Sequence
from typing import TypedDict

from qbench.tasks.answers import valid_options

__all__ = [
    "A1_JUDGE_MIN_VOTES",
    "A1_JUDGE_ROUNDS",
    "A1_JUDGE_SYSTEM",
    "A1_JUDGE_USER_TEMPLATE",
    "A1_JUDGE_VERSION",
    "A2_DIMENSIONS",
    "A2_JUDGE_ROUNDS",
    "A2_JUDGE_SYSTEM",
    "A2_JUDGE_TEMPLATES",
    "A2_JUDGE_VERSION",
    "A2Distribution",
    "a1_judge_messages",
    "a1_majority",
    "a1_vote_mean",
    "a2_distribution",
    "a2_judge_messages",
    "parse_a1_verdict",
    "parse_a2_score",
]

A1_JUDGE_VERSION = "a1-judge-v1"
A2_JUDGE_VERSION = "a2-judge-v1"

#: Rounds per item (protocol 1.6 "5-round GPT-assisted evaluation", 8.5).
A1_JUDGE_ROUNDS = 5
#: An item is correct when at least this many valid rounds say 1 (protocol 8.5).
A1_JUDGE_MIN_VOTES = 3
#: Rounds per (item, dimension) (protocol 3 "we repeat 5 rounds for each single evaluation", 8.6).
A2_JUDGE_ROUNDS = 5

# --- A1 (protocol 1.6) --------------------------------------------------------------------------------

# Verbatim from protocol 1.6 (the lab's Q-Bench-Video judge system prompt; "video" is in the original).
A1_JUDGE_SYSTEM = (
    "You are a helpful assistant that grades answers related to visual video quality. "
    "There are a lot of special terms or keywords related to video processing and photography. "
    "You will pay attention to the context of `quality evaluation' when grading."
)

# Verbatim from protocol 1.6, including the original's comma splice before "The result is 1".
A1_JUDGE_USER_TEMPLATE = (
    "Assuming you are a grader, you will now be provided with a question [question] and a set of options "
    "[options] with option [options[0]] being the correct answer. Additionally, there will be an answer "
    "[answer] provided by a respondent. Please determine whether the respondent's answer is correct "
    "considering the context of the question. Even if the word choice is not completely the same, you can "
    "decide based on the given options and see whether the one in the answer is close enough to the given "
    "correct answer, The result is 1 if the answer is correct and else the result is 0. Please only provide "
    "the result in the following format: Result:"
)

# --- A2 (protocol 3) ----------------------------------------------------------------------------------

A2_JUDGE_SYSTEM = "You are a helpful assistant."

A2_DIMENSIONS = ("completeness", "precision", "relevance")

# Verbatim from protocol 3 (completeness corroborated; precision and relevance UNVERIFIED there).
A2_COMPLETENESS_TEMPLATE = (
    "Evaluate whether the description [MLLM_DESC] completely includes the low-level visual information in "
    "the reference description [GOLDEN_DESC]. Please rate score 2 for completely or almost completely "
    "including reference information, 0 for not including at all, 1 for including part of the information "
    "or similar description. Please only provide the result in the following format: Score:"
)
A2_PRECISION_TEMPLATE = (
    "Evaluate whether output [MLLM_DESC] precisely reflects reference [GOLDEN_DESC]. Please rate score 2 for "
    "totally no controversial low-level descriptions, 1 for less controversial low-level descriptions than "
    "matched descriptions, and 0 for more controversial low-level descriptions than matched descriptions. "
    "Please only provide the result in the following format: Score:"
)
# The relevance prompt has no [GOLDEN_DESC]: relevance is judged against low-level attributes in general.
A2_RELEVANCE_TEMPLATE = (
    "Evaluate whether the description [MLLM_DESC] is relevant to the low-level visual information, "
    "which may include blur, noise, exposure, artifact, color, lighting, focus, composition, etc. Please "
    "rate score 2 for completely relevant, 1 for partly relevant, and 0 for totally irrelevant. Please only "
    "provide the result in the following format: Score:"
)

A2_JUDGE_TEMPLATES: Mapping[str, str] = {
    "completeness": A2_COMPLETENESS_TEMPLATE,
    "precision": A2_PRECISION_TEMPLATE,
    "relevance": A2_RELEVANCE_TEMPLATE,
}


# --- prompt building ----------------------------------------------------------------------------------


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Put each value inside its ``[placeholder]`` brackets, in one pass (see the module docstring)."""
    names = sorted(values, key=len, reverse=True)  # "options[0]" before "options"
    pattern = re.compile(r"\[(" + "|".join(re.escape(name) for name in names) + r")\]")
    return pattern.sub(lambda match: f"[{values[match[1]]}]", template)


def _messages(system: str, user: str) -> list[dict[str, str]]:
    """OpenAI-style chat messages: one system turn, one user turn."""
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _judge_options(options: Sequence[str], correct: str) -> tuple[str, str]:
    """Render the option list for the A1 judge: the correct option first (protocol 1.6), then the rest.

    Each option keeps its display letter ("B. Low, A. High, C. Medium"), because replies such as "B." are
    correct answers (protocol 1.6) and the judge cannot map a letter back to an option once the correct
    one has been moved to the front.  ``"N/A"`` padding is left out.  Returns (option list, correct option).
    """
    real = valid_options(options)
    correct_letters = [letter for letter, text in real.items() if text == correct]
    if not correct_letters:
        raise ValueError(f"correct answer {correct!r} is not one of the options {list(real.values())}")
    first = correct_letters[0]
    ordered = [first] + [letter for letter in real if letter != first]
    rendered = [f"{letter}. {real[letter]}" for letter in ordered]
    return ", ".join(rendered), rendered[0]


def a1_judge_messages(question: str, options: Sequence[str], correct: str, response: str) -> list[dict]:
    """Chat messages asking the judge whether an A1 reply is correct (protocol 1.6, 8.5).

    ``options`` are in display order (padding allowed); ``correct`` is the correct option's *text*
    (``correct_ans``), which is listed first to the judge as the official prompt expects.
    """
    option_list, correct_option = _judge_options(options, correct)
    user = _fill(
        A1_JUDGE_USER_TEMPLATE,
        {
            "question": question.strip(),
            "options": option_list,
            "options[0]": correct_option,
            "answer": response.strip(),
        },
    )
    return _messages(A1_JUDGE_SYSTEM, user)


def a2_judge_messages(dimension: str, description: str, reference: str) -> list[dict]:
    """Chat messages asking the judge to score one A2 dimension in {0, 1, 2} (protocol 3, 8.6).

    ``description`` is the MLLM's output ([MLLM_DESC]) and ``reference`` the golden description
    ([GOLDEN_DESC]; unused by the relevance prompt, which has no such slot).
    """
    if dimension not in A2_JUDGE_TEMPLATES:
        raise ValueError(f"unknown A2 dimension {dimension!r}; expected one of {A2_DIMENSIONS}")
    user = _fill(
        A2_JUDGE_TEMPLATES[dimension],
        {"MLLM_DESC": description.strip(), "GOLDEN_DESC": reference.strip()},
    )
    return _messages(A2_JUDGE_SYSTEM, user)


# --- reply parsing ------------------------------------------------------------------------------------

# Markdown the judge may wrap its answer in ("**Result:** 1", "`Score: 2`").
_MARKDOWN = re.compile(r"[*`]+")
# A whole reply that is just a number, e.g. "1" or "2." -- the continuation of "...format: Result:".
_BARE_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)\s*\.?\s*")


def _labelled_pattern(label: str) -> re.Pattern[str]:
    """``Label: k`` in any case, any spacing, ASCII or full-width colon; captures the whole number."""
    return re.compile(rf"\b{label}\s*[:：]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


_RESULT = _labelled_pattern("result")
_SCORE = _labelled_pattern("score")


def _parse_labelled(text: str, pattern: re.Pattern[str], allowed: frozenset[str]) -> int | None:
    """The single value a judge reply gives after its label, or None when the round is unusable.

    Every ``Label: k`` in the reply must agree and be allowed; "Score: 1.5", "Score: 3" or two different
    results make the round invalid (dropped and counted, protocol 8.6) rather than guessed.
    """
    text = _MARKDOWN.sub("", text)
    values = set(pattern.findall(text))
    if not values:
        bare = _BARE_NUMBER.fullmatch(text)
        values = {bare[1]} if bare else set()
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) if value in allowed else None


def parse_a1_verdict(text: str) -> int | None:
    """Read one A1 judge round: ``Result: 1`` -> 1, ``Result: 0`` -> 0, anything else -> None.

    Tolerates case, spacing (``Result:1``), a trailing period, markdown emphasis, text around the result,
    and a reply that is only the number.
    """
    return _parse_labelled(text, _RESULT, frozenset({"0", "1"}))


def parse_a2_score(text: str) -> int | None:
    """Read one A2 judge round: ``Score: k`` with k in {0, 1, 2} (protocol 8.6); anything else -> None."""
    return _parse_labelled(text, _SCORE, frozenset({"0", "1", "2"}))


# --- aggregation --------------------------------------------------------------------------------------


def _count_votes(verdicts: Sequence[int | None]) -> tuple[int, int, int]:
    """(ones, zeros, invalid) over the rounds; values other than 0, 1 and None are a caller bug."""
    if any(verdict not in (0, 1, None) for verdict in verdicts):
        raise ValueError(f"A1 verdicts must be 0, 1 or None, got {list(verdicts)}")
    ones = sum(verdict == 1 for verdict in verdicts)
    zeros = sum(verdict == 0 for verdict in verdicts)
    return ones, zeros, len(verdicts) - ones - zeros


def a1_majority(verdicts: Sequence[int | None]) -> bool | None:
    """Whether an A1 item is correct from its judge rounds (protocol 8.5); None when undecided.

    8.5: "an item is correct when at least 3 of the valid rounds say 1" (None = an unparsable round).

    * True  -- at least :data:`A1_JUDGE_MIN_VOTES` (3) rounds say 1.
    * False -- fewer than 3 say 1 *and* the invalid rounds could not change that (ones + invalid < 3).
    * None  -- no valid round at all, or the invalid rounds could still decide the item.  With the usual
      5 rounds this means: fewer than 3 valid rounds is always None; 2 ones, 2 zeros and 1 invalid is None.

    Accuracy is the same as under the literal rule, because callers count None as wrong; the difference
    is that such items are visible (reported with the invalid rounds) instead of silently failed.
    """
    ones, zeros, invalid = _count_votes(verdicts)
    if ones + zeros == 0:
        return None
    if ones >= A1_JUDGE_MIN_VOTES:
        return True
    if ones + invalid < A1_JUDGE_MIN_VOTES:
        return False
    return None


def a1_vote_mean(verdicts: Sequence[int | None]) -> float | None:
    """Mean of the valid rounds (diagnostic only, protocol 1.6); None when no round is valid."""
    ones, zeros, _ = _count_votes(verdicts)
    return ones / (ones + zeros) if ones + zeros else None


class A2Distribution(TypedDict):
    """Share of each score over the valid rounds, their mean, and how many rounds were valid."""

    p0: float | None
    p1: float | None
    p2: float | None
    mean: float | None
    n: int


def a2_distribution(scores: Sequence[int | None]) -> A2Distribution:
    """P0/P1/P2 and the mean score of one A2 dimension over all (image, round) scores (protocol 3, 8.6).

    The official tables report the frequency of each score over all images x rounds and the weighted mean
    0*P0 + 1*P1 + 2*P2 (e.g. 19.94/51.82/28.24% -> 1.08).  Unparsable rounds (None) are dropped; ``n``
    counts the valid ones.  With no valid round every share and the mean are None.
    """
    valid = [score for score in scores if score is not None]
    if any(score not in (0, 1, 2) for score in valid):
        raise ValueError(f"A2 scores must be 0, 1, 2 or None, got {sorted(set(valid))}")
    n = len(valid)
    if n == 0:
        return A2Distribution(p0=None, p1=None, p2=None, mean=None, n=0)
    return A2Distribution(
        p0=valid.count(0) / n,
        p1=valid.count(1) / n,
        p2=valid.count(2) / n,
        mean=sum(valid) / n,
        n=n,
    )

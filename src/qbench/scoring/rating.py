"""Generated ratings: the published prompts and a strict parser of the replies (protocol.md 9.3).

Reasoning ("R1-style") IQA models write a rating instead of being read through level-word logits. The prompts
are the authors' own, verbatim, each a named and versioned constant:

- ``vq-r1``: VisualQuality-R1 with thinking (README "Batch Images Quality Rating with thinking": the question,
  then "First output the thinking process in <think> </think> tags and then output the final answer with only
  one score in <answer> </answer> tags."), image first;
- ``vq-r1-fast``: VisualQuality-R1 without thinking (README "VisualQuality-R1-Fast"), image first;
- ``q-insight``: Q-Insight's system prompt and score question (``src/eval/demo_score.py`` at 08308fd), text
  first, then the image; the answer is JSON ``{"rating": ...}``;
- ``plain``: a plain 1-5 prompt for models without a published one (qbench's own wording).

Parsing (``RATING_PARSE_VERSION``) is strict, never a guess:

- reasoning prompts: the text of the **last** complete ``<answer>...</answer>``; a reply without one is unparsed
  (VisualQuality-R1's code falls back to the first number of the whole reply, thinking included, and then to a
  random 1-5: qbench does neither);
- in the answer: a JSON object's ``rating`` (Q-Insight; a ```json fence is allowed), else the first number (the
  authors' rule ``\\d+(\\.\\d+)?``);
- ``plain``: the reply must be one number (an optional ``<answer>`` wrapper is read as above);
- the number must lie in the prompt's range (1..5, inclusive), else the reply is unparsed.

An unparsed reply keeps its text and a reason; it is counted and reported, and never given a score.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

RATING_PARSE_VERSION = "rating-parse-v1"

_VQ_QUESTION = (
    "You are doing the image quality assessment task. Here is the question: "
    "What is your overall rating on the quality of this picture? The rating should be a float between 1 and 5, "
    "rounded to two decimal places, with 1 representing very poor quality and 5 representing excellent quality."
)
_QI_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think><answer> answer here </answer>"
)
_QI_QUESTION = (
    "What is your overall rating on the quality of this picture? The rating should be a float between 1 and 5, "
    "rounded to two decimal places, with 1 representing very poor quality and 5 representing excellent quality. "
    'Return the final answer in JSON format with the following keys: "rating": The score.'
)


@dataclass(frozen=True)
class RatingPrompt:
    """One published rating prompt: its text, where the image goes, and how its reply is read."""

    name: str
    version: str
    text: str
    system: str | None = None
    image_first: bool = True
    answer_tags: bool = True  # the rating is inside <answer></answer>
    low: float = 1.0
    high: float = 5.0
    max_new_tokens: int = 2048
    source: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "range": [self.low, self.high],
            "max_new_tokens": self.max_new_tokens,
            "source": self.source,
        }


PROMPTS: dict[str, RatingPrompt] = {
    "vq-r1": RatingPrompt(
        name="vq-r1",
        version="vq-r1-think-v1",
        text=_VQ_QUESTION
        + " First output the thinking process in <think> </think> tags and then output the final answer with only"
        " one score in <answer> </answer> tags.",
        max_new_tokens=2048,
        source="TianheWu/VisualQuality-R1 README (with thinking)",
    ),
    "vq-r1-fast": RatingPrompt(
        name="vq-r1-fast",
        version="vq-r1-fast-v1",
        text=_VQ_QUESTION + " Output the final answer with only one score in <answer> </answer> tags.",
        max_new_tokens=512,
        source="TianheWu/VisualQuality-R1 README (VisualQuality-R1-Fast, without thinking)",
    ),
    "q-insight": RatingPrompt(
        name="q-insight",
        version="q-insight-v1",
        text=_QI_QUESTION,
        system=_QI_SYSTEM,
        image_first=False,
        max_new_tokens=1024,
        source="bytedance/Q-Insight src/eval/demo_score.py @08308fd",
    ),
    "plain": RatingPrompt(
        name="plain",
        version="plain-1-5-v1",
        text="What is your overall rating on the quality of this picture? The rating should be a number between 1 "
        "and 5, with 1 representing very poor quality and 5 representing excellent quality. Answer with the "
        "number only.",
        answer_tags=False,
        max_new_tokens=16,
        source="qbench",
    ),
}


@dataclass(frozen=True)
class ParsedRating:
    """A reply read by :func:`parse_rating`: the rating, or None with the reason."""

    rating: float | None
    reason: str = ""  # why unparsed ("" when parsed)
    form: str = ""  # how it was read: "json-rating", "number"

    @property
    def ok(self) -> bool:
        return self.rating is not None


_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


def parse_rating(reply: str, prompt: RatingPrompt) -> ParsedRating:
    """The rating in ``reply`` under ``prompt``'s rules (module docstring), or None and why."""
    text = reply if isinstance(reply, str) else ""
    if not text.strip():
        return ParsedRating(None, "empty reply")
    answers = _ANSWER.findall(text)
    if answers:
        body = answers[-1].strip()
    elif prompt.answer_tags:
        why = (
            "an unclosed <answer> tag"
            if "<answer>" in text.lower()
            else "no <answer>...</answer> in the reply"
        )
        return ParsedRating(None, why)
    else:
        body = text.strip()
    if not body:
        return ParsedRating(None, "empty <answer>")
    value, form, why = _read_answer(body, whole=not prompt.answer_tags and not answers)
    if value is None:
        return ParsedRating(None, why)
    if not (math.isfinite(value) and prompt.low <= value <= prompt.high):
        return ParsedRating(
            None, f"rating {_short(value)} is outside {_short(prompt.low)}..{_short(prompt.high)}"
        )
    return ParsedRating(value, "", form)


def _read_answer(body: str, *, whole: bool) -> tuple[float | None, str, str]:
    """(value, form, reason): JSON ``rating`` first, else a number."""
    unfenced = _FENCE.match(body)
    candidate = unfenced.group(1) if unfenced else body
    if candidate.lstrip().startswith("{"):
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            return None, "", "the answer looks like JSON but does not parse"
        if not isinstance(obj, dict) or "rating" not in obj:
            return None, "", "the JSON answer has no 'rating'"
        raw = obj["rating"]
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            return None, "", f"'rating' is {type(raw).__name__}, not a number"
        try:
            return float(raw), "json-rating", ""
        except ValueError:
            return None, "", f"'rating' is '{_snip(str(raw))}', not a number"
    if whole:
        stripped = body.strip().rstrip(".").strip()
        if not _NUMBER.fullmatch(stripped):
            return None, "", f"the reply is not one number: '{_snip(body)}'"
        return float(stripped), "number", ""
    match = _NUMBER.search(body)
    if match is None:
        return None, "", f"no number in the answer '{_snip(body)}'"
    return float(match.group()), "number", ""


def _short(value: float) -> str:
    return f"{value:g}"


def _snip(text: str, n: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."

"""Level-word scores: Q-Align's 5 levels, user-given levels, and Q-Bench+ Eq. 2 ensembles (protocol.md 9.1-9.2).

All three read the next-token logits of some words after the assistant prefix (``The quality of the image
is``) and turn them into one number:

- **levels** (Q-Align, DeQA-Score): ``p = softmax(x / T)`` over the level words' logits, score = ``p . w``.
  Q-Align: words ``excellent good fair poor bad``, weights ``5 4 3 2 1``, T = 1 (Q-Align ``scorer.py``, DeQA
  ``cal_plcc_srcc.py``). The softmax is taken in float64 after subtracting the largest logit, which equals the
  official ``exp(x) / sum(exp(x))`` wherever that one is finite, and stays finite where it is not.
- **ensemble** (Q-Bench+ Eq. 2): ``exp(sum_P x) / (exp(sum_P x) + exp(sum_N x))`` over positive and negative
  word sets. The paper writes no temperature; the official two-word code divides by 100, so the default here is
  T = 100 (recorded; ``temperature`` changes it), computed with the official A3 operations
  (:func:`qbench.scoring.official.a3_score`), so that ``good`` vs ``poor`` gives exactly the default A3 score.

Log-probs from a server work as well as logits: ``log p_i = x_i - logsumexp(x)`` shifts every word by the same
constant, which cancels in both formulas (up to the server's float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbench import protocol

#: Bumped when a formula here changes (recorded in each run's task info).
LEVELS_VERSION = "levels-softmax-f64-v1"
ENSEMBLE_VERSION = "ensemble-eq2-official-ops-v1"


@dataclass(frozen=True)
class Levels:
    """Level words with their weights and the softmax temperature."""

    words: tuple[str, ...]
    weights: tuple[float, ...]
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if len(self.words) < 2:
            raise ValueError("levels need at least two words")
        if len(self.words) != len(self.weights):
            raise ValueError(f"{len(self.words)} level words but {len(self.weights)} weights")
        if any(not w.strip() for w in self.words):
            raise ValueError("a level word is empty")
        if len(set(self.words)) != len(self.words):
            raise ValueError(f"a level word is given twice: {', '.join(self.words)}")
        if not all(math.isfinite(w) for w in self.weights):
            raise ValueError("level weights must be finite numbers")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature {self.temperature} must be a positive number")

    def describe(self) -> dict[str, Any]:
        return {"words": list(self.words), "weights": list(self.weights), "temperature": self.temperature}

    @property
    def text(self) -> str:
        """The ``-T levels=`` form of these levels (``excellent:5,good:4,...``)."""
        return ",".join(f"{w}:{_num(v)}" for w, v in zip(self.words, self.weights))


#: Q-Align's prompt (protocol.md 9.1): the question comes BEFORE the image (unlike Q-Bench A3), then the same
#: assistant prefix as A3. Official text: ``USER: How would you rate the quality of this image?\n<|image|>\n
#: ASSISTANT: The quality of the image is``; the chat template of the model supplies the turn markers.
QALIGN_PROMPT_VERSION = "qalign-quality-v1"
QALIGN_QUESTION = "How would you rate the quality of this image?"
QALIGN_PREFIX = protocol.A3_PREFIX

#: Q-Align / DeQA-Score (protocol.md 9.1).
QALIGN_LEVELS = Levels(protocol.QALIGN_LEVELS, tuple(float(w) for w in protocol.QALIGN_WEIGHTS), 1.0)


@dataclass(frozen=True)
class Ensemble:
    """Q-Bench+ Eq. 2: positive and negative word sets and the temperature of the two-way softmax."""

    positive: tuple[str, ...]
    negative: tuple[str, ...]
    temperature: float = 100.0

    def __post_init__(self) -> None:
        if not self.positive or not self.negative:
            raise ValueError("an ensemble needs at least one positive and one negative word")
        words = self.positive + self.negative
        if any(not w.strip() for w in words):
            raise ValueError("an ensemble word is empty")
        if len(set(words)) != len(words):
            raise ValueError(f"a word is given twice in the ensemble: {', '.join(words)}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature {self.temperature} must be a positive number")

    @property
    def words(self) -> tuple[str, ...]:
        return self.positive + self.negative

    def describe(self) -> dict[str, Any]:
        return {
            "positive": list(self.positive),
            "negative": list(self.negative),
            "temperature": self.temperature,
        }


#: The largest combination evaluated in Q-Bench+ Table VIII.
DEFAULT_ENSEMBLE = Ensemble(protocol.SYNONYMS_POSITIVE, protocol.SYNONYMS_NEGATIVE)


@dataclass(frozen=True)
class LevelScore:
    """A level score with the probabilities it came from; ``form`` says why a score is NaN."""

    score: float
    probs: tuple[float, ...]
    form: str = "softmax"  # or "non-finite-logits"


def qalign_content() -> tuple[Any, ...]:
    """The Q-Align user turn: question text, then the image."""
    from qbench.types import ImageSlot, Text

    return (Text(QALIGN_QUESTION), ImageSlot(0))


def parse_levels(text: str, temperature: float = 1.0) -> Levels:
    """``excellent:5,good:4,fair:3`` -> :class:`Levels`; a clear ValueError for anything else."""
    words: list[str] = []
    weights: list[float] = []
    for part in text.split(","):
        word, sep, weight = part.strip().rpartition(":")
        if not sep or not word.strip():
            raise ValueError(f"'{part.strip()}' is not WORD:WEIGHT (e.g. excellent:5,good:4,fair:3)")
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"the weight of '{word.strip()}' is '{weight}', not a number") from None
        words.append(word.strip())
        weights.append(value)
    return Levels(tuple(words), tuple(weights), temperature)


def parse_words(text: str) -> tuple[str, ...]:
    """``good+high+fine`` -> ``("good", "high", "fine")``."""
    words = tuple(w.strip() for w in text.split("+"))
    if not words or any(not w for w in words):
        raise ValueError(f"'{text}' is not a list of words joined by '+' (e.g. good+high+fine)")
    return words


def softmax(values: Sequence[float], temperature: float = 1.0) -> tuple[float, ...]:
    """The float64 softmax of ``values / temperature`` (the largest subtracted first)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64) / temperature
    e = np.exp(x - x.max())
    return tuple(float(v) for v in e / e.sum())


def level_score(logits: Mapping[str, float], levels: Levels) -> LevelScore:
    """``softmax(x / T) . w`` over the level words' logits (KeyError naming a word that is missing)."""
    values = [float(logits[w]) for w in levels.words]
    if not all(math.isfinite(v) for v in values):
        return LevelScore(math.nan, tuple(math.nan for _ in values), "non-finite-logits")
    probs = softmax(values, levels.temperature)
    score = math.fsum(p * w for p, w in zip(probs, levels.weights))
    return LevelScore(score, probs)


def ensemble_score(logits: Mapping[str, float], ensemble: Ensemble) -> tuple[float, str]:
    """Q-Bench+ Eq. 2 with the official A3 operations; returns ``(score, form)`` like ``a3_score``."""
    from qbench.scoring.official import a3_score

    positive = math.fsum(float(logits[w]) for w in ensemble.positive)
    negative = math.fsum(float(logits[w]) for w in ensemble.negative)
    return a3_score(positive, negative, ensemble.temperature)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

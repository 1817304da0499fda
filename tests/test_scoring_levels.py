"""Level-word scores (Q-Align 5 levels, user levels, Q-Bench+ Eq. 2): the formulas against independent
computations, the hostile inputs that break naive ones, and the option parsers' errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qbench.scoring.levels import (
    DEFAULT_ENSEMBLE,
    QALIGN_LEVELS,
    Ensemble,
    Levels,
    ensemble_score,
    level_score,
    parse_levels,
    parse_words,
)
from qbench.tasks.base import a3_score


def deqa_cal_score(logits: dict[str, float]) -> float:
    """DeQA-Score's ``cal_score`` written out as it is published (numpy, no max subtraction)."""
    logprobs = np.array([logits[w] for w in ("excellent", "good", "fair", "poor", "bad")])
    probs = np.exp(logprobs) / np.sum(np.exp(logprobs))
    return float(np.inner(probs, np.array([5.0, 4.0, 3.0, 2.0, 1.0])))


@pytest.mark.parametrize("seed", range(20))
def test_qalign_score_equals_the_published_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = dict(zip(QALIGN_LEVELS.words, rng.normal(0, 3 + seed, size=5).tolist()))
    got = level_score(logits, QALIGN_LEVELS)
    assert got.score == pytest.approx(deqa_cal_score(logits), abs=1e-12)
    assert sum(got.probs) == pytest.approx(1.0, abs=1e-12)
    assert 1.0 <= got.score <= 5.0


def test_log_probs_give_the_same_score_as_logits() -> None:
    """A server returns log-probs = logits - logsumexp(all logits): the shift cancels."""
    rng = np.random.default_rng(7)
    vocab = rng.normal(0, 4, size=50)
    logits = dict(zip(QALIGN_LEVELS.words, vocab[:5].tolist()))
    lse = float(np.log(np.exp(vocab).sum()))
    logprobs = {w: v - lse for w, v in logits.items()}
    assert level_score(logprobs, QALIGN_LEVELS).score == pytest.approx(
        level_score(logits, QALIGN_LEVELS).score, abs=1e-12
    )


def test_huge_logits_stay_finite_where_the_naive_form_overflows() -> None:
    logits = {"excellent": 800.0, "good": 790.0, "fair": 0.0, "poor": -5.0, "bad": -800.0}
    with np.errstate(over="ignore", invalid="ignore"):
        assert math.isnan(deqa_cal_score(logits))  # the published form gives inf/inf here
    got = level_score(logits, QALIGN_LEVELS)
    assert got.score == pytest.approx(5 - 1 / (1 + math.exp(10)), abs=1e-12)


def test_ties_and_temperature() -> None:
    flat = dict.fromkeys(QALIGN_LEVELS.words, 2.5)
    assert level_score(flat, QALIGN_LEVELS).score == pytest.approx(3.0, abs=1e-15)
    logits = {"excellent": 2.0, "good": 1.0, "fair": 0.0, "poor": -1.0, "bad": -2.0}
    hot = Levels(QALIGN_LEVELS.words, QALIGN_LEVELS.weights, temperature=1e6)
    cold = Levels(QALIGN_LEVELS.words, QALIGN_LEVELS.weights, temperature=1e-3)
    assert level_score(logits, hot).score == pytest.approx(3.0, abs=1e-5)  # T -> inf: uniform
    assert level_score(logits, cold).score == pytest.approx(5.0, abs=1e-12)  # T -> 0: argmax


def test_non_finite_logits_give_nan_and_say_why() -> None:
    logits = {"excellent": math.nan, "good": 1.0, "fair": 0.0, "poor": -1.0, "bad": -2.0}
    got = level_score(logits, QALIGN_LEVELS)
    assert math.isnan(got.score) and got.form == "non-finite-logits"


def test_a_missing_word_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="fair"):
        level_score({"excellent": 1.0, "good": 1.0, "poor": 1.0, "bad": 1.0}, QALIGN_LEVELS)


def test_user_levels_parse_and_score() -> None:
    levels = parse_levels("high:1, low:0", temperature=2.0)
    assert levels.words == ("high", "low") and levels.weights == (1.0, 0.0) and levels.temperature == 2.0
    a, b = 3.0, -1.0
    expected = math.exp(a / 2) / (math.exp(a / 2) + math.exp(b / 2))
    assert level_score({"high": a, "low": b}, levels).score == pytest.approx(expected, abs=1e-14)
    assert parse_levels(QALIGN_LEVELS.text) == QALIGN_LEVELS
    assert parse_levels("a:0.25,b:-1.5").weights == (0.25, -1.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("excellent", "not WORD:WEIGHT"),
        ("good:4,good:3", "given twice"),
        ("good:x,poor:1", "not a number"),
        ("good:1", "at least two"),
        (":1,poor:2", "not WORD:WEIGHT"),
        ("good:nan,poor:1", "finite"),
    ],
)
def test_bad_levels_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_levels(text)


def test_ensemble_of_one_pair_is_exactly_the_default_a3_score() -> None:
    rng = np.random.default_rng(3)
    for a, b in rng.normal(0, 20, size=(50, 2)).tolist():
        got = ensemble_score({"good": a, "poor": b}, Ensemble(("good",), ("poor",)))
        assert got == a3_score(a, b, 100.0)  # bit-identical: the official operations, not a re-derivation


def test_ensemble_sums_logits_of_each_set() -> None:
    logits = {"good": 1.5, "high": -0.5, "fine": 2.0, "poor": 0.25, "low": 1.0, "bad": -3.0}
    score, form = ensemble_score(logits, DEFAULT_ENSEMBLE)
    p, n = 1.5 - 0.5 + 2.0, 0.25 + 1.0 - 3.0
    assert form == "official"
    assert score == pytest.approx(math.exp(p / 100) / (math.exp(p / 100) + math.exp(n / 100)), abs=1e-15)
    t1, _ = ensemble_score(logits, Ensemble(DEFAULT_ENSEMBLE.positive, DEFAULT_ENSEMBLE.negative, 1.0))
    assert t1 == pytest.approx(1 / (1 + math.exp(n - p)), abs=1e-15)


def test_ensemble_words_must_be_distinct_and_parsed() -> None:
    assert parse_words("good + high") == ("good", "high")
    with pytest.raises(ValueError, match="twice"):
        Ensemble(("good",), ("good",))
    with pytest.raises(ValueError, match="joined by"):
        parse_words("good++high")

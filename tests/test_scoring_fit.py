"""The DeQA-style 4-parameter logistic fit against a stored fixture of scipy's curve_fit run the DeQA way, and
its failure modes (too few values, constant input, no convergence) as NaN with a reason."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from qbench.scoring.fit import FIT_VERSION, deqa_init, fit_logistic4, logistic4

FIXTURE = Path(__file__).parent / "fixtures" / "deqa_logistic_fit.json"


def deqa_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """DeQA-Score's ``fit_curve`` (logistic_4params) as published, independent of qbench's module."""
    from scipy.optimize import curve_fit

    def logistic_4params(x, beta1, beta2, beta3, beta4):  # type: ignore[no-untyped-def]
        return (beta1 - beta2) / (1 + np.exp(-(x - beta3) / beta4)) + beta2

    init = [np.max(y), np.min(y), np.mean(x), np.std(x) / 4.0]
    betas, _ = curve_fit(logistic_4params, x, y, p0=init, maxfev=10000)
    return betas


def test_parameters_match_the_stored_deqa_fixture() -> None:
    data = json.loads(FIXTURE.read_text())
    x, y = np.array(data["x"]), np.array(data["y"])
    fit = fit_logistic4(x, y)
    assert not fit.error
    assert fit.init == pytest.approx(tuple(data["init"]), rel=1e-12)
    assert fit.params == pytest.approx(tuple(data["params"]), rel=1e-6)
    assert fit.srcc == pytest.approx(data["srcc"], abs=1e-9)
    assert fit.plcc == pytest.approx(data["plcc"], abs=1e-9)
    # the fit matters here: the fitted PLCC is clearly above the raw one
    assert fit.plcc - data["plcc_raw"] > 0.01
    described = fit.describe()
    assert described["type"] == FIT_VERSION and described["params"] == pytest.approx(data["params"], rel=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parameters_match_a_fresh_deqa_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=80)
    y = 1 + 4 / (1 + np.exp(-(x - 0.4) / 0.1)) + rng.normal(0, 0.3, size=80)
    fit = fit_logistic4(x, y)
    assert fit.params == pytest.approx(tuple(deqa_fit(x, y)), rel=1e-9)
    fitted = logistic4(x, *fit.params)
    from scipy import stats

    assert fit.plcc == pytest.approx(float(stats.pearsonr(fitted, y).statistic), abs=1e-12)
    assert deqa_init(x, y)[3] == pytest.approx(float(np.std(x)) / 4)  # population std, as numpy's default


def test_degenerate_inputs_give_nan_and_a_reason() -> None:
    short = fit_logistic4([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert math.isnan(short.plcc) and "only 3 values" in short.error
    flat = fit_logistic4([2.0] * 10, list(range(10)))
    assert math.isnan(flat.srcc) and "constant" in flat.error
    assert flat.describe()["params"] == [None] * 4  # JSON-safe: no bare NaN


def test_a_fit_that_fails_is_reported_not_raised() -> None:
    x = np.linspace(0, 1, 20)
    y = np.where(x > 0.5, np.nan, x)  # a NaN opinion score: curve_fit refuses (check_finite)
    fit = fit_logistic4(x, y)
    assert "the fit failed" in fit.error and math.isnan(fit.plcc)

"""The effect summary (numbers, direction, verdict) and the Bang blinding index."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from mcerror import SEED_SHIFT, record

from nof1.analysis.csv_input import series_from_csv
from nof1.analysis.models.base import Diagnostics
from nof1.analysis.models.exact import fit_exact
from nof1.analysis.series import Series
from nof1.analysis.summary import bang_index, probability_word, summarize
from nof1.errors import DataError

PEER = Path(__file__).parent / "data" / "peer"


@pytest.fixture(scope="module")
def readme() -> Series:
    return series_from_csv(
        PEER / "nof1ins_readme_example.csv", "Y", "Treat", active="2", time="Day", block="Block"
    )


@pytest.fixture(scope="module")
def fit(readme):
    return fit_exact(readme, "vague", n_draws=40000, seed=3 + SEED_SHIFT)


def test_analytic_summary_of_the_readme_example(readme, fit):
    s = summarize(fit, readme, mcid=1.0)
    ex = fit.exact
    assert s.mean == pytest.approx(ex.mean)
    assert s.p_benefit == pytest.approx(ex.cdf(0.0))
    assert s.p_mcid == pytest.approx(ex.cdf(-1.0))
    assert s.p_rope == pytest.approx(ex.cdf(0.5) - ex.cdf(-0.5))
    assert s.hdi_low < s.median < s.hdi_high
    assert 0.9 < s.p_benefit < 1.0
    assert s.p_large <= s.p_mcid <= s.p_benefit
    assert s.rho_mean == pytest.approx(0.75, abs=0.05)
    assert s.n_days == 28 and s.n_observed == 26
    assert s.standardized < 0
    assert (s.engine, s.prior, s.likelihood) == ("exact", "vague", "normal")


def test_draws_only_summary_agrees_with_the_analytic_one(readme, fit):
    analytic = summarize(fit, readme)
    from_draws = summarize(dataclasses.replace(fit, exact=None), readme)
    for name in ("mean", "median", "p_benefit", "p_mcid", "p_rope"):
        assert getattr(from_draws, name) == pytest.approx(getattr(analytic, name), abs=0.02), name
    # The ends of an HDI from draws slide along a flat optimum (sd about 0.03 here over
    # seeds), so check what is stable: the interval's exact probability content (binomial
    # Monte Carlo sd 0.0011 for 40,000 draws; 4 sds) and its length (within 2%; the ratio's
    # sd over seeds is about 0.004, and the shortest interval of draws runs a little short).
    low, high = from_draws.hdi_low, from_draws.hdi_high
    content = fit.exact.cdf(high) - fit.exact.cdf(low)
    record(hdi_content=content)
    assert content == pytest.approx(0.95, abs=4 * np.sqrt(0.95 * 0.05 / 40_000))
    assert high - low == pytest.approx(analytic.hdi_high - analytic.hdi_low, rel=0.02)
    assert from_draws.sd == pytest.approx(analytic.sd, rel=0.02)
    assert from_draws.standardized == pytest.approx(analytic.standardized, abs=0.02)
    assert from_draws.rho_mean == pytest.approx(analytic.rho_mean, abs=0.01)


def test_benefit_direction_flips_for_higher_is_better(readme, fit):
    lower = summarize(fit, readme)
    higher = summarize(fit, dataclasses.replace(readme, lower_is_better=False))
    assert higher.p_benefit == pytest.approx(1 - lower.p_benefit)
    assert higher.p_mcid == pytest.approx(1 - fit.exact.cdf(1.0))
    assert "higher than on the control" not in higher.verdict
    assert "1.2 points lower" in higher.verdict


def test_verdicts_follow_the_probabilities(readme, fit):
    s = summarize(fit, readme, mcid=1.0)  # P(benefit) 0.97, P(>= 1 point) 0.61
    assert "1.2 points lower than on the control (B)" in s.verdict
    assert (
        "Conclusion: A very probably helps, but possibly by less than the minimal important"
        in s.verdict
    )
    # P(>= 0.2 points) 0.94: above the 0.8 bar but below 0.95, so "probably", not "very".
    s = summarize(fit, readme, mcid=0.2, threshold=0.8)
    assert "Conclusion: A probably helps, by an amount that matters (at least 0.2 points: 94%)" in (
        s.verdict
    )
    s = summarize(fit, readme, mcid=0.05, threshold=0.8)
    assert s.p_mcid >= 0.95
    assert "Conclusion: A very probably helps, by an amount that matters" in s.verdict
    s = summarize(fit, readme, mcid=8.0)
    assert "Conclusion: A very probably makes no practical difference." in s.verdict
    worse = summarize(fit, dataclasses.replace(readme, lower_is_better=False))
    assert (
        "Conclusion: A very probably makes your Y worse, but possibly by less than the minimal "
        "important difference" in worse.verdict
    )


@pytest.mark.parametrize(
    ("p", "word"),
    [(0.999, "very probably"), (0.95, "very probably"), (0.949, "probably"), (0.8, "probably"),
     (0.79, "more likely than not"), (0.5, "more likely than not"), (0.49, "")],
)  # fmt: skip
def test_probability_words_follow_the_documented_thresholds(p, word):
    assert probability_word(p) == word


def test_failed_diagnostics_give_no_verdict(readme, fit):
    bad = dataclasses.replace(
        fit,
        exact=None,
        diagnostics=Diagnostics(ok=False, rhat_max=1.2, messages=("R-hat 1.2 > 1.01",)),
    )
    s = summarize(bad, readme)
    assert s.verdict.startswith("No conclusion: the model fit did not pass its convergence checks")
    assert "R-hat 1.2 > 1.01" in s.verdict
    assert "Conclusion" not in s.verdict


def test_to_dict_has_the_documented_nested_keys(readme, fit):
    d = summarize(fit, readme).to_dict()
    assert set(d["effect"]) == {"mean", "median", "sd", "hdi_low", "hdi_high", "standardized"}
    for key in (
        "p_benefit",
        "p_mcid",
        "p_large",
        "p_rope",
        "mcid",
        "engine",
        "prior",
        "likelihood",
        "outcome",
        "verdict",
        "n_days",
        "n_observed",
    ):
        assert key in d, key
    assert set(d["rho"]) == {"mean", "sd"} and "mean" in d["sigma"]
    assert d["diagnostics"]["ok"] is True


def test_bad_mcid_is_refused(readme, fit):
    with pytest.raises(DataError, match="mcid must be a positive number of outcome units, got -1"):
        summarize(fit, readme, mcid=-1)


def test_no_ar1_means_no_rho(readme):
    s = summarize(fit_exact(readme, "vague", ar1=False, seed=0), readme)
    assert s.rho_mean is None and s.rho_sd is None


# --- Bang blinding index ----------------------------------------------------------------


def test_bang_index_hand_example():
    bi = bang_index(["A", "B", "A", "B", "A", "B"], ["A", "A", "unsure", "B", "A", None])
    # A: 2 correct, 0 incorrect, 1 unsure -> 2/3. B: 1 correct, 1 incorrect -> 0.
    assert bi.index["A"] == pytest.approx(2 / 3)
    assert bi.index["B"] == pytest.approx(0.0)
    assert bi.n == {"A": 3, "B": 2}
    assert bi.counts["A"] == {"A": 2, "B": 0, "unsure": 1}
    assert bi.interpretation == (
        "Bang index, a description only: on the active (A) arm more right than wrong guesses "
        "(BI +0.67); on the control (B) arm as many right as wrong guesses (BI +0.00)."
    )


def test_bang_index_is_described_never_judged():
    bi = bang_index(["A", "B", "A", "B"], ["A", "A", "B", "B"])
    assert bi.index == {"A": 0.0, "B": 0.0}
    assert "held" not in bi.interpretation and "broken" not in bi.interpretation


def test_bang_index_opposite_guessing_and_no_guesses():
    bi = bang_index(["A", "A", "B"], ["B", "B", None])
    assert bi.index["A"] == pytest.approx(-1.0)
    assert bi.index["B"] is None
    assert "as in opposite guessing" in bi.interpretation
    assert "no guesses on the control (B) arm" in bi.interpretation


def test_bang_index_rejects_bad_input():
    with pytest.raises(DataError, match="guess 'maybe' of period 2"):
        bang_index(["A", "B"], ["A", "maybe"])
    with pytest.raises(DataError, match="2 arms but 1 guesses"):
        bang_index(["A", "B"], ["A"])
    assert np.isclose(bang_index(["A"], ["unsure"]).index["A"], 0.0)


def test_much_better_threshold_is_two_points_or_twice_the_mcid_when_unbounded():
    from nof1.analysis.summary import large_benefit

    base = dict(active=[0, 1, 0, 1], day=[0, 1, 2, 3], block=[1, 1, 2, 2], period=[1, 2, 3, 4])
    nrs = Series(y=[5.0, 4.0, 6.0, 3.0], **base)
    assert large_benefit(nrs, mcid=1.0) == 2.0
    percent = Series(y=[50.0, 40.0, 60.0, 30.0], low=0.0, high=100.0, **base)
    assert large_benefit(percent, mcid=10.0) == 20.0
    unbounded = Series(y=[5.0, 4.0, 9.0, 3.0], low=None, high=None, **base)
    assert large_benefit(unbounded, mcid=1.5) == 3.0

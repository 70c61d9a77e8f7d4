"""Yes/no outcomes: the Beta-binomial model per arm, rates in percentage points."""

from __future__ import annotations

import numpy as np
import pytest
from mcerror import SEED_SHIFT
from scipy import stats

from nof1.analysis.analyze import analyze
from nof1.analysis.models.binary import (
    BINARY_MCID,
    fit_binary_exact,
    is_binary,
    p_higher_on_a,
    rate_interval,
)
from nof1.analysis.series import Series
from nof1.analysis.summary import summarize
from nof1.errors import DataError, ModelError


def _series(yes_a: int, n_a: int, yes_b: int, n_b: int, low=0.0, high=1.0) -> Series:
    """Two blocks, A then B in each; the yes days first within each arm."""
    y_a = np.r_[np.ones(yes_a), np.zeros(n_a - yes_a)]
    y_b = np.r_[np.ones(yes_b), np.zeros(n_b - yes_b)]
    half_a, half_b = n_a // 2, n_b // 2
    y = np.r_[y_a[:half_a], y_b[:half_b], y_a[half_a:], y_b[half_b:]]
    active = np.r_[np.ones(half_a), np.zeros(half_b), np.ones(n_a - half_a), np.zeros(n_b - half_b)]
    period = np.r_[np.full(half_a, 1), np.full(half_b, 2), np.full(n_a - half_a, 3),
                   np.full(n_b - half_b, 4)]  # fmt: skip
    return Series(
        y=y, active=active.astype(int), day=np.arange(len(y)), block=(period + 1) // 2,
        period=period, outcome="diarrhoea", low=low, high=high,
    )  # fmt: skip


def test_is_binary_from_bounds_or_values():
    assert is_binary(_series(3, 20, 1, 20))
    assert is_binary(_series(3, 20, 1, 20, low=None, high=None))
    assert not is_binary(_series(3, 20, 1, 20, low=0.0, high=10.0))
    pain = _series(3, 20, 1, 20)
    pain = Series(y=pain.y * 4, active=pain.active, day=pain.day, block=pain.block,
                  period=pain.period, low=None, high=None)  # fmt: skip
    assert not is_binary(pain)


@pytest.mark.parametrize(("prior", "a"), [("vague", 0.5), ("neutral", 1.0), ("sceptical", 2.0)])
def test_rates_are_the_conjugate_beta_posteriors(prior, a):
    fit = fit_binary_exact(_series(10, 60, 2, 60), prior, n_draws=200_000, seed=1)
    for key, yes in (("rate_a", 10), ("rate_b", 2)):
        post = stats.beta(a + yes, a + 60 - yes)
        assert fit.draws[key].mean() == pytest.approx(post.mean(), abs=5e-4)
        assert fit.draws[key].std() == pytest.approx(post.std(), rel=0.01)
    np.testing.assert_allclose(
        fit.draws["effect"], 100 * (fit.draws["rate_a"] - fit.draws["rate_b"])
    )
    assert fit.options["counts"] == {"A": (10, 60), "B": (2, 60)}
    assert (fit.engine, fit.likelihood) == ("exact", "binomial")


def test_p_higher_on_a_and_rate_interval_are_exact():
    fit = fit_binary_exact(_series(7, 40, 2, 45), n_draws=400_000, seed=2)
    p = p_higher_on_a(7, 40, 2, 45)
    assert p == pytest.approx(np.mean(fit.draws["rate_a"] > fit.draws["rate_b"]), abs=3e-3)
    r = rate_interval(7, 40)
    assert r["mean"] == pytest.approx(8 / 42)
    assert (r["low"], r["high"]) == pytest.approx(tuple(stats.beta(8, 34).ppf([0.025, 0.975])))


def test_summary_speaks_of_rates_and_percentage_points():
    series = _series(10, 63, 1, 63)
    s = summarize(fit_binary_exact(series, seed=3), series, mcid=BINARY_MCID)
    assert s.unit == "percentage points"
    assert s.rates["A"]["yes"] == 10 and s.rates["B"]["n"] == 63
    assert s.rates["p_higher_on_a"] > 0.99
    assert s.mean == pytest.approx(100 * (11 / 65 - 2 / 65), abs=0.3)
    assert "diarrhoea occurred on 10 of 63 days on A" in s.verdict
    assert "percentage points higher than on the control (B)" in s.verdict
    assert "minimal important difference of 10 percentage points" in s.verdict
    assert " points lower" not in s.verdict.replace("percentage points lower", "")
    assert (
        "Conclusion: A very probably makes your diarrhoea worse, but possibly by less than the "
        "minimal important difference" in s.verdict
    )
    d = s.to_dict()
    assert d["unit"] == "percentage points" and d["rates"]["A"]["n"] == 63


def test_analyze_takes_the_binomial_model_for_yes_no_outcomes():
    res = analyze(_series(10, 63, 1, 63), seed=4)
    assert res.options["likelihood"] == "binomial"
    assert res.options["mcid"] == BINARY_MCID
    assert res.summary.rates is not None
    assert res.verdict.criterion.line().startswith(
        "Decision criterion P(benefit >= 10 percentage points) > 0.80: not met"
    )
    normal = analyze(_series(10, 63, 1, 63), likelihood="normal", seed=4)
    assert normal.summary.rates is None and normal.options["mcid"] == 1.0


def test_a_side_effect_on_no_day_is_still_analysed():
    res = analyze(_series(0, 30, 0, 30), seed=5)
    assert res.summary.rates["A"]["yes"] == 0
    assert res.summary.p_benefit == pytest.approx(0.5, abs=0.03)


def test_binomial_needs_a_yes_no_outcome():
    scale = _series(3, 20, 1, 20, low=0.0, high=10.0)
    scale = Series(y=scale.y * 3 + 1, active=scale.active, day=scale.day, block=scale.block,
                   period=scale.period)  # fmt: skip
    with pytest.raises(ModelError, match="the binomial likelihood needs a yes/no outcome"):
        analyze(scale, likelihood="binomial")
    with pytest.raises(DataError, match="is not a yes/no outcome"):
        fit_binary_exact(scale)
    one_arm = Series(y=np.array([1.0, 0.0]), active=np.array([1, 1]), day=np.array([0, 1]),
                     block=np.array([1, 1]), period=np.array([1, 1]), low=0.0, high=1.0)  # fmt: skip
    with pytest.raises(DataError, match="has no answers on arm B"):
        fit_binary_exact(one_arm)


@pytest.mark.slow
def test_rate_difference_interval_covers_the_truth_at_16_vs_2_percent():
    """Acceptance (smaller than docs/validation.md): 63 analysed days per arm."""
    rng = np.random.default_rng(12 + SEED_SHIFT)
    trials, covered = 600, 0
    for i in range(trials):
        yes_a, yes_b = rng.binomial(63, 0.16), rng.binomial(63, 0.02)
        series = _series(int(yes_a), 63, int(yes_b), 63)
        s = summarize(fit_binary_exact(series, seed=i + SEED_SHIFT), series, mcid=BINARY_MCID)
        covered += s.hdi_low <= 14.0 <= s.hdi_high
    # 93-97% with room for Monte-Carlo error: 3 standard errors at 600 trials is 2.7 points.
    assert 0.93 - 0.027 <= covered / trials <= 0.97 + 0.027


def test_logistic_model_builds_without_sampling():
    from nof1.analysis.models.logistic import build_logistic

    series = _series(10, 40, 2, 40)
    model = build_logistic(series, "neutral", ar1=True)
    names = {v.name for v in model.free_RVs}
    assert {"alpha", "beta", "sigma_latent", "rho_unit", "z"} <= names
    assert {"rate_a", "rate_b", "rho"} <= {v.name for v in model.deterministics}
    plain = build_logistic(series, "sceptical", ar1=False)
    assert {v.name for v in plain.free_RVs} == {"alpha", "beta"}
    with pytest.raises(ModelError, match="unknown prior 'flat'"):
        build_logistic(series, "flat")


@pytest.mark.slow
def test_logistic_model_with_a_latent_ar1_agrees_with_the_exact_engine():
    """Independent days simulated: the latent process should find little to do, and the
    rates match the Beta-binomial model's within Monte-Carlo and prior differences."""
    rng = np.random.default_rng(21 + SEED_SHIFT)
    template = _series(0, 63, 0, 63)
    y = np.where(template.active == 1, rng.random(126) < 0.16, rng.random(126) < 0.02)
    series = Series(y=y.astype(float), active=template.active, day=template.day,
                    block=template.block, period=template.period, outcome="diarrhoea",
                    low=0.0, high=1.0)  # fmt: skip
    exact = analyze(series, seed=1 + SEED_SHIFT)
    mcmc = analyze(
        series, engine="mcmc", ar1=True, seed=1 + SEED_SHIFT, draws=300, chains=2, tune=500
    )
    assert mcmc.summary.likelihood == "binomial" and mcmc.fit.engine == "mcmc"
    assert mcmc.summary.mean == pytest.approx(exact.summary.mean, abs=2.5)
    assert mcmc.summary.rates["A"]["mean"] == pytest.approx(
        exact.summary.rates["A"]["mean"], abs=0.03
    )
    # 600 draws: Monte-Carlo se of a probability near 0.1 about 0.012, plus the priors'
    # difference (logit normal against Beta per arm).
    assert mcmc.summary.p_benefit == pytest.approx(exact.summary.p_benefit, abs=0.06)
    assert mcmc.fit.diagnostics.divergences == 0

"""What a data scientist holds: ``AnalysisResult.to_frame()`` and ``AnalysisResult.idata``."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mcerror import QUANTILES, SEED_SHIFT, Z
from scipy import special

from nof1.analysis.analyze import analyze
from nof1.analysis.csv_input import series_from_csv
from nof1.analysis.models.binary import BETA_PRIOR_A, arm_counts
from nof1.analysis.result import RESULT_COLUMNS
from nof1.analysis.series import Series

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "tests" / "data" / "peer" / "nof1ins_readme_example.csv"
README_ARGS = {"active": "2", "time": "Day", "block": "Block"}


@pytest.fixture(scope="module")
def readme() -> Series:
    return series_from_csv(README, "Y", "Treat", **README_ARGS)


def _yes_no() -> Series:
    """Four periods of 15 days (A, B, A, B): 10 of 30 days yes on A, 3 of 30 on B."""
    y = np.r_[np.ones(5), np.zeros(10), np.ones(2), np.zeros(13), np.ones(5), np.zeros(10),
              np.ones(1), np.zeros(14)]  # fmt: skip
    period = np.repeat([1, 2, 3, 4], 15)
    return Series(
        y=y, active=(period % 2 == 1).astype(int), day=np.arange(60), block=(period + 1) // 2,
        period=period, outcome="nausea", low=0.0, high=1.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def results(readme) -> dict:
    """One exact analysis of each kind: normal outcome, yes/no outcome, onset model."""
    seed = 5 + SEED_SHIFT
    return {
        "normal": analyze(readme, seed=seed),
        "binary": analyze(_yes_no(), seed=seed),
        "onset": analyze(readme, carryover=True, open_label=True, preregistered=True, seed=seed),
    }


def _expected_row(d: dict) -> dict:
    """The ``to_frame`` row, read off ``to_dict()`` (None where a value does not apply)."""
    verdict, rates, tau = d["verdict"], d["rates"] or {}, d["tau"] or {}
    return {
        "outcome": d["outcome"],
        "engine": d["engine"],
        "prior": d["prior"],
        "likelihood": d["likelihood"],
        "lower_is_better": d["lower_is_better"],
        "unit": d["unit"],
        "effect": d["effect"]["mean"],
        "effect_median": d["effect"]["median"],
        "effect_sd": d["effect"]["sd"],
        "hdi_low": d["effect"]["hdi_low"],
        "hdi_high": d["effect"]["hdi_high"],
        "hdi_prob": 0.95,
        "standardized": d["effect"]["standardized"],
        "p_benefit": d["p_benefit"],
        "p_mcid": d["p_mcid"],
        "p_large": d["p_large"],
        "p_rope": d["p_rope"],
        "mcid": d["mcid"],
        "threshold": verdict["criterion"]["threshold"],
        "criterion_met": verdict["criterion_met"],
        "preregistered": verdict["criterion"]["preregistered"],
        "tier": verdict["tier"],
        "blinding": verdict["blinding"]["status"],
        "p_could_tell": verdict["blinding"]["p_could_tell"],
        "rho": d["rho"]["mean"],
        "rho_sd": d["rho"]["sd"],
        "tau": tau.get("median"),
        "tau_low": tau.get("low"),
        "tau_high": tau.get("high"),
        "sigma": d["sigma"]["mean"],
        "rate_a": rates.get("A", {}).get("mean"),
        "rate_b": rates.get("B", {}).get("mean"),
        "randomization_p": d["randomization_test"]["p_value"],
        "n_days": d["n_days"],
        "n_observed": d["n_observed"],
        "converged": d["diagnostics"]["ok"],
    }


def _assert_row_matches_dict(result) -> pd.Series:
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.shape == (1, len(RESULT_COLUMNS))
    assert tuple(frame.columns) == RESULT_COLUMNS
    row = frame.iloc[0]
    expected = _expected_row(result.to_dict())
    assert set(expected) == set(RESULT_COLUMNS)
    for column, want in expected.items():
        got = row[column]
        if want is None and column != "criterion_met":
            assert isinstance(got, float) and math.isnan(got), (column, got)
        else:
            assert got == want, (column, got, want)
    return row


#: Columns that apply to some results only.
OPTIONAL = ("standardized", "rho", "rho_sd", "tau", "tau_low", "tau_high", "sigma", "rate_a",
            "rate_b")  # fmt: skip


@pytest.mark.parametrize("kind", ["normal", "binary", "onset"])
def test_to_frame_is_one_row_of_fixed_columns_with_the_values_of_to_dict(results, kind):
    row = _assert_row_matches_dict(results[kind])
    # What applies to each kind is a number, what does not is NaN.
    ar1 = {"rho", "rho_sd", "sigma", "standardized"}
    applies = {
        "normal": ar1,
        "binary": {"rate_a", "rate_b"},
        "onset": ar1 | {"tau", "tau_low", "tau_high"},
    }[kind]
    for column in OPTIONAL:
        assert math.isnan(row[column]) == (column not in applies), column
    assert row["engine"] == "exact" and row["converged"]
    if kind == "onset":
        assert (row["blinding"], row["preregistered"]) == ("could-tell", True)
    if kind == "binary":
        assert row["unit"] == "percentage points"
        # Beta(1, 1) prior, 10 yes of 30 days on A: mean 11/32 (here the draws' mean).
        assert row["rate_a"] == pytest.approx((1 + 10) / (2 + 30), abs=0.01)


def test_results_stack_into_one_tidy_frame(results):
    frame = pd.concat([r.to_frame() for r in results.values()], ignore_index=True)
    assert tuple(frame.columns) == RESULT_COLUMNS and len(frame) == 3
    numeric = ["effect", "effect_sd", "hdi_low", "rho", "tau", "rate_a", "randomization_p"]
    assert all(pd.api.types.is_float_dtype(frame[c]) for c in numeric)
    assert frame["likelihood"].tolist() == ["normal", "binomial", "normal"]


def _within_mc_error(x: np.ndarray, value: float, method: str, prob: float | None = None) -> None:
    """Draws ``x`` (chain, draw) estimate ``value`` (their ``method``: mean, sd or the
    quantile ``prob``) within ``Z`` Monte Carlo standard errors (ArviZ's ESS-based mcse)."""
    import arviz as az

    if method == "mean":
        estimate, se = x.mean(), az.mcse(x, method="mean")
    elif method == "sd":
        # The sd's mcse from the mean's of the squared deviations (the delta method, as
        # ArviZ's own method="sd", which fails under numba for plain arrays).
        estimate = x.std(ddof=1)
        se = az.mcse((x - x.mean()) ** 2, method="mean") / (2 * estimate)
    else:
        estimate, se = np.quantile(x, prob), az.mcse(x, method="quantile", prob=prob)
    se = float(np.ravel(se)[0])
    assert abs(estimate - value) <= Z * se, (method, prob, estimate, value, se)


@pytest.mark.parametrize("kind", ["normal", "onset"])
def test_exact_idata_draws_agree_with_the_exact_posterior(results, kind):
    result = results[kind]
    idata = result.idata
    assert result.idata is idata  # computed once
    post = idata.posterior
    assert set(post.data_vars) == set(result.fit.draws)
    assert {"effect", "sigma", "rho", "intercept"} <= set(post.data_vars)
    assert ("tau" in post.data_vars) == (kind == "onset")
    assert post["effect"].dims == ("chain", "draw")
    assert post.sizes["chain"] * post.sizes["draw"] == len(result.fit.draws["effect"])
    ex = result.fit.exact
    effect = post["effect"].values
    _within_mc_error(effect, ex.mean, "mean")
    _within_mc_error(effect, ex.sd, "sd")
    for q in QUANTILES:
        _within_mc_error(effect, ex.quantile(q), "quantile", q)
    _within_mc_error(post["rho"].values, ex.rho_mean, "mean")
    _within_mc_error(post["rho"].values, ex.rho_sd, "sd")
    if kind == "onset":
        _within_mc_error(post["tau"].values, float(np.sum(ex.weights * ex.tau)), "mean")


def test_exact_idata_is_the_same_for_the_same_seed(readme):
    a = analyze(readme, seed=11).idata.posterior
    b = analyze(readme, seed=11).idata.posterior
    c = analyze(readme, seed=12).idata.posterior
    np.testing.assert_array_equal(a["effect"].values, b["effect"].values)
    np.testing.assert_array_equal(a["rho"].values, b["rho"].values)
    assert not np.array_equal(a["effect"].values, c["effect"].values)


def test_binary_idata_draws_agree_with_the_beta_posteriors(results):
    result = results["binary"]
    post = result.idata.posterior
    assert set(post.data_vars) == {"rate_a", "rate_b", "effect", "ratio"}
    assert post["effect"].dims == ("chain", "draw")
    a = BETA_PRIOR_A[result.fit.prior]
    moments = {}
    for arm, key in (("A", "rate_a"), ("B", "rate_b")):
        yes, n = arm_counts(result.series)[arm]
        p, q = a + yes, a + n - yes
        mean, var = p / (p + q), p * q / ((p + q) ** 2 * (p + q + 1))
        moments[arm] = mean, var
        x = post[key].values
        _within_mc_error(x, mean, "mean")
        _within_mc_error(x, math.sqrt(var), "sd")
        for prob in QUANTILES:
            _within_mc_error(x, float(special.betaincinv(p, q, prob)), "quantile", prob)
    (mean_a, var_a), (mean_b, var_b) = moments["A"], moments["B"]
    _within_mc_error(post["effect"].values, 100 * (mean_a - mean_b), "mean")
    _within_mc_error(post["effect"].values, 100 * math.sqrt(var_a + var_b), "sd")


def _loaded(stderr: str) -> set[str]:
    """Top-level packages named in ``python -X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


HEAVY = {"arviz", "pymc", "pytensor", "matplotlib"}


def test_exact_cli_and_to_frame_load_no_arviz_until_idata_is_asked_for():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--csv", str(README), "--outcome", "Y", "--treatment", "Treat", "--active", "2"]
    cli = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nof1", "analyze", *args],
        cwd=ROOT, capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-2000:]
    loaded = _loaded(cli.stderr)
    assert "nof1" in loaded and not HEAVY & loaded, HEAVY & loaded
    code = (
        "import sys, nof1\n"
        f"r = nof1.analyze_csv({str(README)!r}, 'Y', 'Treat', active='2')\n"
        "r.to_frame()\n"
        f"assert not {HEAVY!r} & set(sys.modules), 'loaded before idata'\n"
        "r.idata\n"
        "assert 'arviz' in sys.modules and 'pymc' not in sys.modules\n"
    )
    lib = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
        env=env,
    )  # fmt: skip
    assert lib.returncode == 0, lib.stderr[-2000:]


@pytest.mark.slow
def test_mcmc_to_frame_and_idata(readme):
    pytest.importorskip("nof1.analysis.models.personal")
    result = analyze(readme, engine="mcmc", seed=3 + SEED_SHIFT, draws=300, chains=2)
    row = _assert_row_matches_dict(result)
    assert row["engine"] == "mcmc" and math.isnan(row["tau"])
    assert result.idata is result.fit.idata
    assert result.idata.posterior["beta"].dims[:2] == ("chain", "draw")

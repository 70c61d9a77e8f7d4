"""The Gaussian AR(1) log-likelihood Op (nof1.analysis.models.ar1lik): value and gradient."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from nof1.analysis.models.ar1lik import gaussian_ar1_loglik, lag_stats, loglik_and_grad
from nof1.analysis.series import Series


def gappy_series(seed: int, n: int = 30) -> Series:
    """A series with missing days and a two-day hole, so that gaps of 1, 2 and 3 occur."""
    rng = np.random.default_rng(seed)
    day = np.delete(np.arange(1, n + 3), [9, 10])
    y = rng.normal(5.0, 1.5, len(day))
    y[rng.choice(len(day), 4, replace=False)] = np.nan
    active = (np.arange(len(day)) // 7) % 2
    return Series(y=y, active=active, day=day, block=np.ones(len(day), int), period=active + 1)


def design(s: Series) -> np.ndarray:
    return np.column_stack([np.ones(len(s.y)), s.active, (s.day - s.day.mean()) / 10.0])


def joint_gaussian(s: Series, X, beta, sigma2, rho) -> float:
    obs = s.observed
    days = s.day[obs]
    if rho is None:
        cov = sigma2 * np.eye(len(days))
    else:
        cov = sigma2 * rho ** np.abs(days[:, None] - days[None, :]) / (1 - rho**2)
    return stats.multivariate_normal(X[obs] @ beta, cov).logpdf(s.y[obs])


SERIES = [gappy_series(1), gappy_series(2, n=40)]
BETA = np.array([[5.0, -1.2, 0.3], [4.0, 0.5, -0.2]])
SIGMA2 = np.array([1.7, 0.8])


@pytest.mark.parametrize("rho", [None, 0.0, 0.45, -0.7, 0.97])
def test_value_is_the_joint_gaussian_density_summed_over_series(rho):
    stats_ = lag_stats(SERIES, [design(s) for s in SERIES])
    assert {1.0, 3.0} <= set(stats_.gaps)  # the two-day hole makes a gap of 3
    rho_arr = None if rho is None else np.array([rho, rho])
    value, *_ = loglik_and_grad(stats_, BETA, SIGMA2, rho_arr)
    want = sum(
        joint_gaussian(s, design(s), b, s2, rho)
        for s, b, s2 in zip(SERIES, BETA, SIGMA2, strict=True)
    )
    assert value == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("rho", [None, np.array([0.3, -0.5]), np.array([0.0, 0.9])])
def test_gradient_matches_central_differences(rho):
    stats_ = lag_stats(SERIES, [design(s) for s in SERIES])
    _, g_beta, g_sigma2, g_rho = loglik_and_grad(stats_, BETA, SIGMA2, rho)
    h = 1e-6

    def f(beta=BETA, sigma2=SIGMA2, rho=rho):
        return loglik_and_grad(stats_, beta, sigma2, rho)[0]

    for idx in np.ndindex(BETA.shape):
        step = np.zeros_like(BETA)
        step[idx] = h
        numeric = (f(beta=BETA + step) - f(beta=BETA - step)) / (2 * h)
        assert g_beta[idx] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    for i in range(2):
        step = np.zeros(2)
        step[i] = h
        numeric = (f(sigma2=SIGMA2 + step) - f(sigma2=SIGMA2 - step)) / (2 * h)
        assert g_sigma2[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
        if rho is not None:
            numeric = (f(rho=rho + step) - f(rho=rho - step)) / (2 * h)
            assert g_rho[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    assert (g_rho is None) == (rho is None)


def test_op_in_a_graph_gives_value_and_gradient_from_one_node():
    stats_ = lag_stats(SERIES, [design(s) for s in SERIES])
    beta, sigma2, rho = pt.dmatrix("beta"), pt.dvector("sigma2"), pt.dscalar("rho")
    value = gaussian_ar1_loglik(stats_, beta, sigma2, rho * pt.ones(2))
    grads = pytensor.grad(value, [beta, sigma2, rho])
    fn = pytensor.function([beta, sigma2, rho], [value, *grads])
    ops = [type(node.op).__name__ for node in fn.maker.fgraph.toposort()]
    assert ops.count("_AR1LogLik") == 1
    got = fn(BETA, SIGMA2, 0.4)
    want = loglik_and_grad(stats_, BETA, SIGMA2, np.array([0.4, 0.4]))
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    # a rho shared by both series: its gradient is the sum of the per-series ones
    assert got[3] == pytest.approx(want[3].sum(), rel=1e-12)


def test_a_series_without_some_gap_contributes_nothing_for_it():
    """Gaps are aligned on their union; a series lacking one has zero statistics there."""
    short = Series(
        y=np.array([3.0, 4.0, 5.0, 4.0]),
        active=np.array([0, 0, 1, 1]),
        day=np.array([1, 2, 3, 4]),
        block=np.ones(4, int),
        period=np.array([1, 1, 2, 2]),
    )
    both = [SERIES[0], short]
    stats_ = lag_stats(both, [design(s) for s in both])
    assert stats_.count[1].tolist() == [3.0] + [0.0] * (len(stats_.gaps) - 1)
    value, *_ = loglik_and_grad(stats_, BETA, SIGMA2, np.array([0.5, 0.5]))
    want = sum(
        joint_gaussian(s, design(s), b, s2, 0.5)
        for s, b, s2 in zip(both, BETA, SIGMA2, strict=True)
    )
    assert value == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("rho", [-1.0, 1.0])
def test_rho_at_the_boundary_gives_a_non_finite_value_not_an_exception(rho):
    """NUTS can step to |rho| = 1 after rounding; it must see -inf or nan, and reject."""
    stats_ = lag_stats(SERIES, [design(s) for s in SERIES])
    value, *_ = loglik_and_grad(stats_, BETA, np.array([1e35, 1.0]), np.array([rho, rho]))
    assert not np.isfinite(value)

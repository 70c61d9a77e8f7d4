"""The exact engine's core: the conjugate update of a Gaussian AR(1) regression on a grid.

Model (column names from ``nof1.analysis.models.regression.design_matrix``)::

    y_t = X_t beta + e_t,   e_t = rho e_{t-1} + u_t,   u_t ~ N(0, sigma^2)
    e_1 ~ N(0, sigma^2 / (1 - rho^2))                      (stationary start)
    beta | sigma^2, rho ~ N(m0, sigma^2 diag(v0) / (1 - rho^2)),
    sigma^2 | rho ~ InvGamma(a0, b0 (1 - rho^2)),  rho ~ U(-1, 1)

that is, the named prior of ``nof1.analysis.models.priors`` on the marginal (day-to-day) variance
sigma^2 / (1 - rho^2); under the vague prior p(beta, sigma^2) proportional to 1 / sigma^2.

Missing days (``y`` NaN) and days that are not rows at all (washout) are gaps. Between two
consecutive observed days i < j, d = day_j - day_i days apart, the latent days marginalise
out exactly: e_j | e_i ~ N(rho^d e_i, sigma^2 (1 - rho^(2d)) / (1 - rho^2)). This is what
JAGS does in the R peer nof1ins, where missing days are latent nodes.

Given rho, the whitening w = L (y - X beta) with

    w_first = sqrt(1 - rho^2) e_first,
    w_j     = (e_j - rho^d e_i) * sqrt((1 - rho^2) / (1 - rho^(2d)))

is N(0, sigma^2 I), so the Normal-Inverse-Gamma update is closed form and the marginal
likelihood p(y | rho) is exact (including log|L|). Integrating rho over a midpoint grid on
(-1, 1) with those marginal likelihoods as weights gives the posterior of every
coefficient as a finite mixture of Student-t distributions: means, sds and tail
probabilities are analytic, quantiles and intervals are one-dimensional root finding.

Onset and carryover (``carryover=True``): the effect acts through the exposure ``E_t(tau)``
of ``nof1.analysis.models.exposure``. Given (rho, tau) the model is still linear in the effect, so
the engine integrates tau over a grid as it does rho: one design matrix per tau point, the
same conjugate update at every (tau, rho) pair, and weights p(y | rho, tau) p(rho) p(tau).
The posterior of the effect is again a finite mixture of Student-t's, over both grids.
tau ~ LogNormal(log TAU_MEDIAN_DAYS, TAU_LOG_SD) (``nof1.analysis.models.priors``: median 7 days),
integrated on equally spaced points of log tau (``tau_grid``).

This module holds the grids, the lag statistics and the grid posterior, all vectorized
over *many series at once* (one row each, sharing the design matrix), which is what
simulation studies need. Built on it: the effect's mixture of t's
(``nof1.analysis.models.exact_mixture``), the fit of one series (``exact.fit_exact``) and of
many (``exact_batch.fit_exact_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from nof1.analysis.models.priors import TAU_LOG_SD, TAU_MEDIAN_DAYS, ResolvedPrior, resolve_prior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series
from nof1.errors import DataError

#: Points of the rho grid for one series. The posterior of rho from a few dozen days has an
#: sd of 0.05 or more, so a spacing of 0.005 makes the midpoint rule exact to many digits.
GRID_SIZE = 400
#: Points of the rho grid for batches: coarser (spacing 0.02, still far below the posterior
#: sd of rho) to keep 2,000 simulated trials well under a second.
BATCH_GRID_SIZE = 100
#: Points of the rho grid of the onset model, whose mixture also spans the tau grid: with
#: spacing 0.02 the effect's posterior mean, sd and interval agree with those of 400 points
#: to 1e-4 posterior sds (the tau grid's error is no larger), and the summary's quantiles cost
#: a quarter of the time.
ONSET_GRID_SIZE = 100
#: Points of the tau grid: log tau from -TAU_GRID_HALF_WIDTH to +TAU_GRID_HALF_WIDTH prior sds
#: around the prior median, equally spaced (0.25 prior sd apart). The posterior of tau from
#: a 24-week trial spans a factor of several, so the sum is exact to far below Monte Carlo
#: error (halving the spacing moves a posterior mean by under 0.002 posterior sds:
#: tests/test_exact.py).
TAU_GRID_SIZE = 29
TAU_GRID_HALF_WIDTH = 3.5


def rho_grid(size: int) -> np.ndarray:
    """Midpoints of ``size`` equal cells on (-1, 1): the integration grid over rho."""
    return -1.0 + (2.0 * np.arange(size) + 1.0) / size


def tau_grid(size: int = TAU_GRID_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The integration grid over the onset/carryover time constant tau, and its prior weights.

    Points equally spaced in log tau over +-``TAU_GRID_HALF_WIDTH`` prior sds of
    tau ~ LogNormal(log ``TAU_MEDIAN_DAYS``, ``TAU_LOG_SD``); weights proportional to the
    prior density of log tau there (the rule for a smooth integrand against a normal).

    Returns
    -------
    (tau, weights) : tau in days, shape (size,), increasing; weights sum to 1.

    Example
    -------
    >>> tau, w = tau_grid(3)
    >>> np.round(tau, 2).tolist(), np.round(w, 3).tolist()
    [[1.22, 7.0, 40.28], [0.002, 0.996, 0.002]]
    """
    z = np.linspace(-TAU_GRID_HALF_WIDTH, TAU_GRID_HALF_WIDTH, size) if size > 1 else np.zeros(1)
    w = np.exp(-0.5 * z**2)
    return TAU_MEDIAN_DAYS * np.exp(TAU_LOG_SD * z), w / w.sum()


# --------------------------------------------------------------------------------------
# Sufficient statistics and the grid posterior (vectorized over series)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LagStats:
    """Cross-products of Z = [X, y] that the whitened regression needs, per series.

    ``first`` is Z_f Z_f' of the first observed day; for each distinct gap d in ``gaps``,
    ``a``, ``b``, ``c`` sum Z_j Z_j', Z_j Z_i', Z_i Z_i' over observed pairs (i, j) that are
    d days apart, and ``count`` how many such pairs each series has.
    """

    first: np.ndarray  # (S, q, q)
    gaps: np.ndarray  # (K,)
    a: np.ndarray  # (S, K, q, q)
    b: np.ndarray  # (S, K, q, q)
    c: np.ndarray  # (S, K, q, q)
    count: np.ndarray  # (S, K)
    n_obs: np.ndarray  # (S,)


def _lag_stats(Y: np.ndarray, X: np.ndarray, day: np.ndarray) -> _LagStats:
    obs = ~np.isnan(Y)
    if len(Y) > 1 and obs[0].any() and np.all(obs == obs[:1]):
        return _shared_lag_stats(Y, X, day, obs[0])
    return _series_lag_stats(Y, X, day)


def _series_lag_stats(Y: np.ndarray, X: np.ndarray, day: np.ndarray) -> _LagStats:
    """``_lag_stats`` with each series' own observed days."""
    S, n = Y.shape
    p = X.shape[1]
    obs = ~np.isnan(Y)
    Z = np.empty((S, n, p + 1))
    Z[:, :, :p] = X[None, :, :]
    Z[:, :, p] = np.where(obs, Y, 0.0)
    # Index of the previous observed day of every day (-1 when there is none).
    idx = np.where(obs, np.arange(n)[None, :], -1)
    last = np.maximum.accumulate(idx, axis=1)
    prev = np.concatenate([np.full((S, 1), -1), last[:, :-1]], axis=1)
    has_prev = obs & (prev >= 0)
    first = obs & (prev < 0)
    prev_c = np.clip(prev, 0, None)
    gap = np.where(has_prev, day[None, :] - day[prev_c], 0)
    z_prev = np.take_along_axis(Z, prev_c[:, :, None], axis=1)
    gaps = np.unique(gap[has_prev])
    k = len(gaps)
    q = p + 1
    a = np.empty((S, k, q, q))
    b = np.empty((S, k, q, q))
    c = np.empty((S, k, q, q))
    count = np.empty((S, k))
    zt = np.swapaxes(Z, 1, 2)  # (S, q, n)
    for i, d in enumerate(gaps):
        m = (has_prev & (gap == d)).astype(float)[:, None, :]
        a[:, i] = (zt * m) @ Z
        b[:, i] = (zt * m) @ z_prev
        c[:, i] = (np.swapaxes(z_prev, 1, 2) * m) @ z_prev
        count[:, i] = m[:, 0].sum(axis=1)
    f = (zt * first[:, None, :]) @ Z
    return _LagStats(first=f, gaps=gaps, a=a, b=b, c=c, count=count, n_obs=obs.sum(axis=1))


def _shared_lag_stats(Y: np.ndarray, X: np.ndarray, day: np.ndarray, obs: np.ndarray) -> _LagStats:
    """``_lag_stats`` when every series has the same observed days (simulation studies):
    the pairs of days are then shared, so the X'X parts are computed once and the parts
    with y are plain matrix products over days, several times faster than per-series
    products. Same numbers up to rounding (tests/test_exact.py)."""
    S, n = Y.shape
    p = X.shape[1]
    q = p + 1
    seen = np.flatnonzero(obs)
    prev = np.full(n, -1)
    prev[seen[1:]] = seen[:-1]
    has_prev = prev >= 0
    gap = np.where(has_prev, day - day[np.clip(prev, 0, None)], 0)
    gaps = np.unique(gap[has_prev])
    y = np.where(obs, Y, 0.0)
    xp = X[np.clip(prev, 0, None)]
    yp = y[:, np.clip(prev, 0, None)]

    def block(u: np.ndarray, v: np.ndarray, yu: np.ndarray, yv: np.ndarray, m: np.ndarray):
        """(S, q, q) sums over the days in m of [u, yu] [v, yv]'."""
        out = np.empty((S, q, q))
        out[:, :p, :p] = (u * m[:, None]).T @ v
        out[:, :p, p] = (yv * m) @ u
        out[:, p, :p] = (yu * m) @ v
        out[:, p, p] = (yu * yv * m).sum(axis=1)
        return out

    k = len(gaps)
    a = np.empty((S, k, q, q))
    b = np.empty((S, k, q, q))
    c = np.empty((S, k, q, q))
    count = np.empty((S, k))
    for i, d in enumerate(gaps):
        m = (has_prev & (gap == d)).astype(float)
        a[:, i] = block(X, X, y, y, m)
        b[:, i] = block(X, xp, y, yp, m)
        c[:, i] = block(xp, xp, yp, yp, m)
        count[:, i] = m.sum()
    first = np.zeros(n)
    first[seen[0]] = 1.0
    f = block(X, X, y, y, first)
    return _LagStats(first=f, gaps=gaps, a=a, b=b, c=c, count=count, n_obs=np.full(S, len(seen)))


@dataclass(frozen=True)
class _GridPosterior:
    """NIG posterior at every (series, rho) pair, and the rho weights.

    beta | sigma^2, rho ~ N(mn, sigma^2 Pn^-1); sigma^2 | rho ~ InvGamma(an, bn).
    """

    rho: np.ndarray  # (G,)
    weights: np.ndarray  # (S, G), rows sum to 1
    log_ml: np.ndarray  # (S, G): log p(y | rho)
    mn: np.ndarray  # (S, G, p)
    pn: np.ndarray  # (S, G, p, p): posterior precision (divided by 1/sigma^2)
    vn_effect: np.ndarray  # (S, G): the effect's diagonal entry of Pn^-1
    an: np.ndarray  # (S,)
    bn: np.ndarray  # (S, G)


def _cholesky(a: np.ndarray) -> np.ndarray:
    # Batched LAPACK calls cost about a microsecond per tiny matrix; with a few columns and
    # hundreds of thousands of (series, rho) pairs, column-wise vector arithmetic is faster.
    p = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(p):
        d = a[..., j, j] - np.sum(low[..., j, :j] ** 2, axis=-1)
        low[..., j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            dot = np.sum(low[..., i, :j] * low[..., j, :j], axis=-1)
            low[..., i, j] = (a[..., i, j] - dot) / low[..., j, j]
    return low


def _forward(low: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve low @ z = b for lower-triangular batches; b (..., p)."""
    z = np.empty_like(b)
    for i in range(b.shape[-1]):
        z[..., i] = (b[..., i] - np.sum(low[..., i, :i] * z[..., :i], axis=-1)) / low[..., i, i]
    return z


def _backward(low: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Solve low.T @ x = z."""
    p = z.shape[-1]
    x = np.empty_like(z)
    for i in reversed(range(p)):
        x[..., i] = (z[..., i] - np.sum(low[..., i + 1 :, i] * x[..., i + 1 :], axis=-1)) / low[
            ..., i, i
        ]
    return x


def _grid_posterior(
    stats: _LagStats, prior: ResolvedPrior, rho: np.ndarray, effect: int
) -> _GridPosterior:
    p = len(prior.m0)
    S, _, q, _ = stats.a.shape
    one_m = 1.0 - rho**2  # (G,)
    r = rho[None, :] ** stats.gaps[:, None].astype(float)  # (K, G)
    c2 = one_m[None, :] / (1.0 - r**2)  # (K, G); exactly 1 for d = 1
    # Sum over gaps as one matrix product per series: (G, 3K) @ (S, 3K, q*q) -> (S, G, q*q).
    bsym = stats.b + np.swapaxes(stats.b, -1, -2)
    coef = np.concatenate([c2, -c2 * r, c2 * r**2], axis=0).T
    parts = np.concatenate([stats.a, bsym, stats.c], axis=1).reshape(S, -1, q * q)
    M = (coef @ parts).reshape(S, len(rho), q, q)
    M += one_m[None, :, None, None] * stats.first[:, None]
    log_det_l = 0.5 * (
        (stats.n_obs - stats.count.sum(axis=1))[:, None] * np.log(one_m)[None, :]
        + stats.count @ np.log(c2)
    )
    xty = M[..., :p, p]
    yty = M[..., p, p]
    # The prior given rho (``ResolvedPrior.given_rho``): scaled by the marginal variance.
    prec0, b0, log_norm = prior.given_rho(rho)  # (G, p), (G,), (G,)
    pn = M[..., :p, :p] + prec0[:, :, None] * np.eye(p)
    low = _cholesky(pn)
    z = _forward(low, prec0 * prior.m0 + xty)
    mn = _backward(low, z)
    unit = np.zeros(p)
    unit[effect] = 1.0
    vn_effect = np.sum(_forward(low, np.broadcast_to(unit, z.shape).copy()) ** 2, axis=-1)
    # y'y + m0'P0 m0 - mn'Pn mn, where mn'Pn mn = |z|^2.
    bn = b0 + 0.5 * (yty + prec0 @ prior.m0**2 - np.sum(z**2, axis=-1))
    # Cancellation can leave a perfect fit with a tiny negative residual sum of squares.
    bn = np.maximum(bn, 1e-12 * (b0 + 0.5 * yty) + 1e-300)
    an = prior.a0 + 0.5 * stats.n_obs
    logdet_pn = 2.0 * np.sum(np.log(np.diagonal(low, axis1=-2, axis2=-1)), axis=-1)
    log_ml = (
        log_det_l
        - 0.5 * stats.n_obs[:, None] * np.log(2 * np.pi)
        - 0.5 * logdet_pn
        + log_norm
        - an[:, None] * np.log(bn)
        + gammaln(an)[:, None]
    )
    w = np.exp(log_ml - log_ml.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return _GridPosterior(
        rho=rho, weights=w, log_ml=log_ml, mn=mn, pn=pn, vn_effect=vn_effect, an=an, bn=bn
    )


def _design_mixture(
    Y: np.ndarray,
    designs: Sequence[np.ndarray],
    day: np.ndarray,
    prior: ResolvedPrior,
    rho: np.ndarray,
    effect: int,
    log_prior: np.ndarray,
) -> tuple[_GridPosterior, np.ndarray]:
    """The grid posterior over (design k, rho) pairs: the tau grid times the rho grid.

    Each design matrix (one per tau point) gets the conjugate update of ``_grid_posterior``
    on its rho grid; the points are then weighted by p(y | k, rho) and the prior mass
    ``log_prior[k]`` of each design (rho's prior is uniform over its grid). Grid axes of
    the result run over K * G points, design-major.

    Returns
    -------
    (posterior, log_mass) : the joint grid posterior, and log prior mass of every point
        (for the evidence, log p(y) = logsumexp(log_ml + log_mass)).
    """
    posts = [_grid_posterior(_lag_stats(Y, X, day), prior, rho, effect) for X in designs]
    log_mass = np.repeat(np.asarray(log_prior, dtype=float) - np.log(len(rho)), len(rho))
    if len(posts) == 1:
        return posts[0], log_mass
    log_ml = np.concatenate([p.log_ml for p in posts], axis=1)
    log_w = log_ml + log_mass[None, :]
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    joined = _GridPosterior(
        rho=np.tile(rho, len(posts)),
        weights=w,
        log_ml=log_ml,
        mn=np.concatenate([p.mn for p in posts], axis=1),
        pn=np.concatenate([p.pn for p in posts], axis=1),
        vn_effect=np.concatenate([p.vn_effect for p in posts], axis=1),
        an=posts[0].an,
        bn=np.concatenate([p.bn for p in posts], axis=1),
    )
    return joined, log_mass


def _prepare(series: Series, prior: str, trend: str):
    """The design matrix, its column names and the resolved prior of one series, after
    checking that the series can support the model (both fits start here)."""
    series.check_analysable()
    X, names = design_matrix(series, trend=trend)
    obs = series.observed
    if np.linalg.matrix_rank(X[obs]) < X.shape[1]:
        raise DataError(
            f"the model's columns ({', '.join(names)}) are not identifiable from the observed "
            "days; try a simpler trend"
        )
    return X, names, resolve_prior(prior, series, names)

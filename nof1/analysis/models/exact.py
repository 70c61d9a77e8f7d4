"""The exact engine: Gaussian AR(1) regression with a conjugate prior and an exact rho grid.

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

The heavy lifting works on *many series at once* (one row each, sharing the design
matrix), which is what simulation studies need: see ``fit_exact_batch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import betainc, gammaln, ndtri

from nof1.analysis.models.base import Diagnostics, Fit
from nof1.analysis.models.priors import TAU_LOG_SD, TAU_MEDIAN_DAYS, ResolvedPrior, resolve_prior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series
from nof1.errors import DataError, ModelError

#: Points of the rho grid for one series. The posterior of rho from a few dozen days has an
#: sd of 0.05 or more, so a spacing of 0.005 makes the midpoint rule exact to many digits.
GRID_SIZE = 400
#: Points of the rho grid for batches: coarser (spacing 0.02, still far below the posterior
#: sd of rho) to keep 2,000 simulated trials well under a second.
BATCH_GRID_SIZE = 100
#: Series per chunk in the batch path; bounds memory to a few tens of MB.
BATCH_CHUNK = 500
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


# --------------------------------------------------------------------------------------
# Mixtures of Student-t distributions (leading axis: series; last axis: grid)
# --------------------------------------------------------------------------------------


def _t_cdf(df, z):
    # The regularized incomplete beta form of the Student-t CDF: same values as
    # scipy.special.stdtr, about twice as fast, which matters in the batch path.
    tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + z**2))
    return np.where(z < 0, tail, 1.0 - tail)


def _mix_cdf(w, loc, scale, df, x):
    """P(X <= x) for mixtures; w, loc, scale (S, G), df (S,), x (S, k) -> (S, k)."""
    z = (x[:, :, None] - loc[:, None, :]) / scale[:, None, :]
    return np.einsum("sg,skg->sk", w, _t_cdf(df[:, None, None], z))


def _mix_pdf(w, loc, scale, df, x, derivative=False):
    """Mixture density at x (S, k); with ``derivative`` also its slope d pdf / dx."""
    sc = scale[:, None, :]
    z = (x[:, :, None] - loc[:, None, :]) / sc
    nu = df[:, None, None]
    logc = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
    dens = np.exp(logc - (nu + 1) / 2 * np.log1p(z**2 / nu)) / sc
    pdf = np.einsum("sg,skg->sk", w, dens)
    if not derivative:
        return pdf
    slope = dens * (-(nu + 1) / nu * z / (1 + z**2 / nu)) / sc
    return pdf, np.einsum("sg,skg->sk", w, slope)


def _prune(w, loc, scale, eps=1e-9):
    """Keep, per row, the heaviest grid points holding all but ``eps`` of the mass.

    Every probability changes by less than ``eps``; the t CDF is the costly part of the
    batch path and most of the rho grid carries no weight.
    """
    order = np.argsort(-w, axis=1)
    ws = np.take_along_axis(w, order, axis=1)
    k = int(np.max(np.sum(np.cumsum(ws, axis=1) < 1.0 - eps, axis=1))) + 1
    k = min(k, w.shape[1])
    top = order[:, :k]
    return ws[:, :k], np.take_along_axis(loc, top, axis=1), np.take_along_axis(scale, top, axis=1)


def _mix_moments(w, loc, scale, df):
    mean = np.sum(w * loc, axis=1)
    second = np.sum(w * (scale**2 * (df / (df - 2.0))[:, None] + loc**2), axis=1)
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0))


def _mix_quantile(w, loc, scale, df, q, tol=1e-10, max_iter=100):
    """Quantiles q (k,) of each mixture -> (S, k), by safeguarded Halley steps in a bracket.

    Halley's method (cubic convergence) needs the density and its slope, which are cheap;
    the costly part is the CDF, so fewer iterations is what counts.
    """
    mean, sd = _mix_moments(w, loc, scale, df)
    q = np.broadcast_to(np.asarray(q, dtype=float), (len(mean), np.size(q)))
    # Cantelli's inequality brackets every quantile within a few sds of the mean.
    lo = mean[:, None] - 1.001 * sd[:, None] * np.sqrt((1 - q) / q) - 1e-12
    hi = mean[:, None] + 1.001 * sd[:, None] * np.sqrt(q / (1 - q)) + 1e-12
    # Start from the normal approximation; Halley then needs two or three steps.
    x = np.clip(mean[:, None] + sd[:, None] * ndtri(q), lo, hi)
    todo = np.arange(len(mean))
    for _ in range(max_iter):
        args = (w[todo], loc[todo], scale[todo], df[todo])
        xt = x[todo]
        f = _mix_cdf(*args, xt) - q[todo]
        done = np.all(np.abs(f) < tol, axis=1)
        todo, f, xt, args = todo[~done], f[~done], xt[~done], tuple(a[~done] for a in args)
        if len(todo) == 0:
            break
        lo[todo] = np.where(f < 0, xt, lo[todo])
        hi[todo] = np.where(f > 0, xt, hi[todo])
        dens, slope = _mix_pdf(*args, xt, derivative=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = xt - 2 * f * dens / (2 * dens**2 - f * slope)
        inside = np.isfinite(step) & (step > lo[todo]) & (step < hi[todo])
        x[todo] = np.where(inside, step, 0.5 * (lo[todo] + hi[todo]))
    return x


# --------------------------------------------------------------------------------------
# One series
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactPosterior:
    """The analytic posterior of the effect: a mixture over the grid of Student-t's.

    The grid is the rho grid, or with onset/carryover every (tau, rho) pair; the arrays
    ``rho``, ``tau``, ``weights``, ``loc`` and ``scale`` have one entry per grid point.

    Parameters
    ----------
    rho : rho of each grid point, in (-1, 1) (0 when the model has no AR(1) term).
    weights : posterior probability of each grid point (sums to 1).
    loc, scale : location and scale of the effect's Student-t at each grid point.
    df : degrees of freedom of those t's (2 * a_n, shared by the grid).
    rho_mean, rho_sd : posterior mean and sd of rho (0 without AR(1)).
    sigma_mean : posterior mean of the innovation sd sigma.
    standardized_mean : posterior mean of effect / (sigma / sqrt(1 - rho^2)), the effect
        in units of the day-to-day (marginal) sd of the outcome.
    log_evidence : log p(y) of the model, integrated over the grid (under the improper
        vague prior only up to a constant, so not comparable across models).
    tau : onset/carryover time constant (days) of each grid point; None without the
        onset model.
    """

    rho: np.ndarray
    weights: np.ndarray
    loc: np.ndarray
    scale: np.ndarray
    df: float
    rho_mean: float
    rho_sd: float
    sigma_mean: float
    standardized_mean: float
    log_evidence: float
    tau: np.ndarray | None = None
    _moments: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        m, s = _mix_moments(
            self.weights[None], self.loc[None], self.scale[None], np.array([self.df])
        )
        object.__setattr__(self, "_moments", (float(m[0]), float(s[0])))

    def _args(self):
        # Grid points with negligible weight change no probability by more than 1e-12.
        keep = self.weights > 1e-14 * self.weights.max()
        return (
            self.weights[keep][None],
            self.loc[keep][None],
            self.scale[keep][None],
            np.array([self.df]),
        )

    @property
    def mean(self) -> float:
        """Posterior mean of the effect."""
        return self._moments[0]

    @property
    def sd(self) -> float:
        """Posterior standard deviation of the effect."""
        return self._moments[1]

    def cdf(self, x: float | np.ndarray) -> float | np.ndarray:
        """P(effect <= x), exact (a weighted sum of Student-t CDFs)."""
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        out = _mix_cdf(*self._args(), xs[None])[0]
        return float(out[0]) if np.ndim(x) == 0 else out

    def pdf(self, x: float | np.ndarray) -> float | np.ndarray:
        """Posterior density of the effect at x."""
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        out = _mix_pdf(*self._args(), xs[None])[0]
        return float(out[0]) if np.ndim(x) == 0 else out

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Posterior quantile(s) of the effect (root of the mixture CDF, to 1e-10)."""
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((qs <= 0) | (qs >= 1)):
            raise ModelError(f"quantile levels must lie strictly between 0 and 1, got {q}")
        out = _mix_quantile(*self._args(), qs)[0]
        return float(out[0]) if np.ndim(q) == 0 else out

    def hdi(self, prob: float = 0.95) -> tuple[float, float]:
        """Highest-density interval: the shortest interval holding ``prob`` of the mass.

        The effect's posterior is unimodal in practice (a mixture of t's with nearby
        centres); its HDI [Q(u), Q(u + prob)] has equal density at both ends, and
        pdf(Q(u)) - pdf(Q(u + prob)) increases with u, so u is found by bisection.
        """
        if not 0 < prob < 1:
            raise ModelError(f"interval probability must lie between 0 and 1, got {prob}")
        args = self._args()
        lo, hi = 0.0, 1.0 - prob
        for _ in range(40):
            u = 0.5 * (lo + hi)
            ends = _mix_quantile(*args, np.array([u, u + prob]))
            dens = _mix_pdf(*args, ends)[0]
            if dens[0] < dens[1]:
                lo = u
            else:
                hi = u
        return float(ends[0, 0]), float(ends[0, 1])


def _prepare(series: Series, prior: str, trend: str):
    series.check_analysable()
    X, names = design_matrix(series, trend=trend)
    obs = series.observed
    if np.linalg.matrix_rank(X[obs]) < X.shape[1]:
        raise DataError(
            f"the model's columns ({', '.join(names)}) are not identifiable from the observed "
            "days; try a simpler trend"
        )
    return X, names, resolve_prior(prior, series, names)


def fit_exact(
    series: Series,
    prior: str = "neutral",
    *,
    ar1: bool = True,
    trend: str = "none",
    carryover: bool = False,
    n_draws: int = 4000,
    seed: int | None = None,
    grid_size: int | None = None,
    tau_grid_size: int = TAU_GRID_SIZE,
) -> Fit:
    """Fit the Gaussian (AR(1)) regression exactly.

    Parameters
    ----------
    series : the series (``series.check_analysable()`` must pass). With ``carryover``,
        washout days belong in it as unobserved rows (``y`` NaN), so that exposure starts
        on the first kit's first day (``nof1.analysis.series.series_from_trial(washout="unobserved")``).
    prior : ``"vague"``, ``"neutral"`` or ``"sceptical"`` (``nof1.analysis.models.priors``).
    ar1 : AR(1) errors with rho ~ Uniform(-1, 1) integrated on a grid; False fixes rho = 0.
    trend : ``"none"``, ``"linear"`` or ``"block"`` (``design_matrix``).
    carryover : the effect acts through the onset/carryover exposure ``E_t(tau)``, tau
        integrated over ``tau_grid``; ``effect`` is then the effect at full exposure.
    n_draws : independent posterior draws returned in ``Fit.draws``.
    seed : seed of the draws (the analytic summary does not depend on it).
    grid_size : points of the rho grid; None means ``GRID_SIZE``, or ``ONSET_GRID_SIZE``
        with ``carryover``.
    tau_grid_size : points of the tau grid (with ``carryover``).

    Returns
    -------
    Fit
        ``engine="exact"``, ``likelihood="normal"``, diagnostics ok; ``draws`` has
        ``sigma``, ``rho`` (when ``ar1``), ``tau`` (when ``carryover``), every coefficient
        and ``effect``; ``exact`` is an ``ExactPosterior`` (mean, sd, cdf, quantile, hdi,
        grid weights).

    Raises
    ------
    DataError : the series cannot support an effect estimate.
    ModelError : unknown prior or trend.

    Example
    -------
    >>> fit = fit_exact(series, prior="vague")            # doctest: +SKIP
    >>> fit.exact.mean, fit.exact.hdi(0.95)               # doctest: +SKIP
    """
    X, names, rp = _prepare(series, prior, trend)
    if grid_size is None:
        grid_size = ONSET_GRID_SIZE if carryover else GRID_SIZE
    rho = rho_grid(grid_size) if ar1 else np.zeros(1)
    taus, tau_w = tau_grid(tau_grid_size) if carryover else (np.zeros(1), np.ones(1))
    designs = [X if t == 0 else design_matrix(series, trend, tau=t)[0] for t in taus]
    e = names.index("effect")
    post, log_mass = _design_mixture(
        series.y[None, :], designs, series.day, rp, rho, e, np.log(tau_w)
    )
    rho_pts, tau_pts = post.rho, np.repeat(taus, len(rho))
    w, mn, an, bn = post.weights[0], post.mn[0], float(post.an[0]), post.bn[0]
    vn = np.linalg.inv(post.pn[0])
    loc = mn[:, e]
    scale = np.sqrt(bn / an * post.vn_effect[0])
    # E[sigma | rho] and E[1/sigma | rho] under sigma^2 ~ InvGamma(an, bn).
    e_sigma = np.sqrt(bn) * np.exp(gammaln(an - 0.5) - gammaln(an))
    e_inv_sigma = np.exp(gammaln(an + 0.5) - gammaln(an)) / np.sqrt(bn)
    rho_mean = float(np.sum(w * rho_pts))
    log_joint = post.log_ml[0] + log_mass
    top = log_joint.max()
    exact = ExactPosterior(
        rho=rho_pts,
        weights=w,
        loc=loc,
        scale=scale,
        df=2.0 * an,
        rho_mean=rho_mean,
        rho_sd=float(np.sqrt(max(np.sum(w * rho_pts**2) - rho_mean**2, 0.0))),
        sigma_mean=float(np.sum(w * e_sigma)),
        standardized_mean=float(np.sum(w * loc * np.sqrt(1 - rho_pts**2) * e_inv_sigma)),
        log_evidence=float(top + np.log(np.sum(np.exp(log_joint - top)))),
        tau=tau_pts if carryover else None,
    )
    grid_values = {"rho": rho_pts} if ar1 else {}
    if carryover:
        grid_values["tau"] = tau_pts
    draws = _draw(np.random.default_rng(seed), n_draws, w, mn, vn, an, bn, names, grid_values)
    options = {"ar1": ar1, "trend": trend, "carryover": carryover}
    options["grid_size"] = len(rho)
    if carryover:
        options["tau_grid_size"] = len(taus)
    return Fit(
        engine="exact",
        prior=prior,
        likelihood="normal",
        coef_names=names,
        draws=draws,
        diagnostics=Diagnostics(ok=True),
        exact=exact,
        options=options,
    )


def _draw(rng, n, w, mn, vn, an, bn, names, grid_values) -> dict[str, np.ndarray]:
    """Independent draws: a grid point by its weight, then sigma^2 and beta given it.

    ``grid_values`` maps a grid parameter's name (``rho``, ``tau``) to its value at every
    grid point; each is drawn along.
    """
    g = rng.choice(len(w), size=n, p=w)
    sigma2 = bn[g] / rng.gamma(an, size=n)
    chol = np.linalg.cholesky(vn)  # (G, p, p)
    z = rng.standard_normal((n, len(names)))
    beta = mn[g] + np.sqrt(sigma2)[:, None] * np.einsum("nab,nb->na", chol[g], z)
    draws = {"sigma": np.sqrt(sigma2)}
    for name, values in grid_values.items():
        draws[name] = values[g]
    for i, name in enumerate(names):
        draws[name] = beta[:, i].copy()
    return draws


# --------------------------------------------------------------------------------------
# Many series at once
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFit:
    """Exact effect posteriors of S series (arrays over series, in input order).

    Parameters
    ----------
    mean, sd : posterior mean and sd of the effect, shape (S,).
    thresholds : the t's of ``p_below``, shape (T,).
    p_below : P(effect < t) for each series and threshold, shape (S, T).
    lower, upper : equal-tailed 95% (``interval``) credible interval, shape (S,). The
        batch path reports equal-tailed intervals (one quantile root each); the single
        series path reports highest-density intervals. For the near-symmetric effect
        posterior they differ by far less than the Monte-Carlo error of any simulation.
    rho_mean : posterior mean of rho, shape (S,) (0 without AR(1)).
    n_obs : observed days per series, shape (S,).
    interval : the probability of the interval (0.95).
    tau_mean : posterior mean of the onset/carryover time constant tau in days, shape
        (S,), when the fit integrated over a tau grid; else None.
    """

    mean: np.ndarray
    sd: np.ndarray
    thresholds: np.ndarray
    p_below: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rho_mean: np.ndarray
    n_obs: np.ndarray
    interval: float = 0.95
    tau_mean: np.ndarray | None = None


def fit_exact_batch(
    Y: np.ndarray,
    X: np.ndarray,
    day: np.ndarray,
    prior: ResolvedPrior,
    *,
    ar1: bool = True,
    thresholds: Sequence[float] = (0.0,),
    interval: float | None = 0.95,
    grid_size: int = BATCH_GRID_SIZE,
    chunk: int = BATCH_CHUNK,
    tau: np.ndarray | None = None,
    tau_weights: np.ndarray | None = None,
) -> BatchFit:
    """Fit the exact model to many series that share one design (simulation studies).

    Same model and numbers as ``fit_exact`` (given the same grids), vectorized: 2,000
    simulated 112-day trials take a fraction of a second, about K times that with a
    K-point tau grid.

    Parameters
    ----------
    Y : outcomes, shape (S, n): one simulated series per row, NaN where a day is missing
        (each row may have its own missing days; a row needs at least len(m0) + 1 scores).
    X : the shared design matrix, shape (n, p), e.g. from
        ``design_matrix(template_series, trend)``; its columns must match ``prior``. With
        the onset model, shape (K, n, p): one design matrix per point of the tau grid,
        ``design_matrix(template_series, trend, tau=tau[k])``.
    day : day index of the n columns (strictly increasing; gaps such as washout allowed).
    prior : a resolved prior for X's columns, e.g.
        ``resolve_prior("neutral", template_series, names)``; the effect is the column
        named ``"effect"``.
    ar1 : AR(1) errors integrated over the rho grid; False fixes rho = 0.
    thresholds : the t's for P(effect < t), e.g. ``(0.0, -mcid)`` for a pain outcome
        (lower is better: P(benefit) = P(effect < 0)); for a higher-is-better outcome use
        ``1 - p_below`` with t = 0 and t = +mcid (ties have probability zero).
    interval : probability of the equal-tailed credible interval; None skips the interval
        (``lower`` and ``upper`` are then NaN), a third of the time when only means and
        tail probabilities are needed (sequential designs).
    grid_size : points of the rho grid (the single-series default is ``GRID_SIZE``).
    chunk : series per vectorized chunk (memory is about chunk * K * grid_size * 1 kB).
    tau, tau_weights : with a 3-D ``X``, the tau of each design matrix and its prior
        weight (``tau_grid()``); both None with a 2-D ``X``.

    Returns
    -------
    BatchFit

    Raises
    ------
    ModelError : shapes that do not fit together, or a prior for other columns.

    Example
    -------
    >>> X, names = design_matrix(template, trend="linear")           # doctest: +SKIP
    >>> rp = resolve_prior("neutral", template, names)               # doctest: +SKIP
    >>> out = fit_exact_batch(Y, X, template.day, rp, thresholds=(0.0, -1.0))  # doctest: +SKIP
    >>> power = np.mean(out.p_below[:, 0] > 0.95)                    # doctest: +SKIP
    """
    Y = np.asarray(Y, dtype=float)
    X = np.asarray(X, dtype=float)
    day = np.asarray(day)
    designs = X[None] if X.ndim == 2 else X
    if (
        Y.ndim != 2
        or designs.ndim != 3
        or Y.shape[1] != designs.shape[1]
        or day.shape != (designs.shape[1],)
    ):
        raise ModelError(
            f"batch shapes do not fit: Y {Y.shape}, X {X.shape}, day {day.shape}; "
            "need Y (S, n), X (n, p) or (K, n, p), day (n,)"
        )
    if X.ndim == 3:
        k = (len(designs),)
        if tau is None or tau_weights is None or np.shape(tau) != k or np.shape(tau_weights) != k:
            raise ModelError(
                f"{len(designs)} design matrices need {len(designs)} tau values and weights"
            )
        tau = np.asarray(tau, dtype=float)
        log_prior = np.log(np.asarray(tau_weights, dtype=float))
    elif tau is not None or tau_weights is not None:
        raise ModelError("tau and tau_weights go with one design matrix per tau (3-D X)")
    else:
        tau, log_prior = np.zeros(1), np.zeros(1)
    p = designs.shape[2]
    if len(prior.coef_names) != p or "effect" not in prior.coef_names:
        raise ModelError(
            f"the prior is for columns {prior.coef_names}, X has {p}; "
            "resolve the prior for the same design matrix"
        )
    n_obs = np.sum(~np.isnan(Y), axis=1)
    if np.any(n_obs <= p):
        bad = int(np.argmax(n_obs <= p))
        raise ModelError(f"series {bad} has only {n_obs[bad]} scores for {p} coefficients")
    t = np.asarray(thresholds, dtype=float)
    e = prior.coef_names.index("effect")
    rho = rho_grid(grid_size) if ar1 else np.zeros(1)
    tail = None if interval is None else (1 - interval) / 2
    parts = []
    for start in range(0, len(Y), chunk):
        post, _ = _design_mixture(Y[start : start + chunk], designs, day, prior, rho, e, log_prior)
        df = 2.0 * post.an
        w, loc, scale = _prune(
            post.weights, post.mn[:, :, e], np.sqrt(post.bn / post.an[:, None] * post.vn_effect)
        )
        mean, sd = _mix_moments(w, loc, scale, df)
        p_below = _mix_cdf(w, loc, scale, df, np.broadcast_to(t, (len(w), len(t))))
        if tail is None:
            ci = np.full((len(w), 2), np.nan)
        else:
            ci = _mix_quantile(w, loc, scale, df, np.array([tail, 1 - tail]), tol=1e-8)
        rho_mean = post.weights @ post.rho
        tau_mean = post.weights @ np.repeat(tau, len(rho))
        parts.append((mean, sd, p_below, ci[:, 0], ci[:, 1], rho_mean, tau_mean))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return BatchFit(
        mean=cols[0],
        sd=cols[1],
        thresholds=t,
        p_below=cols[2],
        lower=cols[3],
        upper=cols[4],
        rho_mean=cols[5],
        n_obs=n_obs,
        interval=float("nan") if interval is None else interval,
        tau_mean=cols[6] if X.ndim == 3 else None,
    )


def effect_moments(
    series_list: Sequence[Series],
    prior: str = "neutral",
    *,
    ar1: bool = True,
    trend: str = "none",
    grid_size: int = GRID_SIZE,
) -> np.ndarray:
    """Posterior mean and sd of the effect of each series (the pooling fast path).

    Parameters
    ----------
    series_list : series, each analysed on its own (different lengths are fine).
    prior, ar1, trend, grid_size : as in ``fit_exact``.

    Returns
    -------
    Array of shape (len(series_list), 2): columns mean and sd, in input order.

    Raises
    ------
    DataError : a series cannot support an effect estimate (the message names its position).
    """
    out = np.empty((len(series_list), 2))
    rho = rho_grid(grid_size) if ar1 else np.zeros(1)
    for i, s in enumerate(series_list):
        try:
            X, names, rp = _prepare(s, prior, trend)
        except DataError as exc:
            raise DataError(f"series {i + 1}: {exc}") from None
        e = names.index("effect")
        post = _grid_posterior(_lag_stats(s.y[None, :], X, s.day), rp, rho, e)
        scale = np.sqrt(post.bn / post.an[:, None] * post.vn_effect)
        m, sd = _mix_moments(post.weights, post.mn[:, :, e], scale, 2.0 * post.an)
        out[i] = m[0], sd[0]
    return out

"""Finite mixtures of Student-t distributions: the exact engine's posterior of the effect.

Given rho (and tau), the effect's posterior is a Student-t (``nof1.analysis.models.exact_grid``);
integrated over the grid it is a weighted mixture of them. Means and sds are sums, tail
probabilities weighted t CDFs, quantiles and intervals one-dimensional root finding. The
functions work on many mixtures at once (leading axis: series; last axis: grid points), for
the batch path; ``ExactPosterior`` is one mixture, the single-series fit's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betainc, gammaln, ndtri

from nof1.errors import ModelError


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

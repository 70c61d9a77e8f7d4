"""The fast path of pooling: a normal-normal random-effects model, exact over a tau grid.

Each series contributes its effect estimate (mean, sd) from the exact engine; with
``effect_hat_i ~ Normal(effect_i, sd_i^2)``, ``effect_i ~ Normal(mu, tau^2)`` and the priors of
``nof1.analysis.models.pooled`` (``mu ~ Normal(0, 2)``, ``tau ~ HalfNormal(1)`` in outcome units), mu is
integrated analytically for each tau on a fine grid and tau over the grid: full Bayes, no
sampling, thousands of series in seconds. PyMC (``nof1.analysis.models.pooled``) is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from nof1.analysis.models.priors import POOLED_MU_SD, POOLED_TAU_SCALE
from nof1.errors import ModelError

#: Points of the tau grid, on (0, ``TAU_GRID_SDS`` prior scales].
TAU_GRID = 2000
TAU_GRID_SDS = 8.0


@dataclass(frozen=True)
class Estimate:
    """Posterior mean, sd and 95% highest-density interval of one quantity."""

    mean: float
    sd: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "sd": self.sd, "hdi_lower": self.lower, "hdi_upper": self.upper}


@dataclass(frozen=True)
class FastPosterior:
    """The fast path's posterior given per-series effect estimates (mean, sd).

    For each tau on the grid: mu | tau, y ~ Normal(``m``, ``v``); ``weights`` is the
    posterior of tau over the grid (sums to 1). Everything else is a mixture over the grid.
    """

    tau: np.ndarray  # (G,)
    weights: np.ndarray  # (G,)
    m: np.ndarray  # (G,)
    v: np.ndarray  # (G,)
    y: np.ndarray  # (S,)
    s: np.ndarray  # (S,)

    def mu(self) -> Estimate:
        return _normal_mixture(self.weights, self.m, self.v)

    def new_patient(self) -> Estimate:
        return _normal_mixture(self.weights, self.m, self.v + self.tau**2)

    def p_new_below(self, t: float) -> float:
        """P(new patient's effect < t)."""
        return float(np.sum(self.weights * ndtr((t - self.m) / np.sqrt(self.v + self.tau**2))))

    def p_mu_below(self, t: float) -> float:
        """P(mu < t)."""
        return float(np.sum(self.weights * ndtr((t - self.m) / np.sqrt(self.v))))

    def tau_estimate(self) -> Estimate:
        w, t = self.weights, self.tau
        mean = float(np.sum(w * t))
        sd = float(np.sqrt(max(np.sum(w * t**2) - mean**2, 0.0)))
        lo, hi = _grid_hdi(t, w)
        return Estimate(mean, sd, lo, hi)

    def shrunken(self, prob: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each series' pooled effect: mean and equal-tailed ``prob`` interval, (S,) each.

        Given tau: effect_i | y ~ Normal(B_i m + (1 - B_i) y_i, (1 - B_i) s_i^2 + B_i^2 v)
        with B_i = s_i^2 / (s_i^2 + tau^2); a mixture over the tau grid.
        """
        keep = self.weights > 1e-12 * self.weights.max()
        w, tau, m, v = self.weights[keep], self.tau[keep], self.m[keep], self.v[keep]
        w = w / w.sum()
        s2 = self.s[:, None] ** 2
        b = s2 / (s2 + tau[None, :] ** 2)
        loc = b * m[None, :] + (1 - b) * self.y[:, None]
        sd = np.sqrt((1 - b) * s2 + b**2 * v[None, :])
        mean = loc @ w
        tail = (1 - prob) / 2
        lo = _mixture_quantile(w, loc, sd, tail)
        hi = _mixture_quantile(w, loc, sd, 1 - tail)
        return mean, lo, hi


def fast_pool(
    means: np.ndarray,
    sds: np.ndarray,
    *,
    unit: float = 1.0,
    grid_size: int = TAU_GRID,
) -> FastPosterior:
    """Normal-normal random-effects posterior, exact on a tau grid.

    Parameters
    ----------
    means, sds : each series' effect estimate and its sd (outcome units), shape (S,).
    unit : outcome units per point of a 0-10 scale (priors scale with it).
    grid_size : points of the tau grid over (0, 8 prior scales].

    Returns
    -------
    FastPosterior

    Raises
    ------
    ModelError : shapes differ, no series, or a non-positive or non-finite sd.

    Example
    -------
    >>> post = fast_pool(np.array([-1.2, -0.4, -0.9]), np.array([0.5, 0.6, 0.4]))
    >>> round(post.mu().mean, 2)
    -0.82
    """
    y = np.asarray(means, dtype=float)
    s = np.asarray(sds, dtype=float)
    if y.shape != s.shape or y.ndim != 1 or len(y) == 0:
        raise ModelError(f"need equal-length 1-D means and sds, got {y.shape} and {s.shape}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ModelError("every series needs a finite effect estimate with a positive sd")
    mu_var = (POOLED_MU_SD * unit) ** 2
    scale = POOLED_TAU_SCALE * unit
    tau = TAU_GRID_SDS * scale * (np.arange(grid_size) + 0.5) / grid_size
    # With mu ~ N(0, mu_var): y | tau ~ N(0, diag(s^2 + tau^2) + mu_var 11'), evaluated by
    # integrating mu out of the product of normals (chunks bound memory at 2,000 x 500).
    log_ml = np.empty(grid_size)
    m = np.empty(grid_size)
    v = np.empty(grid_size)
    for start in range(0, grid_size, 500):
        t = tau[start : start + 500]
        var = s[:, None] ** 2 + t[None, :] ** 2  # (S, g)
        prec = 1.0 / mu_var + np.sum(1.0 / var, axis=0)
        mean = np.sum(y[:, None] / var, axis=0) / prec
        log_ml[start : start + 500] = (
            -0.5 * np.sum(np.log(2 * np.pi * var), axis=0)
            - 0.5 * np.sum(y[:, None] ** 2 / var, axis=0)
            + 0.5 * mean**2 * prec
            - 0.5 * np.log(mu_var * prec)
        )
        m[start : start + 500] = mean
        v[start : start + 500] = 1.0 / prec
    log_post = log_ml - 0.5 * (tau / scale) ** 2  # half-normal prior, constant dropped
    w = np.exp(log_post - log_post.max())
    return FastPosterior(tau=tau, weights=w / w.sum(), m=m, v=v, y=y, s=s)


def _normal_mixture(w: np.ndarray, m: np.ndarray, v: np.ndarray) -> Estimate:
    mean = float(np.sum(w * m))
    sd = float(np.sqrt(max(np.sum(w * (v + m**2)) - mean**2, 0.0)))
    x = np.linspace(mean - 8 * sd, mean + 8 * sd, 2001)
    keep = w > 1e-12 * w.max()
    dens = (w[keep] / np.sqrt(2 * np.pi * v[keep])) @ np.exp(
        -0.5 * (x[None, :] - m[keep, None]) ** 2 / v[keep, None]
    )
    lo, hi = _grid_hdi(x, dens / dens.sum())
    return Estimate(mean, sd, lo, hi)


def _grid_hdi(x: np.ndarray, mass: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """HDI of a distribution given as probability mass on an even grid: highest cells first."""
    order = np.argsort(mass)[::-1]
    n = int(np.searchsorted(np.cumsum(mass[order]), prob)) + 1
    chosen = x[order[:n]]
    return float(chosen.min()), float(chosen.max())


def _mixture_quantile(w, loc, sd, q: float, iters: int = 60) -> np.ndarray:
    """Quantile q of each row's normal mixture (rows: series), by bisection."""
    lo = np.min(loc - 10 * sd, axis=1)
    hi = np.max(loc + 10 * sd, axis=1)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = ndtr((mid[:, None] - loc) / sd) @ w < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)

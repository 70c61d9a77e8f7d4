"""The exact engine for many series at once: simulation studies and the pooling fast path.

``fit_exact_batch`` fits thousands of simulated trials that share one design matrix (the
same numbers as ``nof1.analysis.models.exact.fit_exact`` given the same grids, vectorized
over series); ``effect_moments`` gives the effect's posterior mean and sd of series that
each have their own design.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nof1.analysis.models.exact_grid import (
    BATCH_GRID_SIZE,
    GRID_SIZE,
    _design_mixture,
    _grid_posterior,
    _lag_stats,
    _prepare,
    rho_grid,
)
from nof1.analysis.models.exact_mixture import _mix_cdf, _mix_moments, _mix_quantile, _prune
from nof1.analysis.models.priors import ResolvedPrior
from nof1.analysis.series import Series
from nof1.errors import DataError, ModelError

#: Series per chunk in the batch path; bounds memory to a few tens of MB.
BATCH_CHUNK = 500


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

"""The exact engine for one series: ``fit_exact`` and its independent posterior draws.

The model, its priors and the grid integration over rho (and, with the onset model, tau)
are described in ``nof1.analysis.models.exact_grid``; the effect's posterior is the mixture
of Student-t's of ``nof1.analysis.models.exact_mixture``. Many series sharing one design
(simulation studies) go through ``nof1.analysis.models.exact_batch`` instead.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from nof1.analysis.models.base import Diagnostics, Fit
from nof1.analysis.models.exact_grid import (
    GRID_SIZE,
    ONSET_GRID_SIZE,
    TAU_GRID_SIZE,
    _design_mixture,
    _prepare,
    rho_grid,
    tau_grid,
)
from nof1.analysis.models.exact_mixture import ExactPosterior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series


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

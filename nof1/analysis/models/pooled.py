"""The hierarchical (pooled) model over many patients' series, in PyMC.

For series i and its observed days t (consecutive observed days d days apart)::

    effect_i     = mu + tau * z_i,         z_i ~ Normal(0, 1)        (non-centred)
    y_it         = intercept_i + effect_i * (active_it - abar_i) + e_it
    e_it         = AR(1) through gaps, as in the personal model (``nof1.analysis.models.personal``):
    y_i1         ~ Normal(m_i1, sigma_i / sqrt(1 - rho^2))
    y_ij | y_ii  ~ Normal(m_ij + rho^d (y_ii - m_ii), sigma_i sqrt((1 - rho^2d) / (1 - rho^2)))

with Student-t innovations as an option. The treatment column is centred on its mean
abar_i over the series' rows, as in the personal model (``nof1.analysis.models.regression``), so
that the intercept prior does not pull the effect. Priors (one place, here; on a 0-10 scale and
multiplied by the outcome's unit, ``nof1.analysis.models.priors.outcome_unit``; the numbers live
in ``nof1.analysis.models.priors``):

- ``mu ~ Normal(0, 2)``: the neutral personal prior's effect scale (2 NRS points), normal
  rather than t6 so that the fast path (``nof1.research.pool``) can integrate mu analytically;
  both engines use the same prior, so they fit the same model.
- ``tau ~ HalfNormal(1)``: patients' true effects differ by about a point at most a priori
  (tau above 2 points has 5% prior mass).
- ``intercept_i ~ Normal(scale midpoint, 5)``: the neutral intercept prior (the mean
  level over both arms).
- ``sigma_i^2 / (1 - rho^2) ~ InverseGamma(3, 3 * 1.5^2)``: the neutral personal prior on
  the day-to-day (marginal) variance (sigma_ref = 1.5 points), one per patient; the
  innovation variance sigma_i^2 given rho is then InverseGamma(3, 3 * 1.5^2 * (1 - rho^2)).
- ``rho ~ Uniform(-1, 1)``: shared by default (a property of how pain diaries behave),
  one per patient with ``ar1="per-series"``.
- Student-t: ``nu ~ Gamma(2, 0.1)`` shared, as in the personal model.

PyMC is imported here only; ``nof1.research.pool`` imports this module only for the MCMC engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from nof1.analysis.models.ar1lik import gaussian_ar1_loglik, lag_stats
from nof1.analysis.models.base import Diagnostics
from nof1.analysis.models.personal import (
    NU_ALPHA,
    NU_BETA,
    check_sampler_settings,
    diagnose,
    sample_nuts,
)
from nof1.analysis.models.priors import (
    A0_INFORMATIVE,
    POOLED_INTERCEPT_SD,
    POOLED_MU_SD,
    POOLED_TAU_SCALE,
    SIGMA_REF,
    outcome_unit,
)
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series
from nof1.errors import DataError, ModelError

AR1_OPTIONS = ("shared", "per-series", "none")
#: NUTS target acceptance. Hierarchical scales (tau) call for small steps, so 0.95 rather
#: than PyMC's 0.8; a small pool says little about tau, and its funnel between tau and the
#: effects needs smaller still: at 0.95, 3 of 4 seeded 4-series pools had a divergent
#: transition (so no conclusion); at 0.99 those three and two more had none, for about
#: twice the sampling time (``python bench/calibration.py --study mcmc-robust``).
TARGET_ACCEPT, TARGET_ACCEPT_SMALL = 0.95, 0.99
#: Pools of at most this many series are small.
SMALL_POOL = 10
LIKELIHOODS = ("normal", "student")


@dataclass(frozen=True)
class PooledFit:
    """A fitted hierarchical model.

    Parameters
    ----------
    draws : posterior draws, chains pooled: ``mu``, ``tau`` (1-D), ``effect`` (draws x
        series), ``rho`` (1-D when shared, draws x series per series, absent without AR(1)),
        ``nu`` with the Student-t likelihood.
    diagnostics : R-hat, ESS and divergences over the main parameters.
    likelihood, ar1 : the model's options.
    idata : the ArviZ InferenceData.
    """

    draws: dict[str, np.ndarray]
    diagnostics: Diagnostics
    likelihood: str
    ar1: str
    idata: Any = field(default=None, repr=False)


def build_pooled_model(
    series_list: Sequence[Series],
    *,
    likelihood: str = "normal",
    ar1: str = "shared",
    series_ids: Sequence[str] | None = None,
) -> pm.Model:
    """Build the hierarchical model over many series, sampling nothing.

    Parameters
    ----------
    series_list : the series (same outcome and scale), each with both arms observed.
    likelihood : ``"normal"`` or ``"student"``.
    ar1 : ``"shared"`` rho, ``"per-series"`` rho, or ``"none"``.
    series_ids : labels of the ``series`` dimension (default 0..S-1).

    Returns
    -------
    pm.Model with free variables ``mu``, ``tau``, ``z``, ``intercept``, ``sigma2`` (and
    ``rho``, ``nu`` as the options call for) and the deterministic ``effect`` (dims
    ``series``). The likelihood is the potential ``loglik`` (normal: computed from
    sufficient statistics) or the observed ``y`` (Student-t: every observed day of every
    series, in order).

    Raises
    ------
    ModelError : unknown likelihood or AR(1) option, no series, or series on different
        scales.
    DataError : a series cannot support an effect estimate.

    Example
    -------
    >>> model = build_pooled_model([s1, s2, s3])  # doctest: +SKIP
    >>> sorted(model.named_vars)[:3]  # doctest: +SKIP
    ['effect', 'intercept', 'mu']
    """
    if likelihood not in LIKELIHOODS:
        raise ModelError(f"unknown likelihood {likelihood!r}; use one of {', '.join(LIKELIHOODS)}")
    if ar1 not in AR1_OPTIONS:
        raise ModelError(f"unknown AR(1) option {ar1!r}; use one of {', '.join(AR1_OPTIONS)}")
    if not series_list:
        raise ModelError("the pooled model needs at least one series")
    first = series_list[0]
    for i, s in enumerate(series_list):
        if (s.low, s.high, s.lower_is_better) != (first.low, first.high, first.lower_is_better):
            raise ModelError(
                f"series {i + 1} has scale {s.low}-{s.high} (lower is better: "
                f"{s.lower_is_better}); series 1 has {first.low}-{first.high} "
                f"({first.lower_is_better}): pool one outcome at a time"
            )
        try:
            s.check_analysable()
        except DataError as exc:
            raise DataError(f"series {i + 1}: {exc}") from None
    unit = outcome_unit(first)
    if first.low is not None and first.high is not None:
        centre = (first.low + first.high) / 2.0
    else:
        centre = float(np.nanmean(np.concatenate([s.y for s in series_list])))
    ids = list(series_ids) if series_ids is not None else list(range(len(series_list)))
    coords = {"series": ids}
    with pm.Model(coords=coords) as model:
        mu = pm.Normal("mu", 0.0, POOLED_MU_SD * unit)
        tau = pm.HalfNormal("tau", POOLED_TAU_SCALE * unit)
        z = pm.Normal("z", 0.0, 1.0, dims="series")
        effect = pm.Deterministic("effect", mu + tau * z, dims="series")
        intercept = pm.Normal("intercept", centre, POOLED_INTERCEPT_SD * unit, dims="series")
        if ar1 == "shared":
            rho = pm.Uniform("rho", -1.0, 1.0)
        elif ar1 == "per-series":
            rho = pm.Uniform("rho", -1.0, 1.0, dims="series")
        else:
            rho = None
        # The prior is on the day-to-day (marginal) variance sigma^2 / (1 - rho^2).
        b0 = A0_INFORMATIVE * (SIGMA_REF * unit) ** 2 * (1.0 if rho is None else 1.0 - rho**2)
        sigma2 = pm.InverseGamma("sigma2", alpha=A0_INFORMATIVE, beta=b0, dims="series")
        if likelihood == "normal":
            # One node on the lag sufficient statistics (nof1.analysis.models.ar1lik): the cost of a
            # gradient grows with series x distinct gaps, not with days.
            stats = lag_stats(series_list, [design_matrix(s)[0] for s in series_list])
            rho_s = None if rho is None else rho * pt.ones(len(series_list))
            beta = pt.stack([intercept, effect], axis=1)
            pm.Potential("loglik", gaussian_ar1_loglik(stats, beta, sigma2, rho_s))
        else:
            nu = pm.Gamma("nu", alpha=NU_ALPHA, beta=NU_BETA)
            y, sidx, active, gap, is_first = _stack(series_list)
            cond_mu, cond_sd = _conditionals(
                y, sidx, active, gap, is_first, intercept, effect, sigma2, rho
            )
            pm.StudentT("y", nu=nu, mu=cond_mu, sigma=cond_sd, observed=y)
    return model


def _stack(series_list: Sequence[Series]):
    """Observed days of all series, concatenated, with each day's gap to the previous one.

    ``active`` is the centred treatment column of ``design_matrix``.
    """
    ys, sidx, active, gap, is_first = [], [], [], [], []
    for i, s in enumerate(series_list):
        obs = s.observed
        day = s.day[obs]
        ys.append(s.y[obs])
        sidx.append(np.full(len(day), i))
        active.append(design_matrix(s)[0][obs, 1])
        gap.append(np.diff(day, prepend=day[0]))
        first = np.zeros(len(day), dtype=bool)
        first[0] = True
        is_first.append(first)
    return tuple(np.concatenate(a) for a in (ys, sidx, active, gap, is_first))


def _conditionals(y, sidx, active, gap, is_first, intercept, effect, sigma2, rho):
    """Mean and sd of each observed day given the previous one (AR(1) through gaps)."""
    sigma = pt.sqrt(sigma2)[sidx]
    mean = intercept[sidx] + effect[sidx] * active
    if rho is None:
        return mean, sigma
    rho = rho if rho.ndim == 0 else rho[sidx]
    resid_prev = pt.concatenate([pt.zeros(1), (y - mean)[:-1]])
    # First days get a dummy gap of 1: their branch of the switch is never used, and a gap
    # of 0 would put sqrt(0) (an infinite gradient) into the graph.
    rho_d = rho ** np.where(is_first, 1, gap)
    stationary = 1.0 - rho**2
    cond_mu = mean + pt.switch(is_first, 0.0, rho_d * resid_prev)
    cond_sd = sigma * pt.switch(
        is_first, 1.0 / pt.sqrt(stationary), pt.sqrt((1.0 - rho_d**2) / stationary)
    )
    return cond_mu, cond_sd


def fit_pooled(
    series_list: Sequence[Series],
    *,
    likelihood: str = "normal",
    ar1: str = "shared",
    series_ids: Sequence[str] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    target_accept: float | None = None,
    progressbar: bool = False,
) -> PooledFit:
    """Fit the hierarchical model by NUTS and check convergence.

    Parameters
    ----------
    series_list, likelihood, ar1, series_ids : as in ``build_pooled_model``.
    draws, tune : draws and tuning steps per chain.
    chains : number of chains (at least 2 for R-hat), run on up to two cores.
    seed : random seed.
    target_accept : NUTS target acceptance; None means ``TARGET_ACCEPT_SMALL`` (0.99) for
        pools of up to ``SMALL_POOL`` (10) series, else ``TARGET_ACCEPT`` (0.95).
    progressbar : show PyMC's progress bar.

    Returns
    -------
    PooledFit; ``diagnostics.ok`` is False (with messages) when R-hat > 1.01, ESS < 400 or
    any transition diverged, over mu, tau, effect, rho, nu.

    Raises
    ------
    ModelError : bad sampler settings, or as in ``build_pooled_model``.
    DataError : a series cannot support an effect estimate.
    """
    if target_accept is None:
        target_accept = TARGET_ACCEPT_SMALL if len(series_list) <= SMALL_POOL else TARGET_ACCEPT
    check_sampler_settings(draws, tune, chains, target_accept)
    model = build_pooled_model(series_list, likelihood=likelihood, ar1=ar1, series_ids=series_ids)
    with model:
        idata = sample_nuts(draws, tune, chains, target_accept, seed, progressbar)
    main = [name for name in ("mu", "tau", "effect", "rho", "nu") if name in model.named_vars]
    post = idata.posterior.stack(sample=("chain", "draw"))
    out = {name: np.asarray(post[name].values).T for name in main}
    return PooledFit(
        draws=out,
        diagnostics=diagnose(idata, main),
        likelihood=likelihood,
        ar1=ar1,
        idata=idata,
    )

"""The PyMC engine for yes/no outcomes: a logistic model, optionally with a latent AR(1).

The exact engine (``nof1.analysis.models.binary``) treats the days as independent. Side effects and
good or bad days come in runs, which this model allows for:

    logit P(yes on day t) = alpha + beta * active_t + sigma * u_t,
    u : stationary AR(1) over every calendar day (gaps included), unit marginal variance,

with ``u`` left out when ``ar1`` is False. Priors, on the logit scale: alpha ~ Normal(0,
2.5) and beta ~ Normal(0, s), the weakly informative scale 2.5 of Gelman et al. (Annals of
Applied Statistics 2008) for ``neutral``, s = 10 for ``vague`` and s = 1 for ``sceptical``
(an odds ratio within e^+-2 with 95% probability); sigma ~ HalfNormal(1) and
(rho + 1) / 2 ~ Beta(2, 2), as for the latent process of the ordinal model
(``nof1.analysis.models.personal``).

The effect is reported on the rate scale, like the exact engine's: per posterior draw, the
rate on A and on B averaged over the series' days (the latent process included), their
difference in percentage points (``effect``) and their ratio. ``effect_logit`` is beta.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from nof1.analysis.models.base import Fit
from nof1.analysis.models.binary import arm_counts, is_binary, rate_draws
from nof1.analysis.models.personal import (
    LATENT_SIGMA_SCALE,
    RHO_BETA,
    _latent_ar1,
    check_sampler_settings,
    diagnose,
    sample_nuts,
)
from nof1.analysis.series import Series
from nof1.errors import DataError, ModelError

#: Prior sd of the log odds ratio (beta), by prior name (see the module docstring).
LOGIT_EFFECT_SD = {"vague": 10.0, "neutral": 2.5, "sceptical": 1.0}
#: Prior sd of the intercept (logit of the rate on B).
LOGIT_INTERCEPT_SD = 2.5
#: NUTS tuning steps and target acceptance: the latent process and its sd trade off, as in
#: the ordinal model, so the steps are kept small.
TUNE, TARGET_ACCEPT = 1000, 0.95


def build_logistic(series: Series, prior: str = "neutral", *, ar1: bool = True) -> pm.Model:
    """Build the logistic model of a yes/no series, sampling nothing.

    Parameters
    ----------
    series : a yes/no series (``nof1.analysis.models.binary.is_binary``); missing days are latent.
    prior : ``"vague"``, ``"neutral"`` or ``"sceptical"``.
    ar1 : add the latent AR(1) process.

    Returns
    -------
    pm.Model with ``alpha``, ``beta`` and, with ``ar1``, ``sigma_latent``, ``rho``, ``z``;
    deterministics ``rate_a`` and ``rate_b`` (proportions); the observed ``y``.

    Raises
    ------
    ModelError : unknown prior. DataError : not a yes/no series, or an arm without answers.

    Example
    -------
    >>> model = build_logistic(series, "neutral", ar1=False)  # doctest: +SKIP
    """
    if prior not in LOGIT_EFFECT_SD:
        raise ModelError(f"unknown prior {prior!r}; use one of {', '.join(LOGIT_EFFECT_SD)}")
    if not is_binary(series):
        raise DataError(f"outcome {series.outcome!r} is not a yes/no outcome (0/1)")
    for arm, (_, n) in arm_counts(series).items():
        if n == 0:
            raise DataError(f"outcome {series.outcome!r} has no answers on arm {arm}")
    obs = series.observed
    row_pos = series.day - series.day[0]
    n_grid = int(row_pos[-1]) + 1
    with pm.Model(coords={"grid_day": list(range(n_grid))}) as model:
        alpha = pm.Normal("alpha", 0.0, LOGIT_INTERCEPT_SD)
        beta = pm.Normal("beta", 0.0, LOGIT_EFFECT_SD[prior])
        latent = pt.zeros(len(series.y))
        if ar1:
            sigma = pm.HalfNormal("sigma_latent", sigma=LATENT_SIGMA_SCALE)
            rho_unit = pm.Beta("rho_unit", alpha=RHO_BETA, beta=RHO_BETA)
            rho = pm.Deterministic("rho", 2.0 * rho_unit - 1.0)
            z = pm.Normal("z", 0.0, 1.0, dims="grid_day")
            latent = sigma * _latent_ar1(rho, z, row_pos, n_grid)
        eta = alpha + beta * series.active + latent
        pm.Bernoulli("y", logit_p=eta[obs], observed=series.y[obs].astype(int))
        pm.Deterministic("rate_a", pt.mean(pm.math.invlogit(alpha + beta + latent)))
        pm.Deterministic("rate_b", pt.mean(pm.math.invlogit(alpha + latent)))
    return model


def fit_logistic(
    series: Series,
    prior: str = "neutral",
    *,
    ar1: bool = True,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = None,
    progressbar: bool = False,
) -> Fit:
    """Fit the logistic model by NUTS and check convergence.

    Parameters
    ----------
    series, prior, ar1 : as in ``build_logistic``.
    draws, tune, chains, seed, progressbar : NUTS settings (``tune`` None: ``TUNE``).

    Returns
    -------
    Fit with ``engine="mcmc"``, ``likelihood="binomial"``; ``draws`` holds ``effect``
    (percentage points), ``rate_a``, ``rate_b``, ``ratio``, ``effect_logit`` and, with
    ``ar1``, ``rho`` and ``sigma_latent``; ``options["counts"]`` arm -> (yes, days).

    Raises
    ------
    ModelError, DataError : as in ``build_logistic``, or bad sampler settings.
    """
    tune = TUNE if tune is None else tune
    check_sampler_settings(draws, tune, chains, TARGET_ACCEPT)
    model = build_logistic(series, prior, ar1=ar1)
    with model:
        idata = sample_nuts(draws, tune, chains, TARGET_ACCEPT, seed, progressbar)
    main = ["alpha", "beta", *(["sigma_latent", "rho"] if ar1 else [])]
    post = idata.posterior

    def pooled(name: str) -> np.ndarray:
        return np.asarray(post[name]).reshape(-1)

    out = {**rate_draws(pooled("rate_a"), pooled("rate_b")), "effect_logit": pooled("beta")}
    if ar1:
        out.update(rho=pooled("rho"), sigma_latent=pooled("sigma_latent"))
    return Fit(
        engine="mcmc",
        prior=prior,
        likelihood="binomial",
        coef_names=("rate_a", "rate_b"),
        draws=out,
        diagnostics=diagnose(idata, main),
        idata=idata,
        options={
            "ar1": ar1,
            "trend": "none",
            "carryover": False,
            "counts": arm_counts(series),
            "draws": draws,
            "tune": tune,
            "target_accept": TARGET_ACCEPT,
            "chains": chains,
            "seed": seed,
        },
    )

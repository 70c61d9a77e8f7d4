"""The PyMC engine of the personal model: NUTS for the richer likelihoods.

For ``likelihood="normal"`` this is literally the model of the exact engine
(``nof1.analysis.models.exact``): the design matrix of ``nof1.analysis.models.regression``, the named priors of
``nof1.analysis.models.priors`` and AR(1) errors that run through gaps,

    rho                ~ Uniform(-1, 1)
    sigma^2 | rho      ~ InverseGamma(a0, b0 * (1 - rho^2))
    beta_j | sigma     ~ Normal(m0_j, sigma * sqrt(v0_j / (1 - rho^2)))
    y_1                ~ Normal(mu_1, sigma / sqrt(1 - rho^2))
    y_j | y_i          ~ Normal(mu_j + rho^d (y_i - mu_i), sigma * sqrt((1 - rho^2d) / (1 - rho^2)))

for consecutive observed days i, j that are ``d`` days apart. The priors are those of
the marginal (day-to-day) variance sigma^2 / (1 - rho^2) (``nof1.analysis.models.priors``); the
vague prior is p(beta, sigma^2) proportional to 1 / sigma^2, flat in beta and log sigma^2. Missing and excluded days are
thus marginalised exactly, which equals the nof1ins JAGS model that treats them as latent.
The likelihood is evaluated from lag sufficient statistics by one Op
(``nof1.analysis.models.ar1lik``), which makes each NUTS step several times cheaper than the
day-by-day graph (``ar1_conditionals``, still used where the mean depends on a parameter:
carryover, and for Student-t innovations). The tests check that both forms equal the joint
Gaussian density and that both engines give the same posterior.

The richer options:

- ``likelihood="student"``: the same conditional structure with Student-t innovations,
  nu ~ Gamma(2, 0.1) (Juarez & Steel 2010), so a few flare days do not drag the effect.
- ``likelihood="ordinal"``: for bounded integer scales (0-10 NRS), a cumulative-logit model
  on ``eta_t = X_t beta + u_t`` with a latent AR(1) process ``u`` over every calendar day.
  The intercept is absorbed by the cutpoints, parameterised as the first cutpoint plus
  positive gaps (normal prior on the log-gaps around the spacing of logit(k/K)), so
  categories nobody scored keep a finite prior gap. The latent process has marginal sd
  sigma ~ HalfNormal(1) logit and, for this model only, (rho + 1) / 2 ~ Beta(2, 2), which keeps
  a weakly identified rho off +-1 where the sampler diverged. The effect is reported on the
  outcome scale (expected score on active minus control, averaged over the series' days)
  as ``effect``, and on the latent logit scale as ``effect_latent``.
- ``carryover=True``: the effect acts through the exposure ``E_t(tau)`` of
  ``nof1.analysis.models.exposure`` (first-order onset and carryover), tau ~ LogNormal(log 7 days, 0.5)
  (``nof1.analysis.models.priors``), the prior the exact engine integrates over its tau grid.

PyMC is imported here only, so the exact path never pays for it.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.signal import convolve1d

from nof1.analysis.models.ar1lik import gaussian_ar1_loglik, lag_stats
from nof1.analysis.models.base import ESS_MIN, RHAT_MAX, Diagnostics, Fit
from nof1.analysis.models.priors import SIGMA_REF, TAU_LOG_SD, TAU_MEDIAN_DAYS, resolve_prior
from nof1.analysis.models.regression import design_matrix
from nof1.analysis.series import Series
from nof1.errors import ModelError

LIKELIHOODS = ("normal", "student", "ordinal")
#: Worker start method. PyMC's default (forkserver) re-imports PyMC and reloads the compiled
#: C cache in every worker, which costs more than sampling a 112-day series; fork reuses the
#: parent's. Elsewhere (macOS, Windows) fork is unsafe or absent: keep PyMC's default.
_MP_CTX = "fork" if sys.platform == "linux" else None

#: Student-t degrees of freedom: Gamma(2, rate 0.1), mean 20, mode 10 (Juarez & Steel 2010).
NU_ALPHA, NU_BETA = 2.0, 0.1
#: Ordinal model: cutpoints are the first cutpoint plus positive gaps, each gap's log centred
#: on the gap between logit(k/K) and logit((k+1)/K) (evenly spaced cumulative probabilities).
#: The first cutpoint's prior sd (logits): wide enough to move the whole ladder.
CUTPOINT_SD = 2.0
#: ... and the log-gaps' prior sd: a gap may be e^2 (about 7) times its centre at 2 sd, so the
#: data set the spacing; an empty category (no day scored it) keeps the prior's gap instead of
#: collapsing onto its neighbour, which under a normal prior on the ordered cutpoints
#: themselves (exponential tail in the log-gap) is where NUTS diverged.
CUTPOINT_LOG_GAP_SD = 1.0
#: Ordinal model: half-normal scale of the latent AR(1) process's marginal sd (logit units).
LATENT_SIGMA_SCALE = 1.0
#: Ordinal model: (rho + 1) / 2 ~ Beta(RHO_BETA, RHO_BETA), density proportional to 1 - rho^2
#: (95% of the mass within about -0.81..0.81). A few dozen days with a latent process that may
#: be small say little about rho; under Uniform(-1, 1) the posterior then reached +-0.99, where
#: the process is a near-constant level (traded against the cutpoints) or a near-alternation,
#: and NUTS diverged. The normal and Student-t models keep Uniform(-1, 1), as in the exact engine.
RHO_BETA = 2.0
#: Ordinal model under the vague prior: coefficient sd on the logit scale. Prior sds of
#: 1000 logits (the Gaussian vague prior) would make every fitted probability 0 or 1.
VAGUE_LOGIT_SD = 10.0
#: Ordinal model: NUTS target acceptance, well above PyMC's 0.8: the latent process's sd and
#: the cutpoint gaps trade off (a larger process needs wider gaps for the same category
#: frequencies), which calls for small steps. At 0.95, 2 of 6 seeded 60-day series had
#: divergent transitions with 4 chains (1 and 6), so those fits gave no verdict; at 0.98
#: those two and 6 more had none (``python bench/ordinal.py``), for about 1.6 times the
#: sampling time of an opt-in model.
ORDINAL_TARGET_ACCEPT = 0.98
#: Normal and Student-t models with a trend term: NUTS target acceptance. On a short series
#: the level, the trend and a rho near 1 trade off (a near-random walk has a barely
#: identified level and slope), which needs smaller steps than PyMC's 0.8: the 28-day
#: nof1ins README series with a linear trend diverged at 0.8 (issue 13: 118 divergent
#: transitions with seed 1) and had none at 0.95 (``python bench/calibration.py --study
#: mcmc-robust``). Models without a trend keep 0.8.
TREND_TARGET_ACCEPT = 0.95
#: NUTS tuning steps per chain. The Gaussian model without carryover (a handful of
#: parameters, a near-normal posterior) adapts in 500: on 30 seeded 112-day series
#: (``python bench/tuning.py``) 500 and 1000 tuning steps both gave no failed diagnostic,
#: a worst R-hat of 1.004 and 1.007, a smallest tail ESS of 924 and 718, and effect means
#: within 0.04 and 0.05 posterior sds of the exact engine; 500 saves a quarter of the
#: sampling time. The Student-t, ordinal and carryover models keep PyMC's default of 1000.
TUNE_GAUSSIAN, TUNE_OTHER = 500, 1000
#: SD of the standard logistic distribution, the ordinal model's residual scale.
_LOGISTIC_SD = math.pi / math.sqrt(3.0)


def build_model(
    series: Series,
    prior: str = "neutral",
    *,
    ar1: bool = True,
    trend: str = "none",
    likelihood: str = "normal",
    carryover: bool = False,
) -> pm.Model:
    """Build the PyMC model of a series' personal effect, sampling nothing.

    Parameters
    ----------
    series : the outcome series (``nof1.analysis.series.Series``). With ``carryover`` it must include
        the washout days, so the exposure sees every switch.
    prior : ``"vague"`` (nof1ins), ``"neutral"`` (default) or ``"sceptical"``.
    ar1 : AR(1) errors (normal, student) or a latent AR(1) process (ordinal); else independent.
    trend : ``"none"``, ``"linear"`` or ``"block"`` (see ``design_matrix``).
    likelihood : ``"normal"``, ``"student"`` or ``"ordinal"``.
    carryover : the effect acts through the onset/carryover exposure ``E_t(tau)``.

    Returns
    -------
    pm.Model with the coefficient vector ``beta`` (dims ``coef``), ``sigma``, and ``rho``,
    ``tau``, ``nu``, ``cutpoints``, ``effect_score`` when the options call for them. The
    likelihood is the potential ``loglik`` for the normal likelihood without carryover,
    else the observed variable ``y`` (one entry per observed day).

    Raises
    ------
    ModelError : unknown likelihood, trend or prior; ordinal scores that are not integers
        within the scale.
    DataError : the series cannot support an effect estimate.

    Example
    -------
    >>> model = build_model(series, "neutral", likelihood="student")  # doctest: +SKIP
    >>> model["y"].eval().shape  # doctest: +SKIP
    (110,)
    """
    return _build(series, prior, ar1, trend, likelihood, carryover)[0]


def fit_mcmc(
    series: Series,
    prior: str = "neutral",
    *,
    ar1: bool = True,
    trend: str = "none",
    likelihood: str = "normal",
    carryover: bool = False,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = None,
    progressbar: bool = False,
    target_accept: float | None = None,
) -> Fit:
    """Fit the personal model by NUTS and check convergence.

    Parameters
    ----------
    series, prior, ar1, trend, likelihood, carryover : as in ``build_model``.
    draws, tune : posterior draws and tuning steps per chain; ``tune`` None means
        ``default_tune(likelihood, carryover)``.
    chains : number of chains (at least 2, so that R-hat can be computed); run on up to two
        cores.
    seed : random seed for sampling and the posterior predictive draws.
    progressbar : show PyMC's progress bar.
    target_accept : NUTS target acceptance; None means ``default_target_accept``: 0.98 for
        the ordinal likelihood, 0.95 for a model with a trend term, else PyMC's 0.8.

    Returns
    -------
    Fit with ``engine="mcmc"``. ``draws`` (chains pooled) holds ``effect`` and every
    coefficient name, ``sigma``, ``rho`` with AR(1), ``tau`` with carryover, ``nu`` for the
    Student-t likelihood; for the ordinal likelihood ``effect`` is on the outcome scale and
    ``effect_latent`` on the logit scale (``sigma`` is then the latent process's marginal sd).
    ``diagnostics.ok`` is False, with messages naming what failed, when R-hat > 1.01,
    bulk or tail ESS < 400, or any transition diverged. ``idata`` holds the posterior and,
    for the Student-t, ordinal and carryover models, the posterior predictive of ``y`` (one
    step ahead given the previous observed day when the model has AR(1) errors).

    Raises
    ------
    ModelError : bad sampler settings, or as in ``build_model``.
    DataError : the series cannot support an effect estimate.

    Example
    -------
    >>> fit = fit_mcmc(series, "neutral", seed=1)  # doctest: +SKIP
    >>> fit.diagnostics.ok, float(fit.draws["effect"].mean())  # doctest: +SKIP
    (True, -1.02)
    """
    if tune is None:
        tune = default_tune(likelihood, carryover)
    if target_accept is None:
        target_accept = default_target_accept(likelihood, trend)
    check_sampler_settings(draws, tune, chains, target_accept)
    model, coef_names = _build(series, prior, ar1, trend, likelihood, carryover)
    with model:
        idata = sample_nuts(draws, tune, chains, target_accept, seed, progressbar)
        if likelihood != "normal" or carryover:
            # The Gaussian model's predictive checks are drawn from the posterior draws over
            # every calendar day (``nof1.report.build.replicate_series``); compiling and
            # running PyMC's own would only cost the user seconds.
            pm.sample_posterior_predictive(
                idata, extend_inferencedata=True, random_seed=seed, progressbar=progressbar
            )
    main = _main_vars(model)
    return Fit(
        engine="mcmc",
        prior=prior,
        likelihood=likelihood,
        coef_names=coef_names,
        draws=_draws(idata, coef_names, main, likelihood),
        diagnostics=diagnose(idata, main),
        idata=idata,
        options={
            "ar1": ar1,
            "trend": trend,
            "carryover": carryover,
            "draws": draws,
            "tune": tune,
            "target_accept": target_accept,
            "chains": chains,
            "seed": seed,
        },
    )


def check_sampler_settings(draws, tune, chains, target_accept) -> None:
    """Raise ModelError naming the first NUTS setting that cannot work."""
    if not 0.0 < target_accept < 1.0:
        raise ModelError(f"target_accept={target_accept!r} is not valid; use a number in (0, 1)")
    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 2)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ModelError(f"{name}={value!r} is not valid; use an integer >= {least}")


def sample_nuts(draws, tune, chains, target_accept, seed, progressbar):
    """PyMC's NUTS on the model in context: chains on up to two cores, forked where safe."""
    return pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, 2),
        mp_ctx=_MP_CTX,
        target_accept=target_accept,
        random_seed=seed,
        progressbar=progressbar,
        compute_convergence_checks=False,
    )


def default_target_accept(likelihood: str = "normal", trend: str = "none") -> float:
    """NUTS target acceptance for a model: 0.98 ordinal, 0.95 with a trend, else PyMC's 0.8."""
    if likelihood == "ordinal":
        return ORDINAL_TARGET_ACCEPT
    return TREND_TARGET_ACCEPT if trend != "none" else 0.8


def default_tune(likelihood: str = "normal", carryover: bool = False) -> int:
    """NUTS tuning steps per chain for a model: 500 for the Gaussian one, else 1000."""
    return TUNE_GAUSSIAN if likelihood == "normal" and not carryover else TUNE_OTHER


def diagnose(idata: Any, var_names: list[str]) -> Diagnostics:
    """Convergence diagnostics of a NUTS fit over the named variables.

    Parameters
    ----------
    idata : ArviZ InferenceData with ``posterior`` and ``sample_stats``.
    var_names : the main parameters to check.

    Returns
    -------
    Diagnostics with the largest R-hat (rank-normalised), the smallest bulk and tail ESS and
    the number of divergent transitions; ``ok`` False, with one message per failed check
    naming the worst parameter, when R-hat > ``RHAT_MAX``, ESS < ``ESS_MIN`` or any divergence.
    """
    # ArviZ computes variances with numba where installed, compiling them (uncached) at the
    # first call of every process: half a second, where numpy takes milliseconds for a few
    # thousand draws. The switch is restored so that other ArviZ users see no change.
    numba_flag = az.Numba.numba_flag
    az.Numba.disable_numba()
    try:
        rhat = _worst(az.rhat(idata, var_names=var_names), max)
        bulk = _worst(az.ess(idata, var_names=var_names, method="bulk"), min)
        tail = _worst(az.ess(idata, var_names=var_names, method="tail"), min)
    finally:
        az.Numba.numba_flag = numba_flag
    divergences = int(idata.sample_stats["diverging"].sum())
    messages = []
    if not rhat[1] <= RHAT_MAX:  # NaN (e.g. a stuck chain) fails too
        messages.append(f"R-hat of {rhat[0]} is {rhat[1]:.3f}; it must be <= {RHAT_MAX}")
    for kind, (name, value) in (("bulk", bulk), ("tail", tail)):
        if not value >= ESS_MIN:
            messages.append(f"{kind} ESS of {name} is {value:.0f}; it must be >= {ESS_MIN}")
    if divergences:
        messages.append(f"{divergences} divergent transition(s); there must be none")
    return Diagnostics(
        ok=not messages,
        rhat_max=rhat[1],
        ess_bulk_min=bulk[1],
        ess_tail_min=tail[1],
        divergences=divergences,
        messages=tuple(messages),
    )


def _build(
    series: Series,
    prior: str,
    ar1: bool,
    trend: str,
    likelihood: str,
    carryover: bool,
) -> tuple[pm.Model, tuple[str, ...]]:
    if likelihood not in LIKELIHOODS:
        raise ModelError(f"unknown likelihood {likelihood!r}; use one of {', '.join(LIKELIHOODS)}")
    series.check_analysable()
    if likelihood == "ordinal":
        _check_ordinal(series)
    X, names = design_matrix(series, trend)
    resolved = resolve_prior(prior, series, names)
    if likelihood == "ordinal":
        return _build_ordinal(series, X, names, resolved, ar1, carryover)
    return _build_gaussian(series, X, names, resolved, ar1, likelihood, carryover)


def _build_gaussian(series, X, names, resolved, ar1, likelihood, carryover):
    obs = series.observed
    coords = {"coef": list(names), "obs_day": series.day[obs].tolist()}
    with pm.Model(coords=coords) as model:
        rho = pm.Uniform("rho", -1.0, 1.0) if ar1 else None
        sigma2, beta = _gaussian_priors(resolved, rho)
        sigma = pm.Deterministic("sigma", pt.sqrt(sigma2))
        if likelihood == "normal" and not carryover:
            # X does not depend on a parameter: the likelihood is one node on the lag
            # sufficient statistics (nof1.analysis.models.ar1lik), equal to the day-by-day form below.
            stats = lag_stats([series], [X])
            rho_s = rho[None] if ar1 else None
            pm.Potential("loglik", gaussian_ar1_loglik(stats, beta[None, :], sigma2[None], rho_s))
            return model, tuple(names)
        y = series.y[obs]
        cond_mu, cond_sd = ar1_conditionals(
            y, _mean(series, X, beta, carryover, obs), np.diff(series.day[obs]), sigma, rho
        )
        if likelihood == "student":
            nu = pm.Gamma("nu", alpha=NU_ALPHA, beta=NU_BETA)
            pm.StudentT("y", nu=nu, mu=cond_mu, sigma=cond_sd, observed=y, dims="obs_day")
        else:
            pm.Normal("y", mu=cond_mu, sigma=cond_sd, observed=y, dims="obs_day")
    return model, tuple(names)


def _gaussian_priors(resolved, rho):
    """The innovation variance ``sigma2`` and the coefficients ``beta`` under a named prior.

    Informative priors: sigma^2 | rho ~ InverseGamma(a0, b0 (1 - rho^2)) and beta | sigma^2,
    rho ~ Normal(m0, sigma^2 v0 / (1 - rho^2)), the marginal-variance prior of the exact
    engine. The innovation variance is the parameter because the data pin it down whatever
    rho is, which the marginal variance (it runs off to infinity as rho nears 1) is not.
    Beta is centred on purpose: the data pin it down too. The vague prior is flat in beta
    and in log sigma^2, i.e. p(beta, sigma^2) proportional to 1 / sigma^2.
    """
    if resolved.reference:
        log_sigma2 = pm.Flat("log_sigma2")
        sigma2 = pm.Deterministic("sigma2", pt.exp(log_sigma2))
        return sigma2, pm.Flat("beta", dims="coef")
    stationary = 1.0 if rho is None else 1.0 - rho**2
    sigma2 = pm.InverseGamma("sigma2", alpha=resolved.a0, beta=resolved.b0 * stationary)
    scale = pt.sqrt(sigma2 / stationary * resolved.v0)
    return sigma2, pm.Normal("beta", mu=resolved.m0, sigma=scale, dims="coef")


def ar1_conditionals(y, mu, gaps, sigma, rho):
    """Mean and sd of each observed day given the previous observed one, ``gaps`` days back.

    Parameters
    ----------
    y : observed values (numpy, in day order); mu : their means (tensor); gaps : the
    np.diff of their days; sigma : innovation sd; rho : AR(1) coefficient, or None for
    independent days (then ``(mu, sigma)``).
    """
    if rho is None:
        return mu, sigma
    rho_d = rho**gaps
    resid = y - mu
    cond_mu = pt.concatenate([mu[:1], mu[1:] + rho_d * resid[:-1]])
    stationary = 1.0 - rho**2
    cond_sd = sigma * pt.concatenate(
        [pt.reshape(1.0 / pt.sqrt(stationary), (1,)), pt.sqrt((1.0 - rho_d**2) / stationary)]
    )
    return cond_mu, cond_sd


def _build_ordinal(series, X, names, resolved, ar1, carryover):
    obs = series.observed
    low, high = int(series.low), int(series.high)
    n_cat = high - low + 1
    # The cutpoints carry the intercept: the latent scale has no origin of its own.
    keep = [i for i, name in enumerate(names) if name != "intercept"]
    Xl, lnames = X[:, keep], tuple(names[i] for i in keep)
    scales = np.array([_logit_scale(resolved, name) for name in lnames])
    centres = _logit(np.arange(1, n_cat) / n_cat)
    row_pos = series.day - series.day[0]
    n_grid = int(row_pos[-1]) + 1
    coords = {
        "coef": list(lnames),
        "obs_day": series.day[obs].tolist(),
        "cut": list(range(n_cat - 1)),
        "gap": list(range(n_cat - 2)),
        "grid_day": list(range(n_grid)),
    }
    with pm.Model(coords=coords) as model:
        beta = pm.Normal("beta", mu=0.0, sigma=scales, dims="coef")
        everyday = np.ones(len(series.y), dtype=bool)
        eta = _mean(series, Xl, beta, carryover, everyday, effect_col=lnames.index("effect"))
        if ar1:
            sigma = pm.HalfNormal("sigma", sigma=LATENT_SIGMA_SCALE)
            rho_unit = pm.Beta("rho_unit", alpha=RHO_BETA, beta=RHO_BETA)
            rho = pm.Deterministic("rho", 2.0 * rho_unit - 1.0)
            z = pm.Normal("z", 0.0, 1.0, dims="grid_day")
            eta = eta + sigma * _latent_ar1(rho, z, row_pos, n_grid)
        cut_first = pm.Normal("cut_first", mu=centres[0], sigma=CUTPOINT_SD)
        log_gap = pm.Normal(
            "log_gap", mu=np.log(np.diff(centres)), sigma=CUTPOINT_LOG_GAP_SD, dims="gap"
        )
        cut = pm.Deterministic(
            "cutpoints",
            pt.concatenate([cut_first[None], cut_first + pt.cumsum(pt.exp(log_gap))]),
            dims="cut",
        )
        y = (series.y[obs] - low).astype(np.int64)
        pm.OrderedLogistic("y", eta=eta[obs], cutpoints=cut, observed=y, dims="obs_day")
        effect = beta[lnames.index("effect")]
        if carryover:
            exposure = _exposure(series, model["tau"], everyday)
        else:  # the design matrix's (centred) treatment column
            exposure = Xl[:, lnames.index("effect")]
        eta_control = eta - effect * exposure
        pm.Deterministic(
            "effect_score",
            pt.mean(_expected_score(eta_control + effect, cut) - _expected_score(eta_control, cut)),
        )
    return model, lnames


def _mean(series, X, beta, carryover, rows, effect_col=1):
    """X beta on the selected rows, the effect column replaced by E(tau) under carryover.

    Rows are selected in numpy and the product is written elementwise: with a handful of
    columns that is several times faster per gradient than a (BLAS-less) dot and a
    boolean index inside the graph.
    """
    X = X[rows].copy()
    if carryover:
        tau = pm.LogNormal("tau", mu=math.log(TAU_MEDIAN_DAYS), sigma=TAU_LOG_SD)
        X[:, effect_col] = 0.0
        effect = beta[effect_col] * _exposure(series, tau, rows)
        return pt.sum(X * beta[None, :], axis=1) + effect
    return pt.sum(X * beta[None, :], axis=1)


def _exposure(series: Series, tau, rows):
    """The centred exposure E_t(tau) - mean(E(tau)) on the selected rows: the effect's column
    under carryover, the pytensor twin of ``design_matrix(series, tau=tau)``'s.

    E_t follows ``nof1.analysis.models.exposure.exposure``; in closed form, E_t = a_t + (E_{t-1} - a_t)
    exp(-1/tau) gives E_t = sum over switch days s <= t of Delta_s (1 - exp(-(t - s + 1)/tau)),
    on a calendar from the first row, where absent days take the arm of the next present
    row. As in the design matrix, the mean is over every row of the series.
    """
    row_pos = series.day - series.day[0]
    grid = np.arange(row_pos[-1] + 1)
    arm = series.active[np.searchsorted(row_pos, grid)].astype(float)
    delta = np.diff(arm, prepend=0.0)
    switch = np.flatnonzero(delta)
    # Lag 0 (switch after the row) contributes 1 - exp(0) = 0, which masks it.
    lag = np.maximum(row_pos[:, None] - switch[None, :] + 1, 0).astype(float)
    gain = 1.0 - pt.exp(-lag / tau)
    # Mean over all rows, then the selected ones: sum_s Delta_s (gain[rows, s] - mean gain_s).
    centred = gain[np.flatnonzero(rows)] - pt.mean(gain, axis=0)[None, :]
    return pt.sum(centred * delta[switch][None, :], axis=1)


def _latent_ar1(rho, z, row_pos, n_grid):
    """Stationary AR(1) with unit marginal variance on a daily grid, from standard normals z.

    u_0 = z_0 and u_t = rho u_{t-1} + sqrt(1 - rho^2) z_t, i.e. corr(u_s, u_t) = rho^|t-s|.
    Scaling by the marginal rather than the innovation sd keeps the process's size fixed as
    rho nears 1 (where the innovation form needs z_0 / sqrt(1 - rho^2) and the sampler
    diverges). Written as a convolution with the powers of rho: far cheaper per gradient
    than a scan or a lower-triangular matrix of powers.
    """
    powers = rho ** np.arange(n_grid, dtype=float)
    scaled = pt.concatenate([z[:1], z[1:] * pt.sqrt(1.0 - rho**2)])
    u = convolve1d(scaled, powers, mode="full")[:n_grid]
    return u if len(row_pos) == n_grid else u[row_pos]


def _expected_score(eta, cut):
    """E[Y - low] under the cumulative logit: sum over cutpoints of P(Y > c)."""
    return pt.sum(pm.math.sigmoid(eta[:, None] - cut[None, :]), axis=1)


def _logit_scale(resolved, name: str) -> float:
    """A coefficient's prior sd on the logit scale.

    The named prior's scale in outcome units, expressed in residual sds (sigma_ref) and
    carried to the logistic residual's sd, so "2 NRS points" reads as about 2.4 logits.
    """
    if resolved.name == "vague":
        return VAGUE_LOGIT_SD
    return resolved.coef_sd(name) / (SIGMA_REF * resolved.unit) * _LOGISTIC_SD


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def _check_ordinal(series: Series) -> None:
    if series.low is None or series.high is None:
        raise ModelError(
            f"the ordinal likelihood needs a bounded scale; outcome {series.outcome!r} has none"
        )
    values = series.y[series.observed]
    for v in values:
        if v != round(v):
            raise ModelError(
                f"{series.outcome} score {v:g} is not an integer; the ordinal likelihood "
                f"needs whole scores {series.low:g}-{series.high:g}"
            )
        if not series.low <= v <= series.high:
            raise ModelError(
                f"{series.outcome} score {v:g} is outside {series.low:g}-{series.high:g}"
            )


def _main_vars(model: pm.Model) -> list[str]:
    names = ["beta", "sigma", "rho", "tau", "nu", "cutpoints", "effect_score"]
    return [name for name in names if name in model.named_vars]


def _draws(idata, coef_names, main, likelihood) -> dict[str, np.ndarray]:
    post = idata.posterior.stack(sample=("chain", "draw"))
    out = {name: post["beta"].sel(coef=name).values for name in coef_names}
    for name in ("sigma", "rho", "tau", "nu"):
        if name in main:
            out[name] = post[name].values
    if likelihood == "ordinal":
        out["effect_latent"] = out.pop("effect")
        out["effect"] = post["effect_score"].values
    return out


def _worst(dataset, pick) -> tuple[str, float]:
    """(label, value) of the largest or smallest entry of a per-parameter diagnostic."""
    entries = []
    for var, arr in dataset.data_vars.items():
        values = np.atleast_1d(arr.values)
        labels = [str(v) for v in arr.coords[arr.dims[0]].values] if arr.dims else [var]
        if arr.dims and var != "beta":
            labels = [f"{var}[{label}]" for label in labels]
        entries.extend(zip(labels, values.astype(float), strict=True))
    # NaN marks a failed computation: report it as the worst entry.
    nan = [e for e in entries if np.isnan(e[1])]
    return nan[0] if nan else pick(entries, key=lambda e: e[1])

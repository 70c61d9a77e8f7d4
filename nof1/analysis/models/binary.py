"""Yes/no outcomes (a side effect, a good day): rates per arm, compared in percentage points.

A daily yes/no answer is not a 0-10 score: its effect is a difference of rates. The exact
engine fits a Beta-binomial model per arm,

    rate_A ~ Beta(a, a),  yes days on A | rate_A ~ Binomial(days on A, rate_A),

and likewise for B; the posterior of each rate is Beta(a + yes, a + no), so the rate
difference (A minus B, in percentage points), the rate ratio and P(higher on A) follow from
independent draws of the two Betas. The named priors differ only in ``a``: the Jeffreys prior
Beta(1/2, 1/2) (``vague``), the uniform Beta(1, 1) (``neutral``) and Beta(2, 2)
(``sceptical``), which adds two yes and two no days to each arm and so pulls both rates
towards one half and their difference towards 0.

The days are treated as independent given the arm. When yes days cluster (a run of bad
days), the PyMC engine's logistic model with a latent AR(1) process
(``nof1.analysis.models.personal``, ``likelihood="binomial"``) allows for it.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from nof1.analysis.models.base import Diagnostics, Fit
from nof1.analysis.series import Series
from nof1.errors import DataError, ModelError

#: Beta(a, a) prior of each arm's rate, by prior name (see the module docstring).
BETA_PRIOR_A = {"vague": 0.5, "neutral": 1.0, "sceptical": 2.0}
#: Default MCID of a yes/no outcome, percentage points: one day in ten more or less (a
#: judgement; no source gives an important difference for a daily side effect).
BINARY_MCID = 10.0


def is_binary(series: Series) -> bool:
    """True when the outcome is yes/no: bounds 0 and 1 (a protocol's binary outcome), or,
    without bounds, every observed value 0 or 1."""
    values = series.y[series.observed]
    only_01 = bool(values.size) and bool(np.isin(values, (0.0, 1.0)).all())
    if series.low is not None and series.high is not None:
        return series.low == 0 and series.high == 1 and only_01
    return only_01


def arm_counts(series: Series) -> dict[str, tuple[int, int]]:
    """Arm -> (yes days, days with an answer), for ``"A"`` and ``"B"``."""
    obs = series.observed
    out = {}
    for arm, code in (("A", 1), ("B", 0)):
        on = obs & (series.active == code)
        out[arm] = (int(np.sum(series.y[on] == 1)), int(np.sum(on)))
    return out


def rate_interval(yes: int, n: int, prior: str = "neutral") -> dict[str, float]:
    """Posterior mean and 95% equal-tailed interval of one arm's rate (proportions)."""
    a0, b0 = BETA_PRIOR_A[prior] + yes, BETA_PRIOR_A[prior] + n - yes
    lo, hi = special.betaincinv(a0, b0, [0.025, 0.975])
    return {"mean": a0 / (a0 + b0), "low": float(lo), "high": float(hi)}


def p_higher_on_a(yes_a: int, n_a: int, yes_b: int, n_b: int, prior: str = "neutral") -> float:
    """P(rate on A > rate on B) under the per-arm Beta posteriors, by quadrature."""
    a = BETA_PRIOR_A[prior]
    x = (np.arange(4000) + 0.5) / 4000
    # Beta density and distribution function from scipy.special (what scipy.stats.beta
    # evaluates): importing scipy.stats would add a third of a second to every analysis.
    a1, b1 = a + yes_a, a + n_a - yes_a
    dens_a = np.exp((a1 - 1) * np.log(x) + (b1 - 1) * np.log1p(-x) - special.betaln(a1, b1))
    cdf_b = special.betainc(a + yes_b, a + n_b - yes_b, x)
    return float(np.clip(np.sum(dens_a * cdf_b) / np.sum(dens_a), 0.0, 1.0))


def rate_draws(rate_a: np.ndarray, rate_b: np.ndarray) -> dict[str, np.ndarray]:
    """The draws every binary fit reports: both rates, the effect (A minus B, in percentage
    points) and the rate ratio."""
    return {
        "rate_a": rate_a,
        "rate_b": rate_b,
        "effect": 100.0 * (rate_a - rate_b),
        "ratio": rate_a / rate_b,
    }


def fit_binary_exact(
    series: Series, prior: str = "neutral", *, n_draws: int = 4000, seed: int | None = None
) -> Fit:
    """Fit the Beta-binomial model of a yes/no outcome, per arm, exactly.

    Parameters
    ----------
    series : a yes/no series (``is_binary``); missing days are left out.
    prior : ``"vague"`` (Jeffreys), ``"neutral"`` (uniform) or ``"sceptical"`` (Beta(2, 2)).
    n_draws : independent posterior draws.
    seed : seed of the draws.

    Returns
    -------
    Fit
        ``engine="exact"``, ``likelihood="binomial"``; ``draws`` has ``rate_a`` and
        ``rate_b`` (proportions), ``effect`` (rate_a - rate_b in percentage points) and
        ``ratio`` (rate_a / rate_b); ``options["counts"]`` holds arm -> (yes, days).

    Raises
    ------
    DataError : the outcome is not yes/no, or an arm has no answers.
    ModelError : unknown prior.

    Example
    -------
    >>> fit = fit_binary_exact(series, seed=1)           # doctest: +SKIP
    >>> fit.draws["effect"].mean()                        # doctest: +SKIP
    """
    if prior not in BETA_PRIOR_A:
        raise ModelError(f"unknown prior {prior!r}; use one of {', '.join(BETA_PRIOR_A)}")
    if not is_binary(series):
        raise DataError(
            f"outcome {series.outcome!r} is not a yes/no outcome (values other than 0 and 1); "
            "use --likelihood normal"
        )
    counts = arm_counts(series)
    for arm, (_, n) in counts.items():
        if n == 0:
            raise DataError(f"outcome {series.outcome!r} has no answers on arm {arm}")
    a = BETA_PRIOR_A[prior]
    rng = np.random.default_rng(seed)
    rate = {arm: rng.beta(a + yes, a + n - yes, size=n_draws) for arm, (yes, n) in counts.items()}
    draws = rate_draws(rate["A"], rate["B"])
    return Fit(
        engine="exact",
        prior=prior,
        likelihood="binomial",
        coef_names=("rate_a", "rate_b"),
        draws=draws,
        diagnostics=Diagnostics(ok=True),
        options={"ar1": False, "trend": "none", "counts": counts, "beta_prior": a},
    )

"""Named priors of the personal model, in one place.

Both engines fit the same model. The informative priors are set on the *marginal*
(day-to-day) variance s^2 = sigma^2 / (1 - rho^2) of the outcome, not on the AR(1)
innovation variance sigma^2, so that a prior scale in NRS points means the same at every
autocorrelation:

    rho                ~ Uniform(-1, 1)
    s^2                ~ InverseGamma(a0, b0)
    beta_j | s^2       ~ Normal(m0_j, s^2 * v0_j)

Given rho this is the conjugate Normal-Inverse-Gamma prior of the innovation form that the
engines integrate,

    sigma^2 | rho         ~ InverseGamma(a0, b0 * (1 - rho^2))
    beta_j | sigma^2, rho ~ Normal(m0_j, sigma^2 * v0_j / (1 - rho^2)),

(``ResolvedPrior.given_rho``). The marginal prior of a coefficient is then a Student-t
with 2*a0 degrees of freedom, centre m0_j and scale sd_j = sqrt(v0_j * b0 / a0) at every
rho (we set b0 = a0 * sigma_ref^2 and v0_j = (sd_j / sigma_ref)^2): ``sd_j`` reads as "the
prior scale of this coefficient in outcome units", whatever sigma and rho turn out to be.
Scaling by the innovation sd instead would shrink a coefficient's effective prior scale by
sqrt(1 - rho^2) once the data have fixed the day-to-day sd: to 0.44 of its nominal value at
rho = 0.9 (``python bench/calibration.py --study prior-scale``).

The treatment column of the design matrix is centred (``nof1.analysis.models.regression``), so the
intercept is the mean level over both arms and its prior, centred on the scale's midpoint,
does not pull the effect.

Units: numbers below are for a 0-10 scale (pain NRS). For another bounded scale they are
multiplied by (high - low) / 10; for an unbounded outcome by the outcome's observed
standard deviation (the "autoscale" convention of rstanarm), which the report states.

The three priors (sources in ``docs/sources.md``):

- ``vague``: the reference prior p(beta, sigma^2) proportional to 1 / sigma^2 (flat
  coefficients), rho ~ Uniform(-1, 1). Given rho the posterior of a coefficient is a
  Student-t with n - p degrees of freedom, the classical regression result (Gelman et al.,
  Bayesian Data Analysis, 3rd ed., section 14.2). This is the limit of what the R peer
  nof1ins uses (coefficients Normal(0, precision 1e-6), residual precision
  Gamma(0.001, 0.001)), and it reproduces nof1ins's posterior sds, which a proper
  InverseGamma(0.001, 0.001) in conjugate form does not (it gives n instead of n - p
  degrees of freedom, sds 1-7% too small on a few dozen days). It is improper, so the
  marginal likelihood is known only up to a constant that does not depend on rho.
- ``neutral`` (default): weakly informative on the NRS scale: effect ~ t6(0, 2) NRS points
  (95% of mass within about +-5 points: any clinically possible effect), intercept
  ~ t6(scale midpoint, 5), day-to-day sd around sigma_ref = 1.5 NRS points (a typical
  within-person SD of daily pain) with a0 = 3.
- ``sceptical``: centred on no effect, as the placebo-controlled RCT of magnesium in
  CRPS-1 found on average (Fischer et al., Pain Medicine 2013; 56 patients, "insufficient
  benefit over placebo"). Effect ~ t6(0, 0.75) NRS points: 95% of the mass within about
  +-1.8 points. The RCT's standard error for the average difference was roughly 0.5 points
  (SD about 2, 28 per arm); individuals may differ from the average, so the prior is wider
  than that. This is a judgement, not a sourced number; the report shows all three priors
  side by side so the reader sees how much the conclusion depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nof1.analysis.series import Series
from nof1.errors import ModelError
from nof1.plan.protocol import PRIOR_NAMES

DEFAULT_PRIOR = "neutral"

#: Prior scales (sd_j above) on a 0-10 scale, by coefficient kind (the vague prior is flat).
_SCALES = {
    "neutral": {"intercept": 5.0, "effect": 2.0, "other": 2.0},
    "sceptical": {"intercept": 5.0, "effect": 0.75, "other": 2.0},
}
#: Typical within-person day-to-day SD of pain on a 0-10 NRS, anchoring the prior of s.
SIGMA_REF = 1.5
#: Shape of the inverse-gamma prior on s^2 for the informative priors (t6 marginals).
A0_INFORMATIVE = 3.0
#: Onset/carryover time constant tau (days, ``nof1.analysis.models.exposure``), when the model has it:
#: tau ~ LogNormal(log 7 days, 0.5), in both engines, for slow-acting treatments such as oral
#: magnesium (docs/sources.md): 95% of the mass within 2.6-19 days (half-lives 1.8-13 days).
#: No source gives oral magnesium's time course, but benefit, where seen, came after weeks;
#: an effect that is in fact immediate reads as tau of a few days, which costs little on
#: periods that start with 7 washout days (docs/validation.md, study "onset"). A wider prior
#: centred at 3 days, LogNormal(log 3, 1), left the magnesium design's estimate 0.28 too
#: small at tau 10 days (300 simulated trials): a small tau and the neutral prior's pull on
#: the full effect reinforce each other when three blocks say little about tau.
TAU_MEDIAN_DAYS = 7.0
TAU_LOG_SD = 0.5


@dataclass(frozen=True)
class ResolvedPrior:
    """A named prior made concrete for one design matrix.

    ``m0`` and ``v0`` are the prior mean and the diagonal of the prior covariance divided by
    the marginal variance s^2 (so beta | s^2 ~ N(m0, s^2 diag(v0))); ``a0``, ``b0``: shape
    and scale of s^2 ~ InverseGamma(a0, b0). ``reference`` marks the vague prior
    p(beta, sigma^2) proportional to 1 / sigma^2, for which ``v0`` is infinite, ``a0`` is
    -p/2 and ``b0`` is 0 (the limits that give the conjugate update its n - p degrees of
    freedom). ``unit``: outcome units per NRS point used to scale the numbers.
    """

    name: str
    coef_names: tuple[str, ...]
    m0: np.ndarray
    v0: np.ndarray
    a0: float
    b0: float
    unit: float
    reference: bool = False

    def coef_sd(self, name: str) -> float:
        """Marginal prior scale of a coefficient in outcome units (inf under the vague prior)."""
        if self.reference:
            return float("inf")
        i = self.coef_names.index(name)
        return float(np.sqrt(self.v0[i] * self.b0 / self.a0))

    def given_rho(self, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prior of the innovation form given each rho: what the engines integrate.

        Parameters
        ----------
        rho : AR(1) coefficients in (-1, 1), shape (G,).

        Returns
        -------
        (prec0, b0, log_norm) : prior precisions of the coefficients divided by 1/sigma^2,
        shape (G, p), i.e. (1 - rho^2) / v0; the inverse-gamma scale of sigma^2,
        b0 * (1 - rho^2), shape (G,); and the log normalising constant of the prior,
        0.5 * sum(log prec0) + a0 * log(b0) - log Gamma(a0), shape (G,). Under the
        improper vague prior prec0 and b0 are 0 and log_norm is 0: the same constant at
        every rho, so rho's posterior weights are right.

        Example
        -------
        >>> prec0, b0, log_norm = prior.given_rho(np.array([0.0, 0.9]))  # doctest: +SKIP
        """
        rho = np.asarray(rho, dtype=float)
        stationary = 1.0 - rho**2
        if self.reference:
            zero = np.zeros(len(rho))
            return np.zeros((len(rho), len(self.m0))), zero, zero
        prec0 = stationary[:, None] / self.v0[None, :]
        b0 = self.b0 * stationary
        from scipy.special import gammaln  # here: the diary commands never need SciPy

        log_norm = 0.5 * np.sum(np.log(prec0), axis=1) + self.a0 * np.log(b0) - gammaln(self.a0)
        return prec0, b0, log_norm


def outcome_unit(series: Series) -> float:
    """Outcome units per point of a 0-10 scale: (high - low)/10, else the observed SD."""
    if series.low is not None and series.high is not None and series.high > series.low:
        return (series.high - series.low) / 10.0
    sd = float(np.nanstd(series.y, ddof=1)) if np.sum(series.observed) > 1 else 0.0
    return sd if sd > 0 else 1.0


def resolve_prior(name: str, series: Series, coef_names: tuple[str, ...]) -> ResolvedPrior:
    """Make the named prior concrete for a series and its design-matrix columns.

    Parameters
    ----------
    name : ``"vague"``, ``"neutral"`` or ``"sceptical"``.
    series : the series (its scale sets the unit and the intercept's prior centre).
    coef_names : the design matrix's columns (``nof1.analysis.models.regression.design_matrix``).

    Returns
    -------
    ResolvedPrior

    Raises
    ------
    ModelError : unknown prior name.

    Example
    -------
    >>> rp = resolve_prior("sceptical", series, ("intercept", "effect"))  # doctest: +SKIP
    >>> rp.coef_sd("effect")  # doctest: +SKIP
    0.75
    """
    if name not in PRIOR_NAMES:
        raise ModelError(f"unknown prior {name!r}; use one of {', '.join(PRIOR_NAMES)}")
    unit = outcome_unit(series)
    p = len(coef_names)
    if name == "vague":
        return ResolvedPrior(
            name=name, coef_names=tuple(coef_names), m0=np.zeros(p), v0=np.full(p, np.inf),
            a0=-p / 2.0, b0=0.0, unit=unit, reference=True,
        )  # fmt: skip
    scales = _SCALES[name]
    if series.low is not None and series.high is not None:
        centre = (series.low + series.high) / 2.0
    else:
        centre = float(np.nanmean(series.y))
    m0 = np.zeros(p)
    sds = np.empty(p)
    for i, coef in enumerate(coef_names):
        kind = coef if coef in ("intercept", "effect") else "other"
        sds[i] = scales[kind] * unit
        if coef == "intercept":
            m0[i] = centre
    sigma_ref = SIGMA_REF * unit
    a0 = A0_INFORMATIVE
    return ResolvedPrior(
        name=name, coef_names=tuple(coef_names), m0=m0, v0=(sds / sigma_ref) ** 2,
        a0=a0, b0=a0 * sigma_ref**2, unit=unit,
    )  # fmt: skip


# ---- the pooled (hierarchical) model, ``nof1.analysis.models.pooled`` and the fast path of ``nof1.research.pool``
# Here rather than in ``nof1.analysis.models.pooled`` so the fast path never imports PyMC.

#: Prior sd of the average effect mu, NRS points: the neutral prior's effect scale, as a
#: normal (not t6) so the fast path can integrate mu analytically.
POOLED_MU_SD = _SCALES["neutral"]["effect"]
#: Half-normal scale of the between-patient sd tau, NRS points (tau > 2 has 5% prior mass).
POOLED_TAU_SCALE = 1.0
#: Prior sd of each patient's intercept around the scale's midpoint, NRS points.
POOLED_INTERCEPT_SD = _SCALES["neutral"]["intercept"]

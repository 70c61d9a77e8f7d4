"""Named priors of the personal model, in one place.

Both engines use the same conjugate Normal-Inverse-Gamma form, so they fit the same model:

    sigma^2            ~ InverseGamma(a0, b0)
    beta_j | sigma^2   ~ Normal(m0_j, sigma^2 * (sd_j / sigma_ref)^2)
    rho                ~ Uniform(-1, 1)

Under this form the marginal prior of a coefficient is a Student-t with 2*a0 degrees of
freedom, centre m0_j and scale sd_j * sqrt(b0 / (a0 * sigma_ref^2)) = sd_j (we set
b0 = a0 * sigma_ref^2). So ``sd_j`` reads as "the prior scale of this coefficient in outcome
units", whatever sigma turns out to be.

Units: numbers below are for a 0-10 scale (pain NRS). For another bounded scale they are
multiplied by (high - low) / 10; for an unbounded outcome by the outcome's observed
standard deviation (the "autoscale" convention of rstanarm), which the report states.

The three priors (sources in ``docs/sources.md``):

- ``vague``: what the R peer nof1ins uses, to compare with it: coefficients
  Normal(0, precision 1e-6), i.e. sd 1000; residual precision Gamma(0.001, 0.001), i.e.
  sigma^2 ~ InverseGamma(0.001, 0.001); rho ~ Uniform(-1, 1).
- ``neutral`` (default): weakly informative on the NRS scale: effect ~ t6(0, 2) NRS points
  (95% of mass within about +-5 points: any clinically possible effect), intercept
  ~ t6(scale midpoint, 5), sigma around sigma_ref = 1.5 NRS points (a typical day-to-day
  SD of pain within a person) with a0 = 3.
- ``sceptical``: centred on no effect, as the 2013 placebo-controlled RCT of magnesium in
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

from nof1.errors import ModelError
from nof1.series import Series

PRIOR_NAMES = ("vague", "neutral", "sceptical")
DEFAULT_PRIOR = "neutral"

#: Prior scales (sd_j above) on a 0-10 scale, by coefficient kind.
_SCALES = {
    "vague": {"intercept": 1000.0, "effect": 1000.0, "other": 1000.0},
    "neutral": {"intercept": 5.0, "effect": 2.0, "other": 2.0},
    "sceptical": {"intercept": 5.0, "effect": 0.75, "other": 2.0},
}
#: Typical within-person day-to-day SD of pain on a 0-10 NRS, anchoring sigma's prior.
SIGMA_REF = 1.5
#: Shape of the inverse-gamma prior on sigma^2 for the informative priors (t6 marginals).
A0_INFORMATIVE = 3.0
#: nof1ins: residual precision ~ Gamma(0.001, 0.001).
A0_VAGUE = B0_VAGUE = 0.001
#: Onset/carryover time constant tau (days, ``nof1.models.exposure``), when the model has it:
#: tau ~ LogNormal(log 3 days, 1), in both engines. No source gives the time course of oral
#: magnesium (IV relief lasting weeks, Collins 2009; oral separation from placebo only after
#: weeks, Yousef & Al-deeb 2013), so the prior spans "acts within a day" to "builds over
#: weeks": 95% of its mass within about 0.4-21 days (half-lives 0.3-15 days); tau 10 days is
#: at its 89th percentile. The data of a 24-week trial then move it.
TAU_MEDIAN_DAYS = 3.0
TAU_LOG_SD = 1.0


@dataclass(frozen=True)
class ResolvedPrior:
    """A named prior made concrete for one design matrix.

    ``m0`` and ``v0`` are the prior mean and the diagonal of the prior covariance divided by
    sigma^2 (so beta | sigma^2 ~ N(m0, sigma^2 diag(v0))). ``a0``, ``b0``: inverse-gamma shape
    and scale of sigma^2. ``unit``: outcome units per NRS point used to scale the numbers.
    """

    name: str
    coef_names: tuple[str, ...]
    m0: np.ndarray
    v0: np.ndarray
    a0: float
    b0: float
    unit: float

    def coef_sd(self, name: str) -> float:
        """Marginal prior scale of a coefficient in outcome units."""
        i = self.coef_names.index(name)
        return float(np.sqrt(self.v0[i] * self.b0 / self.a0))


def outcome_unit(series: Series) -> float:
    """Outcome units per point of a 0-10 scale: (high - low)/10, else the observed SD."""
    if series.low is not None and series.high is not None and series.high > series.low:
        return (series.high - series.low) / 10.0
    sd = float(np.nanstd(series.y, ddof=1)) if np.sum(series.observed) > 1 else 0.0
    return sd if sd > 0 else 1.0


def resolve_prior(name: str, series: Series, coef_names: tuple[str, ...]) -> ResolvedPrior:
    """Make the named prior concrete for a series and its design-matrix columns.

    Raises
    ------
    ModelError : unknown prior name.
    """
    if name not in PRIOR_NAMES:
        raise ModelError(f"unknown prior {name!r}; use one of {', '.join(PRIOR_NAMES)}")
    unit = outcome_unit(series)
    scales = _SCALES[name]
    if series.low is not None and series.high is not None:
        centre = (series.low + series.high) / 2.0
    else:
        centre = float(np.nanmean(series.y))
    m0 = np.zeros(len(coef_names))
    sds = np.empty(len(coef_names))
    for i, coef in enumerate(coef_names):
        kind = coef if coef in ("intercept", "effect") else "other"
        sds[i] = scales[kind] * (unit if name != "vague" else 1.0)
        if coef == "intercept" and name != "vague":
            m0[i] = centre
    if name == "vague":
        a0, b0, sigma_ref = A0_VAGUE, B0_VAGUE, 1.0
        v0 = sds**2  # nof1ins: beta ~ N(0, 1e6), independent of sigma; 1e6 * sigma^2 is as flat
    else:
        sigma_ref = SIGMA_REF * unit
        a0 = A0_INFORMATIVE
        b0 = a0 * sigma_ref**2
        v0 = (sds / sigma_ref) ** 2
    return ResolvedPrior(
        name=name, coef_names=tuple(coef_names), m0=m0, v0=v0, a0=a0, b0=b0, unit=unit
    )


# ---- the pooled (hierarchical) model, ``nof1.models.pooled`` and the fast path of ``nof1.pool``
# Here rather than in ``nof1.models.pooled`` so the fast path never imports PyMC.

#: Prior sd of the average effect mu, NRS points: the neutral prior's effect scale, as a
#: normal (not t6) so the fast path can integrate mu analytically.
POOLED_MU_SD = _SCALES["neutral"]["effect"]
#: Half-normal scale of the between-patient sd tau, NRS points (tau > 2 has 5% prior mass).
POOLED_TAU_SCALE = 1.0
#: Prior sd of each patient's intercept around the scale's midpoint, NRS points.
POOLED_INTERCEPT_SD = _SCALES["neutral"]["intercept"]

"""What one analysis produced, as one typed result: ``AnalysisResult``.

``analyze`` (``nof1.analysis.analyze``) makes it. Besides its fields, a result offers the
nested dict behind ``nof1 analyze --json`` (``to_dict``), one tidy DataFrame row for a data
scientist (``to_frame``, as pingouin's functions return) and the posterior as ArviZ
InferenceData for every engine (``idata``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from nof1.analysis.blinding_assessment import BlindingAssessment
from nof1.analysis.models.base import Fit, inference_data
from nof1.analysis.randomization import RandomizationTest
from nof1.analysis.series import Series
from nof1.analysis.summary import HDI_PROB, EffectSummary, fallback_advice
from nof1.analysis.verdict import Verdict

if TYPE_CHECKING:
    import arviz as az
    import pandas as pd

    from nof1.analysis.decision import NetBenefit
    from nof1.trial.monitoring import Monitoring

#: The columns of ``AnalysisResult.to_frame()``, in order (its docstring says what each holds).
RESULT_COLUMNS = (
    "outcome",
    "engine",
    "prior",
    "likelihood",
    "lower_is_better",
    "unit",
    "effect",
    "effect_median",
    "effect_sd",
    "hdi_low",
    "hdi_high",
    "hdi_prob",
    "standardized",
    "p_benefit",
    "p_mcid",
    "p_large",
    "p_rope",
    "mcid",
    "threshold",
    "criterion_met",
    "preregistered",
    "tier",
    "blinding",
    "p_could_tell",
    "rho",
    "rho_sd",
    "tau",
    "tau_low",
    "tau_high",
    "sigma",
    "rate_a",
    "rate_b",
    "randomization_p",
    "n_days",
    "n_observed",
    "converged",
)


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one analysis produced.

    Parameters
    ----------
    summary : the effect summary under the chosen prior.
    fit : the fit behind it.
    series : the analysed series.
    randomization_test : the exact randomization test, or None when it does not apply
        (the reason is in ``options["randomization_note"]``).
    sensitivity : prior name -> summary under that prior (all of ``PRIOR_NAMES``), or
        None when prior sensitivity was not asked for.
    options : the analysis options as used (engine, prior, ar1, trend, ...).
    verdict : the tiered verdict: the decision line, the tier and the blinding evidence.
    blinding : the blinding assessment, or None when there were no guesses or side effects
        to assess (a CSV file).
    sequential : the interim looks of a sequential trial (``nof1.trial.monitoring.Monitoring``):
        the rule, every look, where it stopped and the blocks analysed; None otherwise.
    decision : the net benefit under the patient's pre-registered trade-off
        (``nof1.analysis.decision``), after unblinding, for the primary outcome of a trial
        whose protocol has a ``[decision]`` section; None otherwise (pain alone decides).
    """

    summary: EffectSummary
    fit: Fit
    series: Series
    randomization_test: RandomizationTest | None
    sensitivity: dict[str, EffectSummary] | None
    options: dict[str, Any]
    verdict: Verdict
    blinding: BlindingAssessment | None = None
    sequential: Monitoring | None = None
    decision: NetBenefit | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict: the summary's keys plus ``verdict`` (tier,
        criterion_met, blinding, text), ``blinding``, ``randomization_test``,
        ``sensitivity``, ``options``, ``advice`` (None unless the fit failed its checks) and
        ``sequential`` (``Monitoring.to_dict``: rule, looks, stopped_at; None for a trial
        without interim looks) and ``decision`` (``NetBenefit.to_dict``: the trade-off, the
        net benefit's mean, interval, P(net > 0) and decision; None without a registered
        trade-off)."""
        out = self.summary.to_dict()
        out["effect_text"] = out.pop("verdict")
        out["verdict"] = self.verdict.to_dict()
        out["blinding"] = None if self.blinding is None else self.blinding.to_dict()
        if self.randomization_test is not None:
            out["randomization_test"] = self.randomization_test.to_dict()
        else:
            out["randomization_test"] = {
                "p_value": None,
                "note": self.options.get("randomization_note"),
            }
        out["sensitivity"] = (
            None
            if self.sensitivity is None
            else {name: s.to_dict() for name, s in self.sensitivity.items()}
        )
        out["options"] = dict(self.options)
        out["advice"] = self.advice
        out["sequential"] = None if self.sequential is None else self.sequential.to_dict()
        out["decision"] = None if self.decision is None else self.decision.to_dict()
        return out

    @property
    def advice(self) -> str | None:
        """What to run instead when the fit failed its checks (``fallback_advice``), else None."""
        return fallback_advice(self.fit)

    def to_frame(self) -> pd.DataFrame:
        """The result as one tidy row, with the same columns for every engine and outcome.

        Rows of several analyses (outcomes, priors, trials) stack with ``pandas.concat``.
        A value that does not apply is NaN (a number) or None (``criterion_met``).

        Returns
        -------
        pandas.DataFrame
            One row; the columns ``RESULT_COLUMNS``, in this order:

            - ``outcome``, ``engine``, ``prior``, ``likelihood``: what was analysed, and how.
            - ``lower_is_better``: the outcome's direction (a benefit is then a negative
              effect); ``unit``: the effect's, ``"points"`` or ``"percentage points"`` (a
              yes/no outcome's rate difference).
            - ``effect``, ``effect_median``, ``effect_sd``: posterior mean, median and sd of
              the effect, active (A) minus control (B).
            - ``hdi_low``, ``hdi_high``: its highest-density interval, of probability
              ``hdi_prob`` (0.95).
            - ``standardized``: posterior mean of the effect in day-to-day sds of the outcome
              (NaN for a yes/no outcome).
            - ``p_benefit``, ``p_mcid``, ``p_large``, ``p_rope``: P(benefit > 0),
              P(benefit >= mcid), P(benefit >= the "much better" threshold) and
              P(|effect| < mcid / 2).
            - ``mcid``, ``threshold``: the decision criterion P(benefit >= mcid) > threshold;
              ``criterion_met``: whether the data met it (None when the fit failed its
              convergence checks); ``preregistered``: it is the protocol's criterion.
            - ``tier``: the verdict's tier (``nof1.analysis.verdict.TIERS``); ``blinding``:
              its blinding status (``"held"``, ``"could-tell"``, ``"cannot-tell"`` or
              ``"not-assessed"``); ``p_could_tell``: P(the patient could tell the arms
              apart) from the guesses (NaN without them).
            - ``rho``, ``rho_sd``: posterior mean and sd of the lag-1 autocorrelation (NaN
              without AR(1) errors).
            - ``tau``, ``tau_low``, ``tau_high``: posterior median and 95% interval of the
              onset/carryover time constant, days (NaN without the onset model).
            - ``sigma``: posterior mean of the innovation sd (NaN when the model has none).
            - ``rate_a``, ``rate_b``: posterior mean rate on A and on B, proportions (NaN
              unless the outcome is yes/no).
            - ``randomization_p``: p-value of the randomization test (NaN when it does not
              apply).
            - ``n_days``, ``n_observed``: analysed days, and those with a score.
            - ``converged``: the fit passed its convergence checks (always for the exact
              engine).

        Example
        -------
        >>> analyze(series, seed=1).to_frame()[["effect", "p_mcid", "tier"]]  # doctest: +SKIP
        """
        # Imported here: pandas takes about half a second to load; nof1 analyze never needs it.
        import pandas as pd

        s, v = self.summary, self.verdict
        rates = s.rates or {}
        row = {
            "outcome": s.outcome,
            "engine": s.engine,
            "prior": s.prior,
            "likelihood": s.likelihood,
            "lower_is_better": s.lower_is_better,
            "unit": s.unit,
            "effect": s.mean,
            "effect_median": s.median,
            "effect_sd": s.sd,
            "hdi_low": s.hdi_low,
            "hdi_high": s.hdi_high,
            "hdi_prob": HDI_PROB,
            "standardized": _number(s.standardized),
            "p_benefit": s.p_benefit,
            "p_mcid": s.p_mcid,
            "p_large": s.p_large,
            "p_rope": s.p_rope,
            "mcid": s.mcid,
            "threshold": v.criterion.threshold,
            "criterion_met": v.criterion_met,
            "preregistered": v.criterion.preregistered,
            "tier": v.tier,
            "blinding": v.blinding,
            "p_could_tell": _number(v.p_could_tell),
            "rho": _number(s.rho_mean),
            "rho_sd": _number(s.rho_sd),
            "tau": _number(s.tau_median),
            "tau_low": _number(s.tau_low),
            "tau_high": _number(s.tau_high),
            "sigma": _number(s.sigma_mean),
            "rate_a": _number(rates.get("A", {}).get("mean")),
            "rate_b": _number(rates.get("B", {}).get("mean")),
            "randomization_p": _number(
                None if self.randomization_test is None else self.randomization_test.p_value
            ),
            "n_days": s.n_days,
            "n_observed": s.n_observed,
            "converged": s.diagnostics.ok,
        }
        return pd.DataFrame([row], columns=list(RESULT_COLUMNS))

    @cached_property
    def idata(self) -> az.InferenceData:
        """The posterior as ArviZ InferenceData, for every engine (built on first use).

        For the MCMC engine the sampler's own; for the exact engine (and its yes/no model)
        a ``posterior`` group of the fit's independent draws from the exact posterior, one
        variable per parameter (``effect``, ``sigma``, ``rho``, ``tau``, every coefficient;
        or ``rate_a``, ``rate_b``, ``effect``, ``ratio``), dims (chain, draw): the same
        draws for the same seed (``nof1.analysis.models.base.inference_data``).
        """
        return inference_data(self.fit)


def _number(x: float | None) -> float:
    """A number for a DataFrame column: NaN where the value does not apply (None)."""
    return math.nan if x is None else float(x)

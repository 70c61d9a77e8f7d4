"""What one analysis produced, as one typed result: ``AnalysisResult``.

``analyze`` (``nof1.analysis.analyze``) makes it; the report, the CLI's ``--json`` and a
notebook read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nof1.analysis.blinding_assessment import BlindingAssessment
from nof1.analysis.models.base import Fit
from nof1.analysis.randomization import RandomizationTest
from nof1.analysis.series import Series
from nof1.analysis.summary import EffectSummary, fallback_advice
from nof1.analysis.verdict import Verdict

if TYPE_CHECKING:
    from nof1.trial.monitoring import Monitoring


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict: the summary's keys plus ``verdict`` (tier,
        criterion_met, blinding, text), ``blinding``, ``randomization_test``,
        ``sensitivity``, ``options``, ``advice`` (None unless the fit failed its checks) and
        ``sequential`` (``Monitoring.to_dict``: rule, looks, stopped_at; None for a trial
        without interim looks)."""
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
        return out

    @property
    def advice(self) -> str | None:
        """What to run instead when the fit failed its checks (``fallback_advice``), else None."""
        return fallback_advice(self.fit)

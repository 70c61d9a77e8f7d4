"""The verdict: the pre-registered decision, then what the blinding evidence allows.

A benefit is never stated alone. The verdict's first line says whether the pre-registered
criterion was met ("Pre-registered criterion P(benefit >= 1 point) > 0.80: not met (75%)");
its second names a *tier*:

- ``benefit``: A helps (the criterion was met, or P(benefit) >= 0.95 and the effect is not
  practically nil) and blinding held or could not be judged;
- ``benefit-unblinded``: A helps, but the patient could tell the arms apart (guesses, a
  side effect, or an open-label design): part or all of the benefit may be expectation;
- ``no-practical-difference``: P(|effect| < MCID/2) above the decision threshold;
- ``harm``: the mirror of a benefit: P(harm >= MCID) above the threshold, or P(A is worse)
  >= 0.95 and the effect is not practically nil (``nof1.analysis.summary.effect_kind``, one
  rule for both directions, and one wording: a harm below the MCID is said to be so);
- ``no-clear-benefit``: none of these;
- ``no-verdict``: the fit failed its convergence checks.

Beside it, the *expectation bound*: if believing one is on A can shift the outcome by at most
``expectation_max`` (the MCID by default), and belief differed between the arms by at most
the share that the guesses and the side effects suggest, how much benefit is left?
``docs/validation.md`` (section "Blinding and expectation") shows why this replaces the
retired ``--expectation`` covariate and how it behaves in simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nof1.analysis.blinding_assessment import BlindingAssessment, blinding_headline
from nof1.analysis.summary import (
    EffectSummary,
    arm_names,
    effect_conclusion,
    effect_kind,
    format_probability,
    points,
    probability_word,
    signed,
)

TIERS = (
    "benefit",
    "benefit-unblinded",
    "no-practical-difference",
    "harm",
    "no-clear-benefit",
    "no-verdict",
)
#: Draws of the effect and of the belief gap combined in the expectation bound.
BOUND_DRAWS = 4000


@dataclass(frozen=True)
class Criterion:
    """The decision rule P(benefit >= mcid) > threshold and whether the data met it.

    ``preregistered`` is True when the rule and the analysis settings are the ones the trial
    registered (its committed protocol, not a protocol.toml edited since), False for a CSV
    analysis or an analysis run with other settings. ``note`` says how: with
    ``preregistered``, what was run differently without changing the analysis (the MCMC
    engine fits the same model as the pre-registered exact one); without, what differs
    from the registration ("threshold 0.60, registered 0.80"). ``judged`` is False when the
    fit failed its convergence checks: then the criterion is neither met nor missed.
    """

    mcid: float
    threshold: float
    unit: str
    p: float
    preregistered: bool
    judged: bool = True
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if not self.judged else self.p > self.threshold

    def line(self) -> str:
        """'Pre-registered criterion P(benefit >= 1 point) > 0.80: not met (75%)'."""
        kind = "Pre-registered criterion" if self.preregistered else "Decision criterion"
        if not self.judged:
            result = "not judged (the model fit failed its convergence checks)"
        else:
            result = f"{'met' if self.met else 'not met'} ({_decimal(self.p)})"
        if self.preregistered:
            tail = f" (pre-registered analysis, {self.note})" if self.note else ""
        else:
            tail = f" (not pre-registered: {self.note})" if self.note else " (not pre-registered)"
        return (
            f"{kind} P(benefit >= {points(self.mcid, self.unit)}) > {self.threshold:.2f}: "
            f"{result}{tail}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mcid": self.mcid,
            "threshold": self.threshold,
            "unit": self.unit,
            "p": self.p,
            "met": self.met,
            "preregistered": self.preregistered,
            "note": self.note,
            "line": self.line(),
        }


@dataclass(frozen=True)
class ExpectationBound:
    """How much of the effect expectation could explain, and what is left.

    Parameters
    ----------
    expectation_max : the largest shift of the outcome, in outcome units, that believing one
        is on A could cause (an assumption; the MCID by default).
    belief_gap : posterior mean of the assumed difference between the arms in the share of
        time the patient believed they were on A: max(J, 0) from the guesses, or the excess
        share of periods with a side effect on one arm, whichever is larger.
    explained : posterior mean of the benefit expectation could explain, outcome units.
    mean, hdi_low, hdi_high : the effect after removing it (95% interval, equal-tailed).
    p_benefit, p_mcid : P(benefit > 0) and P(benefit >= MCID) after removing it.
    """

    expectation_max: float
    belief_gap: float
    explained: float
    mean: float
    hdi_low: float
    hdi_high: float
    p_benefit: float
    p_mcid: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verdict:
    """Tier, decision line and blinding of one analysis (see the module docstring).

    ``lines`` are the paragraphs in reading order: the criterion line, the tier statement
    (with the blinding evidence), the expectation bound when there is one, and the effect
    paragraph of the summary.
    """

    tier: str
    criterion: Criterion
    blinding: str
    how: tuple[str, ...]
    p_could_tell: float | None
    bound: ExpectationBound | None
    lines: tuple[str, ...]

    @property
    def criterion_met(self) -> bool | None:
        return self.criterion.met

    @property
    def headline(self) -> str:
        """The tier statement (second line)."""
        return self.lines[1]

    @property
    def bound_text(self) -> str | None:
        """The expectation bound's paragraph, when the verdict shows one."""
        return next((x for x in self.lines if x.startswith("Expectation bound:")), None)

    @property
    def text(self) -> str:
        return "\n\n".join(self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "criterion_met": self.criterion_met,
            "criterion": self.criterion.to_dict(),
            "blinding": {
                "status": self.blinding,
                "how": list(self.how),
                "p_could_tell": self.p_could_tell,
            },
            "expectation_bound": None if self.bound is None else self.bound.to_dict(),
            "text": self.text,
        }


def _decimal(p: float) -> str:
    """A probability as a decimal that never rounds to a false certainty: 0.75, >0.99."""
    if p > 0.995:
        return ">0.99"
    if p < 0.005:
        return "<0.01"
    return f"{p:.2f}"


def expectation_bound(
    effect_draws: np.ndarray,
    summary: EffectSummary,
    blinding: BlindingAssessment,
    expectation_max: float,
    seed: int | None = None,
) -> ExpectationBound:
    """Remove the largest benefit that expectation could explain, draw by draw.

    Parameters
    ----------
    effect_draws : posterior draws of the effect (A minus B, outcome units).
    summary : the effect summary (direction, MCID).
    blinding : the blinding assessment (guess model and side effects).
    expectation_max : the assumed largest effect of believing one is on A, outcome units.
    seed : seed of the draws of the belief gap.

    Returns
    -------
    ExpectationBound
    """
    rng = np.random.default_rng(seed)
    eff = rng.choice(np.asarray(effect_draws, dtype=float), size=BOUND_DRAWS)
    gap = np.full(BOUND_DRAWS, blinding.revealed_share())
    if blinding.guesses is not None:
        gap = np.maximum(gap, np.maximum(blinding.guesses.sample_j(BOUND_DRAWS, rng), 0.0))
    sign = -1.0 if summary.lower_is_better else 1.0
    explained = expectation_max * gap
    benefit = sign * eff - explained
    adjusted = sign * benefit
    lo, hi = np.quantile(adjusted, [0.025, 0.975])
    return ExpectationBound(
        expectation_max=float(expectation_max),
        belief_gap=float(gap.mean()),
        explained=float(explained.mean()),
        mean=float(adjusted.mean()),
        hdi_low=float(lo),
        hdi_high=float(hi),
        p_benefit=float(np.mean(benefit > 0)),
        p_mcid=float(np.mean(benefit >= summary.mcid)),
    )


def make_verdict(
    summary: EffectSummary,
    *,
    threshold: float,
    preregistered: bool,
    blinding: BlindingAssessment | None,
    open_label: bool = False,
    bound: ExpectationBound | None = None,
    registration_note: str = "",
    names: Mapping[str, str] | None = None,
) -> Verdict:
    """Build the verdict of one analysis.

    Parameters
    ----------
    summary : the effect summary (its ``p_mcid`` is tested against ``threshold``).
    threshold : the decision threshold on P(benefit >= MCID).
    preregistered : the criterion and the analysis are the trial's registered ones.
    blinding : the blinding assessment, or None when nothing was recorded about it.
    open_label : the control arm was no treatment: the patient knew the arm.
    bound : the expectation bound, when computed.
    registration_note : the criterion line's note (``Criterion.note``).
    names : the treatment of each arm, once they may be named (``summarize``); None: A, B.

    Returns
    -------
    Verdict
    """
    criterion = Criterion(
        mcid=summary.mcid,
        threshold=threshold,
        unit=summary.unit,
        p=summary.p_mcid,
        preregistered=preregistered,
        judged=summary.diagnostics.ok,
        note=registration_note,
    )
    status = "not-assessed" if blinding is None else blinding.status
    how = () if blinding is None else blinding.how
    if open_label:
        status, how = "could-tell", ("open label: no placebo, the patient knew the treatment",)
    p_tell = None if blinding is None else blinding.p_tell
    out = summary.outcome
    kind, _ = effect_kind(summary, threshold)
    conclusion = effect_conclusion(summary, threshold, out, names)
    if not summary.diagnostics.ok:
        tier = "no-verdict"
        statement = (
            "No verdict: the model fit failed its convergence checks, so neither a benefit "
            "nor its absence can be stated."
        )
    elif kind == "benefit":
        if status == "could-tell":
            tier = "benefit-unblinded"
            statement = (
                f"Benefit, but the patient could tell the arms apart ({'; '.join(how)}): "
                f"part or all of the benefit may be expectation. {conclusion}"
            )
        else:
            tier = "benefit"
            statement = f"Benefit: {conclusion} {_blinding_clause(status, blinding)}"
    elif kind == "no-practical-difference":
        tier = "no-practical-difference"
        statement = (
            f"{probability_word(summary.p_rope).capitalize()} no practical difference: {conclusion}"
        )
    elif kind == "harm":
        tier = "harm"
        statement = f"Harm: {conclusion}"
    else:
        tier = "no-clear-benefit"
        statement = f"No clear benefit: {conclusion}"
    lines = [criterion.line(), statement]
    if bound is not None and tier != "no-verdict" and summary.p_benefit >= 0.5:
        lines.append(_bound_text(bound, summary, names))
    lines.append(summary.verdict)
    return Verdict(
        tier=tier,
        criterion=criterion,
        blinding=status,
        how=tuple(how),
        p_could_tell=p_tell,
        bound=bound,
        lines=tuple(lines),
    )


def _blinding_clause(status: str, blinding: BlindingAssessment | None) -> str:
    """The blinding beside a benefit, in the assessment's own words (one rule everywhere)."""
    if blinding is None:
        return "Blinding was not assessed: no guesses of the kit were recorded."
    return blinding_headline(status, blinding.guesses, blinding.how)


def _bound_text(b: ExpectationBound, s: EffectSummary, names: Mapping[str, str] | None) -> str:
    unit = s.unit
    return (
        f"Expectation bound: if believing one is on {arm_names(names)['A']} changes "
        f"{s.outcome} by up to "
        f"{points(b.expectation_max, unit)}, and belief differed between the arms as much as "
        f"the guesses and side effects allow (on average {100 * b.belief_gap:.0f}% of the "
        f"time), expectation could explain {b.explained:.2f} {unit}; the effect left is "
        f"{signed(b.mean)} {unit} (95% interval {signed(b.hdi_low)} to {signed(b.hdi_high)}), "
        f"P(benefit) {format_probability(b.p_benefit)}, P(benefit >= "
        f"{points(s.mcid, unit)}) {format_probability(b.p_mcid)}."
    )

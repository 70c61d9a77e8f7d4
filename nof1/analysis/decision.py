"""The patient's pre-registered trade-off between pain relief and side effects, and the net
benefit it gives after unblinding.

Before the trial the patient states, per side effect, how many more days a week of it one
point less pain is worth (the ``[decision]`` section of ``protocol.toml``, covered by the
commitment like every other section). After unblinding, the net benefit, in points of the
primary outcome, is

    net = gain - sum over side effects k of 7 * (rate_k(A) - rate_k(B)) / days_per_point_k

where ``gain`` is the primary outcome's improvement on A (positive = better, whichever
direction the scale runs) and ``rate_k`` the share of days with side effect k on each arm.
It is computed draw by draw from the posterior draws of the outcomes' own models, so its
interval carries every model's uncertainty. The decision is "worth continuing" when
P(net > 0) exceeds the pre-registered threshold, "not worth it" when P(net > 0) is below
one minus it, and "cannot tell" otherwise; the pain-only criterion stands beside it.

The pain effect's draws and each side effect's rate draws come from independent models
(the pain model, one Beta-binomial per side effect), so drawing them side by side, with a
fixed seed (``DECISION_SEED``), is drawing from their joint posterior. ``TradeOff`` is read
by the plan stage (``nof1.plan.sections``, so that ``Protocol.decision`` can hold it) and
re-exported here with ``NetBenefit``; ``net_benefit`` computes one from draws,
``trial_net_benefit`` from an unblinded trial's analysis. Operating characteristics:
``bench/decision.py`` (docs/validation.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nof1.analysis.summary import HDI_PROB, _hdi_from_draws
from nof1.errors import DataError
from nof1.plan.sections import TradeOff

if TYPE_CHECKING:
    from nof1.analysis.models.base import Fit
    from nof1.analysis.result import AnalysisResult
    from nof1.trial.handle import Trial

#: Seed of the net benefit's draws: the same trial gives the same net benefit every run,
#: whatever seed (or none) the analysis was given.
DECISION_SEED = 24
#: Draws of the net benefit when the primary fit is exact (its posterior is sampled anew).
DECISION_DRAWS = 4000

#: The three pre-registered decisions, in the words the verdict and both reports use.
DECISIONS = ("worth continuing", "not worth it", "cannot tell")


@dataclass(frozen=True)
class NetBenefit:
    """The net benefit after unblinding, in points of the primary outcome.

    Parameters
    ----------
    trade_off : the registered trade-off it applies.
    mean, hdi_low, hdi_high : its posterior mean and 95% interval (points; positive =
        the treatment's gain outweighs its side effects, in the patient's own rate).
    p_positive : P(net benefit > 0).
    decision : one of ``DECISIONS``.
    gain : the primary outcome's posterior mean gain on A (points, positive = better).
    side_effects : per side effect, ``{"extra_days": ..., "cost": ...}``: the posterior mean
        of the extra days a week on A (rate(A) - rate(B), times 7) and its cost in points
        (that divided by ``days_per_point``).
    pain_only_met : whether the pain-only pre-registered criterion was met, for the
        sentence that sets the two side by side.
    """

    trade_off: TradeOff
    mean: float
    hdi_low: float
    hdi_high: float
    p_positive: float
    decision: str
    gain: float
    side_effects: dict[str, dict[str, float]]
    pain_only_met: bool
    #: P(benefit >= MCID) of the pain-only criterion, shown beside its verdict.
    pain_only_p: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the trade-off (``days_per_point``, ``threshold``) and every number."""
        return {
            "days_per_point": dict(self.trade_off.days_per_point),
            "threshold": self.trade_off.threshold,
            "mean": self.mean,
            "hdi_low": self.hdi_low,
            "hdi_high": self.hdi_high,
            "p_positive": self.p_positive,
            "decision": self.decision,
            "gain": self.gain,
            "side_effects": {k: dict(v) for k, v in self.side_effects.items()},
            "pain_only_met": self.pain_only_met,
            "pain_only_p": self.pain_only_p,
        }

    def sentence(self) -> str:
        """'Net benefit: +0.9 points (95% interval -0.2 to +2.0), P(worth it) 0.93: worth
        continuing; pain alone: criterion not met (0.64)'."""
        pain = f"criterion {'met' if self.pain_only_met else 'not met'}"
        if np.isfinite(self.pain_only_p):
            pain += f" ({self.pain_only_p:.2f})"
        return (
            f"Net benefit: {self.mean:+.1f} points (95% interval {self.hdi_low:+.1f} to "
            f"{self.hdi_high:+.1f}), P(worth it) {self.p_positive:.2f}: {self.decision}; "
            f"pain alone: {pain}"
        )


#: Said after the net benefit when the patient could tell the kits apart, as the verdict says.
EXPECTATION_CAVEAT = (
    "But the patient could tell the kits apart: part or all of the relief may be expectation."
)


def stated(nb: NetBenefit, blinding: str) -> str:
    """The net benefit's line (``NetBenefit.sentence``), with the verdict's caveat when the
    patient could tell the kits apart (``blinding`` is the verdict's blinding status,
    ``"could-tell"``) and the decision is not "not worth it": the trade-off weighs the
    measured relief, and part of it may be expectation.

    Example
    -------
    >>> stated(nb, "could-tell")  # doctest: +SKIP
    'Net benefit: +0.8 points (...): worth continuing; pain alone: ... But the patient could ...'
    """
    line = nb.sentence()
    if blinding == "could-tell" and nb.decision != DECISIONS[1]:
        line += f". {EXPECTATION_CAVEAT}"
    return line


def decide(p_positive: float, threshold: float) -> str:
    """The pre-registered decision from P(net > 0): "worth continuing" above ``threshold``,
    "not worth it" below ``1 - threshold``, "cannot tell" otherwise (the bounds included).

    Example
    -------
    >>> decide(0.93, 0.8), decide(0.8, 0.8), decide(0.1, 0.8)
    ('worth continuing', 'cannot tell', 'not worth it')
    """
    if p_positive > threshold:
        return DECISIONS[0]
    if p_positive < 1.0 - threshold:
        return DECISIONS[1]
    return DECISIONS[2]


def net_benefit(
    trade_off: TradeOff,
    gain: np.ndarray,
    rates: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    pain_only_met: bool,
    pain_only_p: float = float("nan"),
) -> NetBenefit:
    """The net benefit, draw by draw, and the decision it gives.

    Parameters
    ----------
    trade_off : the registered trade-off.
    gain : posterior draws of the primary outcome's gain on A (points, positive = better,
        whichever way its scale runs).
    rates : per side effect of ``trade_off``, posterior draws of its rate (share of days)
        on A and on B, each as long as ``gain``.
    pain_only_met, pain_only_p : the pain-only criterion, for the sentence beside it.

    Returns
    -------
    NetBenefit

    Raises
    ------
    DataError : a side effect of the trade-off without draws, or draws of unequal length.

    Example
    -------
    >>> t = TradeOff({"diarrhoea": 2.0}, 0.8)
    >>> nb = net_benefit(t, np.full(4, 1.5), {"diarrhoea": (np.full(4, 0.2), np.full(4, 0.05))},
    ...                  pain_only_met=True)
    >>> round(nb.mean, 3), nb.decision
    (0.975, 'worth continuing')
    """
    gain = np.asarray(gain, dtype=float)
    net = gain.copy()
    side: dict[str, dict[str, float]] = {}
    for name, days in trade_off.days_per_point.items():
        if name not in rates:
            raise DataError(f"no draws of side effect {name!r} for the net benefit")
        rate_a, rate_b = (np.asarray(r, dtype=float) for r in rates[name])
        if rate_a.shape != gain.shape or rate_b.shape != gain.shape:
            raise DataError(
                f"side effect {name!r} has {rate_a.size} and {rate_b.size} draws, the gain "
                f"{gain.size}: the net benefit needs one of each per draw"
            )
        extra = 7.0 * (rate_a - rate_b)
        cost = extra / days
        net -= cost
        side[name] = {"extra_days": float(extra.mean()), "cost": float(cost.mean())}
    low, high = _hdi_from_draws(net, HDI_PROB)
    p = float(np.mean(net > 0))
    return NetBenefit(
        trade_off=trade_off,
        mean=float(net.mean()),
        hdi_low=low,
        hdi_high=high,
        p_positive=p,
        decision=decide(p, trade_off.threshold),
        gain=float(gain.mean()),
        side_effects=side,
        pain_only_met=bool(pain_only_met),
        pain_only_p=float(pain_only_p),
    )


def effect_draws(fit: Fit, n: int = DECISION_DRAWS, seed: int = DECISION_SEED) -> np.ndarray:
    """Draws of the primary outcome's effect (A minus B): sampled anew with a fixed seed
    from the exact engine's posterior (a mixture of Student-t's), the sampler's own draws
    for MCMC."""
    ex = fit.exact
    if ex is None:
        return np.asarray(fit.draws["effect"], dtype=float)
    rng = np.random.default_rng(seed)
    w = np.asarray(ex.weights, dtype=float)
    k = rng.choice(w.size, size=n, p=w / w.sum())
    return np.asarray(ex.loc)[k] + np.asarray(ex.scale)[k] * rng.standard_t(ex.df, size=n)


def rate_draws_for(
    series_by_name: Mapping[str, Any], prior: str, n: int, seed: int = DECISION_SEED
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per side effect, ``n`` posterior draws of its rate on A and on B (the exact
    Beta-binomial model, ``nof1.analysis.models.binary``), each with its own fixed seed."""
    from nof1.analysis.models.binary import fit_binary_exact

    out = {}
    for i, (name, series) in enumerate(series_by_name.items()):
        draws = fit_binary_exact(series, prior, n_draws=n, seed=seed + 1 + i).draws
        out[name] = (draws["rate_a"], draws["rate_b"])
    return out


def trial_net_benefit(
    trial: Trial,
    trade_off: TradeOff,
    result: AnalysisResult,
    *,
    without_deviations: bool = False,
    without_late: bool = False,
) -> NetBenefit:
    """The net benefit of an unblinded trial's primary analysis under its trade-off.

    Each side effect is read as its own series, over the days the primary analysis used
    (a trial stopped at an interim look: its analysed blocks), and fitted by the exact
    Beta-binomial model under the analysis' prior; the primary effect's draws come from
    ``result.fit`` (``effect_draws``).

    Raises
    ------
    DataError : a side effect with no answers on an arm.
    """
    from nof1.analysis.series import series_from_trial, washout_mode

    sign = -1.0 if result.series.lower_is_better else 1.0
    gain = sign * effect_draws(result.fit)
    washout = washout_mode(trial.protocol.analysis.exclude_washout, False)
    series = {}
    for name in trade_off.days_per_point:
        s = series_from_trial(
            trial, name, washout=washout, without_deviations=without_deviations,
            without_late=without_late,
        )  # fmt: skip
        if result.sequential is not None:
            s = s.subset(result.sequential.analysed(s.block))
        series[name] = s
    rates = rate_draws_for(series, result.fit.prior, gain.size)
    verdict = result.verdict
    return net_benefit(
        trade_off,
        gain,
        rates,
        pain_only_met=verdict.criterion_met is True,
        pain_only_p=result.summary.p_mcid,
    )

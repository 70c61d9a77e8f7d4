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

This module holds the types every stage shares; ``net_benefit`` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The three pre-registered decisions, in the words the verdict and both reports use.
DECISIONS = ("worth continuing", "not worth it", "cannot tell")


@dataclass(frozen=True)
class TradeOff:
    """The ``[decision]`` section: what the patient said before the trial.

    Parameters
    ----------
    days_per_point : per side-effect outcome (a yes/no outcome of the protocol, by name),
        how many more days a week of it one point less of the primary outcome is worth.
    threshold : the probability P(net benefit > 0) must exceed for "worth continuing"
        (by default the analysis' own threshold).
    """

    days_per_point: dict[str, float]
    threshold: float


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
    side_effects : per side effect, the posterior mean of the extra days a week on A
        (rate(A) - rate(B), times 7) and its cost in points (that divided by
        ``days_per_point``).
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

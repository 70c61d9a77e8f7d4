"""Slow onset on the magnesium-crps design: the pre-registered onset model against the old default.

The magnesium-crps template's design (7 run-in days, 3 blocks of 28-day periods, the first 7
days of each period washout), day-to-day sd 1.5 and AR(1) rho 0.5. The effect builds up and
fades with a time constant tau (``nof1.analysis.models.exposure``), exposure counted from each kit's
first day. Two analyses of the same simulated trials, both with the exact engine and the
neutral prior:

- ``onset model`` (the template's pre-registered default): tau integrated over its grid,
  washout days entered as unobserved days;
- ``old default``: washout days excluded, an instant effect assumed.

Used by ``bench/calibration.py --study onset`` (docs/validation.md) and by the slow test in
``tests/test_exact.py`` with fewer trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nof1.design import analyse_batch
from nof1.design.simulate import Layout, simulate_batch
from nof1.plan.protocol import Analysis

#: The magnesium-crps template's design.
MAGNESIUM = Layout(blocks=3, period_days=28, washout_days=7, run_in_days=7)
SD, RHO = 1.5, 0.5
#: (label, true effect at full exposure, true tau in days).
SCENARIOS = (
    ("effect -1.5, onset tau 10 days", -1.5, 10.0),
    ("no effect (tau 10 days)", 0.0, 10.0),
    ("effect -1.5, instant onset (tau 0)", -1.5, 0.0),
)
ANALYSES = (("onset model (pre-registered)", True), ("old default", False))


@dataclass(frozen=True)
class OnsetRow:
    """Operating characteristics of one analysis in one scenario (means over trials)."""

    scenario: str
    analysis: str
    effect: float
    tau: float
    trials: int
    bias: float
    bias_se: float
    coverage: float
    width: float
    benefit: float
    decision: float
    tau_hat: float | None


def onset_study(trials: int, seed: int) -> list[OnsetRow]:
    """Simulate ``trials`` trials per scenario and analyse each twice.

    Columns: ``bias`` (mean posterior mean minus truth) with its Monte Carlo se,
    ``coverage`` of the 95% credible interval, its mean ``width``, ``benefit`` the share
    with P(benefit) > 0.95, ``decision`` the share meeting the pre-registered rule
    P(benefit >= MCID) > threshold, ``tau_hat`` the mean posterior mean of tau.
    """
    rng = np.random.default_rng(seed)
    mcid, threshold = Analysis.mcid, Analysis.threshold
    rows = []
    for label, effect, tau in SCENARIOS:
        batch = simulate_batch(
            MAGNESIUM, None, trials, effect=effect, sd=SD, rho=RHO, tau=tau,
            washout="unobserved", rng=rng,
        )  # fmt: skip
        for name, carryover in ANALYSES:
            # Unobserved washout rows are gaps: without the onset model this is exactly the
            # analysis with washout days excluded (tests/test_exact.py checks it).
            res = analyse_batch(batch, carryover=carryover, thresholds=(0.0, -mcid))
            err = res.mean - effect
            rows.append(
                OnsetRow(
                    scenario=label,
                    analysis=name,
                    effect=effect,
                    tau=tau,
                    trials=trials,
                    bias=float(err.mean()),
                    bias_se=float(err.std(ddof=1) / np.sqrt(trials)),
                    coverage=float(np.mean((res.lower <= effect) & (effect <= res.upper))),
                    width=float(np.mean(res.upper - res.lower)),
                    benefit=float(np.mean(res.p_below[:, 0] > 0.95)),
                    decision=float(np.mean(res.p_below[:, 1] > threshold)),
                    tau_hat=None if res.tau_mean is None else float(res.tau_mean.mean()),
                )
            )
    return rows


def markdown(rows: list[OnsetRow]) -> list[str]:
    """The study's table, one line per scenario and analysis."""
    lines = [
        "| scenario | analysis | bias (MC se) | coverage | mean width | P(benefit) > 0.95 "
        "| decision: P(benefit >= 1) > 0.8 | mean tau_hat |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tau_hat = "" if r.tau_hat is None else f"{r.tau_hat:.1f}"
        lines.append(
            f"| {r.scenario} | {r.analysis} | {r.bias:+.3f} ({r.bias_se:.3f}) | "
            f"{r.coverage:.3f} | {r.width:.2f} | {r.benefit:.3f} | {r.decision:.3f} | "
            f"{tau_hat} |"
        )
    return lines

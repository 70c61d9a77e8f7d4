"""The net benefit under a pre-registered trade-off, by simulation (issue 24).

The magnesium-crps template's design and pre-registered analysis (3 blocks of 28-day periods,
7 washout days each and a 7-day run-in; exact engine, neutral prior, AR(1), the onset model)
on simulated patients with a true pain effect of -1.5 points at full exposure (onset time
constant 7 days, day-to-day sd 1.5, rho 0.5) and diarrhoea on 20% of the analysed days on
magnesium and 5% on placebo: 1.05 more days a week. Three trade-offs (``days_per_point``: the
days a week of diarrhoea one point less pain is worth) make the true net benefit
``1.5 - 1.05 / days_per_point`` clearly positive, about 0, and clearly negative. For each,
the coverage of the net benefit's 95% interval and the share of each decision; the share of
"worth continuing" when the truth is "not worth it" must be at most 5%.

    python bench/decision.py [--trials 400] [--seed 24]

Used by ``tests/test_decision.py`` (a slow spot check with few trials); the table is in
docs/validation.md ("The net benefit under a pre-registered trade-off").
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from nof1.analysis.decision import DECISIONS, effect_draws, net_benefit, rate_draws_for
from nof1.analysis.models.exact import fit_exact
from nof1.analysis.series import Series
from nof1.analysis.summary import summarize
from nof1.design.simulate import Layout, simulate_series
from nof1.plan.sections import TradeOff

#: The magnesium-crps template's design.
MAGNESIUM = Layout(blocks=3, period_days=28, washout_days=7, run_in_days=7)
EFFECT, SD, RHO, TAU = -1.5, 1.5, 0.5, 7.0
RATE_A, RATE_B = 0.20, 0.05
EXTRA_DAYS = 7 * (RATE_A - RATE_B)
#: (label, days_per_point): worth it (true net +0.98), neutral (0), not worth it (-1.13).
SCENARIOS = (
    ("worth it", 2.0),
    ("neutral", EXTRA_DAYS / -EFFECT),
    ("not worth it", 0.4),
)
THRESHOLD = 0.8


def true_net(days_per_point: float) -> float:
    """The true net benefit in points: the pain gain less the extra diarrhoea days, converted."""
    return -EFFECT - EXTRA_DAYS / days_per_point


@dataclass(frozen=True)
class Row:
    label: str
    days_per_point: float
    truth: float
    trials: int
    coverage: float
    mean: float
    rates: dict[str, float]


def simulate_one(rng: np.random.Generator) -> tuple[Series, Series]:
    """One simulated trial: its pain series (washout days unobserved, for the onset model)
    and its diarrhoea series (the analysed days, washout excluded, as ``analyze_trial``)."""
    sim = simulate_series(MAGNESIUM, effect=EFFECT, sd=SD, rho=RHO, tau=TAU,
                          washout="unobserved", rng=rng)  # fmt: skip
    f = sim.frame
    on = (f["arm"].notna() & ~f["washout"]).to_numpy()
    active = (f["arm"][on] == "A").to_numpy().astype(int)
    diarrhoea = (rng.random(active.size) < np.where(active == 1, RATE_A, RATE_B)).astype(float)
    side = Series(
        y=diarrhoea,
        active=active,
        day=f["day"][on].to_numpy(),
        block=f["block"][on].to_numpy(),
        period=f["period"][on].to_numpy(),
        outcome="diarrhoea",
        low=0.0,
        high=1.0,
        scheme=sim.series.scheme,
    )
    return sim.series, side


def run(trials: int = 400, seed: int = 24) -> list[Row]:
    """Every scenario on the same simulated trials (the trade-off changes, not the data)."""
    rng = np.random.default_rng(seed)
    hits = {label: [] for label, _ in SCENARIOS}
    means = {label: [] for label, _ in SCENARIOS}
    decisions = {label: [] for label, _ in SCENARIOS}
    for i in range(trials):
        pain, side = simulate_one(rng)
        fit = fit_exact(pain, "neutral", ar1=True, carryover=True, n_draws=100, seed=seed + i)
        summary = summarize(fit, pain, mcid=1.0, threshold=THRESHOLD)
        # As analyze_trial does: the effect's exact posterior sampled anew (pain: lower is
        # better, so the gain is minus the effect), the rates by the Beta-binomial model.
        gain = -effect_draws(fit, seed=seed + i)
        rates = rate_draws_for({"diarrhoea": side}, "neutral", gain.size, seed=seed + i)
        for label, days in SCENARIOS:
            nb = net_benefit(TradeOff({"diarrhoea": days}, THRESHOLD), gain, rates,
                             pain_only_met=summary.p_mcid > THRESHOLD)  # fmt: skip
            hits[label].append(nb.hdi_low <= true_net(days) <= nb.hdi_high)
            means[label].append(nb.mean)
            decisions[label].append(nb.decision)
    return [
        Row(label, days, true_net(days), trials, float(np.mean(hits[label])),
            float(np.mean(means[label])),
            {d: float(np.mean([x == d for x in decisions[label]])) for d in DECISIONS})
        for label, days in SCENARIOS
    ]  # fmt: skip


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    out = [
        "| trade-off | days per point | true net | mean estimate | 95% coverage (MC se) "
        "| worth continuing | cannot tell | not worth it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        se = np.sqrt(r.coverage * (1 - r.coverage) / r.trials)
        out.append(
            f"| {r.label} | {r.days_per_point:.2f} | {r.truth:+.2f} | {r.mean:+.2f} | "
            f"{r.coverage:.3f} ({se:.3f}) | {r.rates['worth continuing']:.3f} | "
            f"{r.rates['cannot tell']:.3f} | {r.rates['not worth it']:.3f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args.trials, args.seed)
    print(table(rows))
    print(f"\n{args.trials} simulated trials, seed {args.seed}, "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()

"""Are 500 NUTS tuning steps enough for the Gaussian personal model? Tuning 500 vs 1000.

For seeded simulated series (112 days: 4 blocks of 14-day periods; rho in {0, 0.5, 0.8};
5% of days missing; half of them with a slow drift analysed with a linear trend), fit the
PyMC engine (4 chains x 1000 draws) with each number of tuning steps, and the exact engine
as the reference. Prints, per setting: how many fits failed a diagnostic (R-hat > 1.01,
ESS < 400, any divergence), the worst R-hat and ESS, and how far the PyMC posterior mean and
sd of the effect are from the exact ones (in exact posterior sds, and as a ratio).

    python bench/tuning.py [--series 30] [--tunes 500 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nof1.analysis.models.exact import fit_exact
from nof1.analysis.models.personal import fit_mcmc
from nof1.design.simulate import Layout, simulate_series

LAYOUT = Layout(blocks=4, period_days=14)


def cases(n: int):
    """(seed, rho, trend) for n series, cycling over the settings."""
    settings = [(rho, trend) for rho in (0.0, 0.5, 0.8) for trend in ("none", "linear")]
    for i in range(n):
        rho, trend = settings[i % len(settings)]
        yield 1000 + i, rho, trend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=30)
    parser.add_argument("--tunes", type=int, nargs="+", default=[500, 1000])
    args = parser.parse_args()
    rows = {tune: [] for tune in args.tunes}
    for seed, rho, trend in cases(args.series):
        drift = 0.1 if trend == "linear" else 0.0
        s = simulate_series(
            LAYOUT, effect=-1.0, sd=1.5, rho=rho, trend_per_week=drift, missing_rate=0.05, rng=seed
        ).series
        exact = fit_exact(s, "neutral", trend=trend, n_draws=40_000, seed=seed)
        m0, s0 = exact.draws["effect"].mean(), exact.draws["effect"].std()
        for tune in args.tunes:
            start = time.perf_counter()
            fit = fit_mcmc(s, "neutral", trend=trend, tune=tune, seed=seed)
            wall = time.perf_counter() - start
            eff = fit.draws["effect"]
            d = fit.diagnostics
            rows[tune].append(
                (d.ok, d.rhat_max, d.ess_bulk_min, d.ess_tail_min, d.divergences,
                 abs(eff.mean() - m0) / s0, eff.std() / s0, wall)
            )  # fmt: skip
        print(f"series {seed} (rho {rho}, trend {trend}) done", flush=True)
    print(f"\n{args.series} series, 4 chains x 1000 draws, neutral prior")
    head = "tune  failed  worst R-hat  min bulk ESS  min tail ESS  divergences"
    print(head + "  max |mean diff|/sd  sd ratio range  median fit s")
    for tune, r in rows.items():
        a = np.array(r, dtype=float)
        print(
            f"{tune:4d}  {int((a[:, 0] == 0).sum()):6d}  {a[:, 1].max():11.4f}  "
            f"{a[:, 2].min():12.0f}  {a[:, 3].min():12.0f}  {int(a[:, 4].sum()):11d}  "
            f"{a[:, 5].max():18.3f}  {a[:, 6].min():.3f}-{a[:, 6].max():.3f}  "
            f"{np.median(a[:, 7]):12.1f}"
        )


if __name__ == "__main__":
    main()

"""Divergences of the ordinal personal model at two NUTS target acceptances.

For seeded 60-day series of whole 0-10 scores (3 blocks of 10-day periods, effect -2, sd 1,
rho 0.4, 5% missing: the series of tests/test_personal.py), fit the ordinal model with
4 chains x 1000 draws at each target acceptance and print divergences, R-hat, ESS and time.

    python bench/ordinal.py [--seeds 22 31 32 33 34 35] [--target-accept 0.95 0.98]
"""

from __future__ import annotations

import argparse
import time

from nof1.analysis.models.personal import fit_mcmc
from nof1.design.simulate import Layout, simulate_series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[22, 31, 32, 33, 34, 35])
    parser.add_argument("--target-accept", type=float, nargs="+", default=[0.95, 0.98])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        s = simulate_series(
            Layout(blocks=3, period_days=10), effect=-2.0, sd=1.0, rho=0.4, missing_rate=0.05,
            ordinal=True, rng=seed,
        ).series  # fmt: skip
        for ta in args.target_accept:
            start = time.perf_counter()
            fit = fit_mcmc(s, "neutral", likelihood="ordinal", seed=seed, target_accept=ta)
            d = fit.diagnostics
            rows.append((seed, ta, d.divergences, d.rhat_max, d.ess_bulk_min, d.ess_tail_min,
                         d.ok, time.perf_counter() - start))  # fmt: skip
            print(f"seed {seed}, target_accept {ta}: {d.divergences} divergences", flush=True)
    print("\nseed  target_accept  divergences  R-hat  bulk ESS  tail ESS  ok     fit s")
    for seed, ta, div, rhat, bulk, tail, ok, wall in rows:
        print(
            f"{seed:4d}  {ta:13.2f}  {div:11d}  {rhat:5.3f}  {bulk:8.0f}  {tail:8.0f}  "
            f"{ok!s:5}  {wall:6.0f}"
        )


if __name__ == "__main__":
    main()

"""Does PyMC sample cleanly where issue 13 saw it fail, and where it fails, does a fallback answer?

Two models, each fitted with its library defaults (4 chains, 1,000 draws):

- **personal**: short series like the nof1ins README example (2 blocks of 7-day periods, 28
  days, 5% of days missed; effect -1, day-to-day sd 1.5, AR(1) rho 0.7, a drift of 0.3 points
  a week), analysed with a linear trend and AR(1) errors under the vague and the neutral
  prior (``nof1.analysis.models.personal.fit_mcmc``), plus the README series itself;
- **pool**: 4 series of 3 or 4 blocks of 14-day periods (``nof1.design.simulate.simulate_pool``,
  mu -1, tau 0.5), the hierarchical model of ``nof1 pool`` (``nof1.analysis.models.pooled``).

A fit is clean when it has no divergent transition, R-hat <= 1.01 and ESS >= 400. Where a fit
is not, the engine its advice names (``nof1.analysis.summary.fallback_advice``,
``nof1.research.pool.PoolResult.advice``) is run on the same data: the exact engine for the personal
model, the fast path for the pool; the table shows what it answered.

Used by ``bench/calibration.py --study mcmc-robust`` (docs/validation.md); a smaller seed set
runs in the slow tests of ``tests/test_personal.py`` and ``tests/test_pool.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nof1.analysis.csv_input import series_from_csv
from nof1.analysis.models.exact import fit_exact
from nof1.analysis.models.exact_batch import effect_moments
from nof1.analysis.models.fastpool import fast_pool
from nof1.design.simulate import Layout, simulate_pool, simulate_series

README = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "peer" / "nof1ins_readme_example.csv"
)
#: The README example's layout: 2 blocks of 7-day periods.
SHORT = Layout(blocks=2, period_days=7)
EFFECT, SD, RHO, DRIFT = -1.0, 1.5, 0.7, 0.3


@dataclass(frozen=True)
class FitRow:
    """One fit: what PyMC's checks said, and what the fallback answered if they failed."""

    model: str
    data: str
    seed: int
    divergences: int
    rhat: float
    ess_bulk: float
    ess_tail: float
    ok: bool
    seconds: float
    fallback: str


def short_series(seed: int):
    """A seeded 28-day series like the nof1ins README example, with a drift."""
    return simulate_series(
        SHORT, effect=EFFECT, sd=SD, rho=RHO, trend_per_week=DRIFT, missing_rate=0.05,
        baseline=7.0, rng=seed,
    ).series  # fmt: skip


def small_pool(seed: int):
    """A seeded pool of 4 ordinary trials (3 or 4 blocks of 14-day periods)."""
    trials = simulate_pool(4, -1.0, 0.5, blocks=(3, 4), period_days=(14,), ordinal=True, rng=seed)
    return [t.series for t in trials]


def personal_row(series, label: str, prior: str, seed: int) -> FitRow:
    """Fit the trend + AR(1) model with PyMC; on failure, the exact engine."""
    import time

    from nof1.analysis.models.personal import fit_mcmc

    t = time.perf_counter()
    fit = fit_mcmc(series, prior, trend="linear", seed=seed)
    seconds = time.perf_counter() - t
    d = fit.diagnostics
    fallback = ""
    if not d.ok:
        exact = fit_exact(series, prior, trend="linear", seed=seed)
        e = exact.draws["effect"]
        fallback = f"exact: effect {e.mean():+.2f} (sd {e.std():.2f})"
    return FitRow(
        f"personal, {prior}", label, seed, d.divergences, d.rhat_max, d.ess_bulk_min,
        d.ess_tail_min, d.ok, seconds, fallback,
    )  # fmt: skip


def pool_row(series, label: str, seed: int) -> FitRow:
    """Fit the hierarchical model as ``nof1 pool`` does; on failure, the fast path."""
    import time

    from nof1.analysis.models.pooled import fit_pooled

    t = time.perf_counter()
    fit = fit_pooled(series, draws=1000, tune=1000, seed=seed)
    seconds = time.perf_counter() - t
    d = fit.diagnostics
    fallback = ""
    if not d.ok:
        unpooled = effect_moments(series, prior="vague")
        mu = fast_pool(unpooled[:, 0], unpooled[:, 1]).mu()
        fallback = f"fast: mu {mu.mean:+.2f} (sd {mu.sd:.2f})"
    return FitRow(
        "pool of 4", label, seed, d.divergences, d.rhat_max, d.ess_bulk_min, d.ess_tail_min,
        d.ok, seconds, fallback,
    )  # fmt: skip


def robust_study(n_series: int, n_pools: int, seed: int, readme_seeds=(1, 3)) -> list[FitRow]:
    """The README series (vague prior, as in issue 13), ``n_series`` short series under the
    vague and the neutral prior, and ``n_pools`` pools; data seed ``seed + i``, sampler seed i."""
    rows = []
    readme = series_from_csv(README, "Y", "Treat", active="2", time="Day", block="Block")
    for s in readme_seeds:
        rows.append(personal_row(readme, "nof1ins README", "vague", s))
    for prior in ("vague", "neutral"):
        for i in range(n_series):
            rows.append(personal_row(short_series(seed + i), f"simulated {seed + i}", prior, i))
    for i in range(n_pools):
        rows.append(pool_row(small_pool(seed + i), f"simulated {seed + i}", i))
    return rows


def markdown(rows: list[FitRow]) -> list[str]:
    """A summary table per model, then every fit that was not clean."""
    out = [
        "| model | data | fits | clean | with divergences | worst R-hat | smallest ESS "
        "(bulk, tail) | median time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[FitRow]] = {}
    for r in rows:
        kind = "nof1ins README" if r.data == "nof1ins README" else "simulated"
        groups.setdefault((r.model, kind), []).append(r)
    for (model, kind), rs in groups.items():
        out.append(
            f"| {model} | {kind} | {len(rs)} | {sum(r.ok for r in rs)} | "
            f"{sum(r.divergences > 0 for r in rs)} | {max(r.rhat for r in rs):.3f} | "
            f"{min(r.ess_bulk for r in rs):.0f}, {min(r.ess_tail for r in rs):.0f} | "
            f"{np.median([r.seconds for r in rs]):.0f} |"
        )
    failed = [r for r in rows if not r.ok]
    out += ["", f"Fits that failed their checks: {len(failed)}."]
    if failed:
        out += [
            "",
            "| model | data | sampler seed | divergences | R-hat | ESS (bulk, tail) | "
            "the advised engine answered |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {r.model} | {r.data} | {r.seed} | {r.divergences} | {r.rhat:.3f} | "
            f"{r.ess_bulk:.0f}, {r.ess_tail:.0f} | {r.fallback} |"
            for r in failed
        ]
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2013)
    a = parser.parse_args()
    print("\n".join(markdown(robust_study(a.series, a.pools, a.seed))))

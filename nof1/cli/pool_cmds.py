"""``nof1 pool``: the hierarchical model over many patients' anonymised series."""

from __future__ import annotations

import json
from pathlib import Path

import click

from nof1.analysis.models.base import MAX_DRAWS
from nof1.cli import cli
from nof1.cli.common import (
    Count,
    Number,
    PathArg,
    exit_without_conclusion,
    force_option,
    seed_option,
)
from nof1.plan.files import check_output
from nof1.report.pooled import write_pool_report
from nof1.research.pool import ENGINES, LIKELIHOODS, PoolResult, pool_files


@cli.command()
@click.argument("files", nargs=-1, required=True, type=PathArg(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--out",
    type=PathArg(dir_okay=False, path_type=Path),
    default=None,
    help="Write a self-contained HTML report (forest plot embedded) to this file.",
)
@force_option("the --out file")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="mcmc",
    show_default=True,
    help="mcmc: PyMC NUTS (the reference); fast: normal-normal model over the exact "
    "engine's per-series posteriors (thousands of series in seconds).",
)
@click.option("--outcome", default=None, help="Outcome to pool (default: the primary one).")
@click.option("--likelihood", type=click.Choice(LIKELIHOODS), default="normal", show_default=True)
@click.option(
    "--mcid",
    type=Number(0, 1e9, low_open=True),
    default=None,
    help="Minimal clinically important difference (default: 1 point per 10 of scale).",
)
@seed_option("Random seed (MCMC and predictive draws).")
@click.option(
    "--draws",
    type=Count(100, MAX_DRAWS),
    default=1000,
    show_default=True,
    help=f"MCMC draws per chain (4 chains; 100 to {MAX_DRAWS:,}).",
)
def pool(files, as_json, out, force, engine, outcome, likelihood, mcid, seed, draws) -> None:
    """Pool anonymised series (from nof1 export --anonymise) in a hierarchical model.

    Every file is checked before anything is fitted; a bad file is named with its line.
    Exit status 3 when the MCMC fit fails its convergence checks: the numbers are printed,
    but no conclusion, with the engine that will answer instead (--engine fast).
    """
    if out is not None:  # a bad --out fails before the fit, not after it
        check_output(out, force=force, what="pooled report")
    result = pool_files(
        files,
        announce=lambda message: click.echo(message, err=True),
        engine=engine,
        outcome=outcome,
        likelihood=likelihood,
        mcid=mcid,
        seed=seed,
        draws=draws,
    )
    if out is not None:
        write_pool_report(result, out, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print(result)
        if out is not None:
            click.echo(f"Report written to {out}.")
    if result.advice is not None:
        exit_without_conclusion()


def _print(r: PoolResult) -> None:
    better = "lower" if r.outcome.lower_is_better else "higher"
    click.echo(
        f"Pooled {len(r.series)} series of {r.outcome.name} "
        f"({r.outcome.low:g}-{r.outcome.high:g}, {better} is better); engine {r.engine}, "
        f"{r.likelihood} likelihood."
    )
    for label, est in (
        ("average effect mu", r.mu),
        ("between-patient sd tau", r.tau),
        ("new patient's effect", r.new_patient),
    ):
        click.echo(
            f"  {label:24s} {est.mean:+.2f} (sd {est.sd:.2f}), "
            f"95% HDI {est.lower:+.2f} to {est.upper:+.2f}"
        )
    click.echo(f"  P(average effect is a benefit)        {r.p_mu_benefit:.3f}")
    click.echo(f"  P(new patient benefits)               {r.p_new_benefit:.3f}")
    click.echo(f"  P(new patient benefits >= MCID {r.mcid:g})   {r.p_new_mcid:.3f}")
    d = r.diagnostics
    if d.rhat_max is not None:
        click.echo(
            f"Diagnostics: max R-hat {d.rhat_max:.3f}, min ESS {d.ess_bulk_min:.0f} (bulk) "
            f"{d.ess_tail_min:.0f} (tail), {d.divergences} divergences."
        )
    if r.conclusion is None:
        click.echo("No conclusion: the fit failed its checks: " + "; ".join(d.messages))
        click.echo(r.advice)
    else:
        click.echo(r.conclusion)
    click.echo("Series (unpooled -> pooled):")
    for row in r.series.itertuples():
        click.echo(
            f"  {row.series_id}  {row.unpooled_mean:+.2f} (sd {row.unpooled_sd:.2f}) -> "
            f"{row.pooled_mean:+.2f} [{row.pooled_lower:+.2f}, {row.pooled_upper:+.2f}]"
        )

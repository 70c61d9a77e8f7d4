"""``nof1 design``: operating characteristics of candidate designs by simulation."""

from __future__ import annotations

import json
import sys

import click

from nof1.cli import cli
from nof1.design import (
    DEFAULT_MCID,
    DEFAULT_THRESHOLD,
    MAX_FALSE_POSITIVE,
    TARGET_POWER,
    evaluate_designs,
    protocol_command,
    recommend,
)
from nof1.series import SCHEMES


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    name = f"--{param.name.replace('_', '-')}"
    items = [v.strip() for v in value.split(",")]
    try:
        return tuple(int(v) for v in items)
    except ValueError:
        bad = next(v for v in items if not v.lstrip("-").isdigit())
        raise click.ClickException(
            f"{name} {value!r}: {bad!r} is not a whole number (give e.g. 2,3,4)"
        ) from None


@cli.command()
@click.option(
    "--blocks",
    default="2,3,4,6",
    show_default=True,
    callback=_int_list,
    help="Candidate numbers of blocks, comma-separated.",
)
@click.option(
    "--period-days",
    default="7,14",
    show_default=True,
    callback=_int_list,
    help="Candidate period lengths in days, comma-separated.",
)
@click.option(
    "--washout-days",
    default=0,
    show_default=True,
    type=int,
    help="Washout days at the start of each period (not analysed).",
)
@click.option(
    "--effect",
    default=-1.5,
    show_default=True,
    type=float,
    help="Assumed true effect in NRS points (negative = less pain).",
)
@click.option("--sd", default=1.5, show_default=True, type=float, help="Day-to-day SD of pain.")
@click.option(
    "--rho", default=0.5, show_default=True, type=float, help="Lag-1 autocorrelation of daily pain."
)
@click.option(
    "--tau",
    default=0.0,
    show_default=True,
    type=float,
    help="Onset/carryover time constant in days (simulated, not modelled).",
)
@click.option(
    "--mcid",
    default=DEFAULT_MCID,
    show_default=True,
    type=float,
    help="Minimal clinically important difference (NRS points).",
)
@click.option(
    "--threshold",
    default=DEFAULT_THRESHOLD,
    show_default=True,
    type=float,
    help="Benefit is concluded when P(benefit >= MCID) exceeds this.",
)
@click.option(
    "--sims",
    default=2000,
    show_default=True,
    type=int,
    help="Simulated trials per design and scenario.",
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    default="block",
    show_default=True,
    help="Randomization scheme.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Simulation seed.")
@click.option(
    "--template",
    default="generic-ab",
    show_default=True,
    help="Template named in the recommended 'nof1 protocol new' command.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def design(
    blocks,
    period_days,
    washout_days,
    effect,
    sd,
    rho,
    tau,
    mcid,
    threshold,
    sims,
    scheme,
    seed,
    template,
    as_json,
):
    """Operating characteristics of candidate designs, by simulation.

    For every combination of blocks and period length: power (share of simulated trials
    that conclude P(benefit >= MCID) > threshold under the assumed effect), false-positive
    rate (the same under no effect), mean estimate and 95% interval width under the assumed
    effect (with --tau, how much carryover shrinks it), and the smallest p-value the
    randomization test can reach (1/2^blocks under the block scheme). Recommends the shortest design with power
    >= 0.8 and false positives <= 0.05.
    """
    n = len(blocks) * len(period_days)
    with click.progressbar(length=n, label="Simulating designs", file=sys.stderr) as bar:
        results = evaluate_designs(
            blocks,
            period_days,
            washout_days,
            effect=effect,
            sd=sd,
            rho=rho,
            tau=tau,
            mcid=mcid,
            threshold=threshold,
            sims=sims,
            scheme=scheme,
            seed=seed,
            progress=bar.update,
        )
    best = recommend(results)
    command = protocol_command(best, template) if best else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "assumptions": {
                        "effect": effect,
                        "sd": sd,
                        "rho": rho,
                        "tau": tau,
                        "mcid": mcid,
                        "threshold": threshold,
                        "sims": sims,
                        "scheme": scheme,
                        "seed": seed,
                    },
                    "designs": [r.to_dict() for r in results],
                    "recommended": best.to_dict() if best else None,
                    "command": command,
                },
                indent=2,
            )
        )
        return
    click.echo(
        f"Assumed effect {effect:g} (sd {sd:g}, rho {rho:g}, tau {tau:g} days); "
        f"benefit concluded when P(benefit >= {mcid:g}) > {threshold:g}; {sims} sims each."
    )
    header = (
        f"{'blocks':>6} {'period':>6} {'washout':>7} {'days':>5} {'power':>6} "
        f"{'false+':>6} {'estimate':>8} {'95% width':>9} {'min p':>7}"
    )
    click.echo(header)
    for r in results:
        click.echo(
            f"{r.blocks:>6} {r.period_days:>6} {r.washout_days:>7} {r.trial_days:>5} "
            f"{r.power:>6.3f} {r.false_positive:>6.3f} {r.mean_estimate:>8.2f} "
            f"{r.interval_width:>9.2f} "
            f"{r.min_p:>7.4f}"
        )
    if best is None:
        click.echo(
            f"No design reaches power {TARGET_POWER:g} with false positives <= "
            f"{MAX_FALSE_POSITIVE:g}; try more blocks or longer periods."
        )
    else:
        click.echo(
            f"Recommended: {best.blocks} blocks of {best.period_days}-day periods "
            f"({best.trial_days} days). The randomization test cannot go below "
            f"p = {best.min_p:.4g}. To create it:"
        )
        click.echo(f"  {command}")

"""``nof1 report``: the clinician's report, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from nof1.cli import cli
from nof1.cli.common import trial_option


@cli.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (readable by you only).",
)
@trial_option()
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Report on a CSV file instead of a trial folder (one row per day).",
)
@click.option("--outcome", default=None, help="CSV column with the daily scores.")
@click.option("--treatment", default=None, help="CSV column with the arm of each day (two values).")
@click.option("--active", default=None, help="The value of --treatment that is the active arm (A).")
@click.option("--time", "time_col", default=None, help="CSV column of day numbers or dates.")
@click.option("--block", "block_col", default=None, help="CSV column of blocks.")
@click.option(
    "--higher-is-better", is_flag=True, help="CSV outcome where higher is better (default: lower)."
)
@click.option("--low", type=float, default=None, help="Lower bound of the CSV outcome's scale.")
@click.option("--high", type=float, default=None, help="Upper bound of the CSV outcome's scale.")
@click.option(
    "--engine",
    type=click.Choice(["exact", "mcmc"]),
    default=None,
    help="exact (instant) or mcmc (PyMC NUTS); default: as pre-registered, else exact.",
)
@click.option(
    "--likelihood",
    type=click.Choice(["normal", "student", "ordinal"]),
    default=None,
    help="student and ordinal need --engine mcmc (default: normal).",
)
@click.option(
    "--prior",
    type=click.Choice(["vague", "neutral", "sceptical"]),
    default=None,
    help="Prior of the headline result (default: as pre-registered, else neutral); the report shows all three.",
)
@click.option(
    "--mcid",
    type=float,
    default=None,
    help="Minimal clinically important difference (default: as pre-registered, else 1).",
)
@click.option("--seed", type=int, default=None, help="Random seed of the posterior draws.")
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=None,
    help="Posterior draws per chain (mcmc; default 1000).",
)
def report(out, trial, csv_path, outcome, treatment, active, time_col, block_col, higher_is_better, low, high, engine, likelihood, prior, mcid, seed, draws) -> None:  # fmt: skip
    """Write the clinician's report: effect, certainty, blinding, checks, on one page.

    \b
    After unblinding:   nof1 report --trial mytrial --out report.html
    From any CSV:       nof1 report --csv diary.csv --outcome pain --treatment arm --out report.html
    """
    from nof1.report import csv_report, trial_report, write_report

    if not out.parent.is_dir():
        raise click.ClickException(f"cannot write {out}: folder {out.parent} does not exist")
    options = dict(engine=engine, likelihood=likelihood, prior=prior, mcid=mcid, seed=seed, draws=draws)  # fmt: skip
    if csv_path is None:
        csv_only = {"--outcome": outcome, "--treatment": treatment, "--active": active, "--time": time_col, "--block": block_col, "--low": low, "--high": high}  # fmt: skip
        given = [name for name, v in csv_only.items() if v is not None] + (
            ["--higher-is-better"] if higher_is_better else []
        )
        if given:
            raise click.ClickException(f"{given[0]} applies only with --csv FILE")
        html = trial_report(trial, **options)
    else:
        for name, value in (("--outcome", outcome), ("--treatment", treatment)):
            if value is None:
                raise click.ClickException(f"--csv needs {name} COLUMN")
        html = csv_report(
            csv_path,
            outcome,
            treatment,
            active=active,
            time=time_col,
            block=block_col,
            lower_is_better=not higher_is_better,
            low=low,
            high=high,
            **options,
        )
    click.echo(f"Report written to {write_report(out, html)}")

"""``nof1 report``: the clinician's report or the patient's page, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from nof1.analysis.models.base import MAX_DRAWS
from nof1.cli import cli
from nof1.cli.common import (
    Count,
    Number,
    PathArg,
    csv_options,
    csv_source,
    force_option,
    seed_option,
    trial_option,
)


@cli.command()
@click.option(
    "--out",
    type=PathArg(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (readable by you only; never a trial's own file).",
)
@force_option("the --out file")
@click.option(
    "--for",
    "audience",
    type=click.Choice(["clinician", "patient"]),
    default="clinician",
    show_default=True,
    help="clinician: the full report; patient: one A4 page in plain words (after "
    "unblinding, from --trial only).",
)
@trial_option()
@csv_options
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
    type=Number(0, 1e9, low_open=True),
    default=None,
    help="Minimal clinically important difference (default: as pre-registered, else 1).",
)
@seed_option("Random seed of the posterior draws.")
@click.option(
    "--draws",
    type=Count(1, MAX_DRAWS),
    default=None,
    help=f"Posterior draws per chain (mcmc; default 1000, at most {MAX_DRAWS:,}).",
)
def report(out, force, audience, trial, csv_path, outcome, treatment, active, time_col, date_format, block_col, higher_is_better, low, high, engine, likelihood, prior, mcid, seed, draws) -> None:  # fmt: skip
    """Write the clinician's report, or the patient's page (--for patient).

    The file is self-contained (figures embedded, nothing fetched), so it opens offline and
    can be mailed. It gives the effect and how certain it is, the pre-registered verdict,
    whether blinding held and the model's checks; from a trial, also the protocol and
    whether the trial's files still match their commitments. Printed from a browser on A4
    it takes four pages or fewer (a long list of deviations or late entries adds more).

    The patient's page (--for patient) says on one A4 page, in plain words, what was
    compared, what was found and how sure that is, the side effects, whether the kits
    could be told apart, what the pre-registered rule says and what to discuss next. It
    names the treatments, so it is written after unblinding only; a trial whose files do
    not match their commitments is refused (the clinician's report shows what changed).

    \b
    After unblinding:
      nof1 report --trial mytrial --out report.html
      nof1 report --trial mytrial --for patient --out summary.html
    From any CSV (one row per day):
      nof1 report --csv diary.csv --outcome pain --treatment arm \\
        --active magnesium --out report.html
    """
    from nof1.errors import DataError
    from nof1.plan.files import check_output
    from nof1.report import csv_report, patient_page, trial_report, write_report

    patient = audience == "patient"
    what = "patient's page" if patient else "report"
    check_output(out, force=force, what=what)  # before the analysis, not after it
    options = dict(engine=engine, likelihood=likelihood, prior=prior, mcid=mcid, seed=seed, draws=draws, announce=lambda message: click.echo(message, err=True))  # fmt: skip
    source = csv_source(csv_path, outcome, treatment, active, time_col, date_format, block_col, higher_is_better, low, high, outcome_with_trial=False)  # fmt: skip
    if patient and source is not None:
        raise DataError(
            f"--for patient needs a trial folder (--trial), not a CSV file ({csv_path}): the "
            "page names the treatments and the rule registered before the trial"
        )
    if patient:
        html = patient_page(trial, **options)
    else:
        html = trial_report(trial, **options) if source is None else csv_report(**source, **options)
    label = "Patient's page" if patient else "Report"
    click.echo(f"{label} written to {write_report(out, html, force=force)}")

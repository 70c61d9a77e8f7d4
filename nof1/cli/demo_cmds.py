"""``nof1 demo``: the whole flow on a simulated patient, ending in a report and the
patient's page."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from nof1.cli import cli
from nof1.cli.common import PathArg, seed_option


@cli.command()
@click.option(
    "--out",
    type=PathArg(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the demo trial, its diary and the report (must be empty or new; "
    "default: a new folder in the system's temporary folder, never the current one).",
)
@seed_option(
    "Seed of the allocation and the patient (default: 1; with --sequential 4, a patient "
    "whose trial stops at its second look)."
)
@click.option(
    "--engine",
    type=click.Choice(["exact", "mcmc"]),
    default="exact",
    show_default=True,
    help="exact (seconds) or mcmc (PyMC NUTS, a few minutes).",
)
@click.option("--force", is_flag=True, help="Replace an earlier demo in --out.")
@click.option(
    "--sequential",
    is_flag=True,
    help="A sequential trial instead: the template's design with its pre-registered interim "
    "looks, taken block by block until one says STOP.",
)
def demo(out: Path, seed: int, engine: str, force: bool, sequential: bool) -> None:
    """Run a simulated magnesium-for-CRPS trial: protocol, report and patient's page.

    A shorter design than the template's (3 blocks of 14-day periods, 3 washout days, a
    7-day run-in) and a patient whose pain is about 1.5 points lower on magnesium.

    With --sequential: the template's own design (at most 4 blocks of 28-day periods) with
    interim looks after blocks 2, 3 and 4; the trial stops at the first look that says
    STOP, is unblinded and reported.
    """
    from nof1.cli.demo import SEQUENTIAL_DEMO_SEED, run_demo, run_sequential_demo

    # Not the current folder: run from a clone of nof1, the demo would land in the clone.
    out = out or Path(tempfile.mkdtemp(prefix="nof1-demo-"))
    run = run_sequential_demo if sequential else run_demo
    if seed is None:
        seed = SEQUENTIAL_DEMO_SEED if sequential else 1
    result = run(out, seed=seed, engine=engine, force=force, step=click.echo)
    click.echo(f"\nOpen the report: {result.report}")
    click.echo(f"The patient's page: {result.patient_page}")

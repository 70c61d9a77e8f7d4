"""``nof1 interim``: the pre-registered interim look of a sequential trial.

It prints only the decision and one next step that depends only on the decision: no
probability, no effect, no arm, no kit.
"""

from __future__ import annotations

import shlex
from datetime import date
from pathlib import Path

import click

from nof1.cli import cli
from nof1.cli.common import passphrase_option, read_passphrase, trial_option
from nof1.interim import due_look, interim_look
from nof1.plan.stopping import CONTINUE


@cli.command()
@trial_option()
@passphrase_option()
def interim(trial: Path, passphrase_file: Path | None) -> None:
    """Take the interim look due today (sequential trials): CONTINUE or STOP.

    Run by the helper or the clinician, never by the patient alone: it opens the sealed
    allocation with the helper's passphrase. The allocation stays in memory, the trial
    stays blinded. The pre-registered analysis is fitted to the blocks completed so far
    and the look's boundaries decide: CONTINUE, STOP: efficacy or STOP: futility. Only
    that decision is printed and recorded in the diary; nothing about the size of the
    effect or which kit held what.

    A look is due from the day after its block ends until the next block is complete;
    other days are refused. A look with too few scores in some kit is refused (and the
    refusal recorded). A repeated look at the same point gives the same decision and is
    recorded again. Each look prints a code for the clinician. After a STOP, nof1
    unblind may run before the planned end.
    """
    today = date.today()
    # Everything that can be refused is refused before the helper types the passphrase.
    point = due_look(trial, today)
    passphrase = read_passphrase(passphrase_file) if point.protocol.blinded else ""
    result = interim_look(trial, passphrase, today)
    click.echo(
        f"Look {point.look} of {point.of} (after block {point.after_block}): {result.decision}"
    )
    click.echo(f"Look code: {result.record.code} (give it to the clinician with the decision)")
    if result.decision == CONTINUE:
        click.echo(
            f"Go on with the next kit as planned. The next look is after block "
            f"{point.next_block} (on or after {point.next_on})."
        )
        return
    command = f"nof1 unblind --trial {shlex.quote(str(trial))}"
    if passphrase_file is not None:
        command += f" --passphrase-file {shlex.quote(str(passphrase_file))}"
    click.echo(f"The trial can end now: unblind with `{command}`, then analyse.")

"""``nof1 protocol new``, ``protocol show``, ``protocol upgrade`` and ``nof1 kits``."""

from __future__ import annotations

import json
import textwrap
from datetime import date

import click

from nof1.blinding import PASSPHRASE_RULE
from nof1.cli import cli
from nof1.cli.common import passphrase_option, read_passphrase, seed_option, trial_option
from nof1.entries import parse_date
from nof1.protocol import Protocol, calendar, load_protocol, look_dates
from nof1.series import SCHEMES
from nof1.stopping import rule_to_toml
from nof1.trial import check_start, create_trial, packing_sheet, upgrade_protocol

_GIVE_FINGERPRINT = (
    "Give it to the clinician BEFORE THE FIRST DOSE (write it down, or send it). It seals "
    "the whole plan: schedule, kits, outcomes, analysis and the sealed allocation. The "
    "final report prints it again: if the two differ, the trial was changed or forged."
)


def _echo_safety(notes: tuple[str, ...], heading: str) -> None:
    """The template's safety notes under ``heading``, after a blank line (none: nothing)."""
    if notes:
        click.echo("")
        click.echo(heading)
        for note in notes:
            click.echo(f"  - {note}")


def _echo_fingerprint(fingerprint: str, text: str = _GIVE_FINGERPRINT) -> None:
    """The fingerprint, and what the patient must do with it."""
    click.echo("")
    click.echo(f"Fingerprint: {fingerprint}")
    click.echo(textwrap.fill(text, width=88, initial_indent="  ", subsequent_indent="  "))


#: Who runs the looks of a sequential trial, and what they see.
_WHO_LOOKS = (
    "The helper or the clinician runs each look on its day, never the patient alone: "
    "`nof1 interim --trial {trial} --passphrase-file F` (it needs the helper's passphrase, "
    "and says only CONTINUE, STOP: efficacy or STOP: futility)."
)


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=88, initial_indent=indent, subsequent_indent=indent)


def _looks(p: Protocol) -> list[dict]:
    """The pre-registered looks with the day each is due (empty for a fixed-length trial)."""
    if p.sequential is None:
        return []
    return [
        {"look": i + 1, "after_block": block, "due": due.isoformat()}
        for i, (block, due) in enumerate(zip(p.sequential.looks, look_dates(p), strict=True))
    ]


def _echo_looks(p: Protocol, trial) -> None:
    """A sequential protocol's rule in words, its looks with their days, and who runs them."""
    rule = p.sequential
    click.echo("")
    click.echo(
        f"Interim looks (sequential: at most {rule.max_blocks} blocks, {rule.shape} boundaries)"
    )
    click.echo(_wrap(rule.describe(p.analysis.mcid)))
    for look in _looks(p):
        last = " (the last look)" if look["after_block"] == rule.max_blocks else ""
        click.echo(f"  {look['due']}  look {look['look']}, after block {look['after_block']}{last}")
    click.echo(_wrap(_WHO_LOOKS.format(trial=trial)))


@cli.group()
def protocol() -> None:
    """Create and show the trial protocol."""


@protocol.command("new")
@click.option(
    "--template",
    required=True,
    help="Template file or built-in name (magnesium-crps, generic-ab, magnesium-open).",
)
@trial_option()
@seed_option("Random seed (sealed, never public): makes the allocation reproducible.")
@click.option(
    "--blocks", type=int, default=None, help="Number of blocks (each: one A and one B period)."
)
@click.option("--period-days", type=int, default=None, help="Length of each period in days.")
@click.option(
    "--washout-days",
    type=int,
    default=None,
    help="Days at the start of each period left out of the primary analysis.",
)
@click.option(
    "--run-in-days", type=int, default=None, help="Baseline days before the first period."
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    default=None,
    help="Randomization scheme (default: the template's, usually block).",
)
@click.option(
    "--start",
    default=None,
    help="First day of the trial, YYYY-MM-DD (default: today; at most 3 days ago).",
)
@passphrase_option()
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing protocol in the folder (never an existing diary).",
)
def protocol_new(
    template,
    trial,
    seed,
    blocks,
    period_days,
    washout_days,
    run_in_days,
    scheme,
    start,
    passphrase_file,
    force,
):
    """Randomize a new blinded protocol from a template.

    Writes protocol.toml (public) and allocation.sealed (the allocation, encrypted with the
    helper's passphrase). Give the passphrase to nobody but the helper who packs the kits.
    """
    today = date.today()
    start_date = parse_date(start, today, what="start date") if start else today
    check_start(start_date, today)
    from nof1.protocol import read_template

    blinded = read_template(template).get("trial", {}).get("blinded", True)
    if blinded and passphrase_file is None:
        click.echo(
            f"The helper now chooses a passphrase of {PASSPHRASE_RULE}, and types it twice; "
            "only the helper should know it.",
            err=True,
        )
    passphrase = read_passphrase(passphrase_file, confirm=True) if blinded else None
    p = create_trial(
        trial,
        template,
        passphrase=passphrase,
        start=start_date,
        seed=seed,
        blocks=blocks,
        period_days=period_days,
        washout_days=washout_days,
        run_in_days=run_in_days,
        scheme=scheme,
        force=force,
    )
    click.echo(f"Created {p.title}")
    click.echo(
        f"  {p.blocks} blocks x 2 periods of {p.period_days} days, {p.washout_days} washout days each, "
        f"run-in {p.run_in_days} days: {p.start} to {p.end} ({p.n_days} days)"
    )
    click.echo(f"  {trial / 'protocol.toml'} (public plan)")
    if p.blinded:
        click.echo(
            f"  {trial / 'allocation.sealed'} (sealed allocation: only the helper's passphrase opens it)"
        )
        click.echo(f"Next: the helper runs `nof1 kits --trial {trial}` and packs the kits.")
    click.echo(
        f"Then record every day: `nof1 record --trial {trial} --pain N`. See `nof1 protocol show --trial {trial}`."
    )
    click.echo(f"Reminders in your calendar app: `nof1 calendar --trial {trial} --out trial.ics`.")
    _echo_safety(p.safety, "Safety (read these with your clinician before you start):")
    _echo_fingerprint(p.fingerprint)


@protocol.command("upgrade")
@trial_option()
def protocol_upgrade(trial):
    """Give a protocol made by an older nof1 its commitment and fingerprint.

    The commitment then protects the protocol from now on; it cannot prove what the file
    said before, and the report says when the upgrade was made.
    """
    p = upgrade_protocol(trial)
    click.echo(
        f"Upgraded {trial / 'protocol.toml'}: it now carries a commitment over the whole plan."
    )
    _echo_fingerprint(
        p.fingerprint,
        "Give it to the clinician now. It protects the plan from today on only: it cannot "
        "prove what the protocol said before, and the report says when it was added.",
    )


@protocol.command("show")
@trial_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def protocol_show(trial, as_json):
    """The public protocol and its calendar (never the allocation of a blinded trial)."""
    p = load_protocol(trial)
    rows = calendar(p)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "title": p.title,
                    "blinded": p.blinded,
                    "scheme": p.scheme,
                    "blocks": p.blocks,
                    "period_days": p.period_days,
                    "washout_days": p.washout_days,
                    "run_in_days": p.run_in_days,
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "commitment": p.commitment,
                    "registration": p.registration,
                    "fingerprint": p.fingerprint,
                    "calendar": [
                        {
                            "label": r.label,
                            "start": r.start.isoformat(),
                            "end": r.end.isoformat(),
                            "kit": r.kit,
                            "washout_until": r.washout_until.isoformat()
                            if r.washout_until
                            else None,
                            **({"arm": r.arm} if r.arm else {}),
                        }
                        for r in rows
                    ],
                    "sequential": None
                    if p.sequential is None
                    else {
                        **rule_to_toml(p.sequential),
                        "rule": p.sequential.describe(p.analysis.mcid),
                        "looks_due": _looks(p),
                    },
                },
                indent=2,
            )
        )
        return
    click.echo(p.title)
    click.echo("=" * len(p.title))
    for arm, t in p.treatments.items():
        click.echo(f"  {arm}: {t.name}: {t.description}")
    blinding = (
        "blinded: the kits look identical; which kit holds which is sealed"
        if p.blinded
        else "OPEN LABEL: no placebo, so expectation cannot be separated from the effect"
    )
    click.echo(f"  {blinding}")
    blocks = f"at most {p.blocks} blocks (sequential)" if p.sequential else f"{p.blocks} blocks"
    click.echo(
        f"  Design: {p.scheme} randomization, {blocks}, periods of {p.period_days} days "
        f"(first {p.washout_days} washout), run-in {p.run_in_days} days"
    )
    a = p.analysis
    click.echo(
        f"  Pre-registered analysis: primary outcome {p.primary.name}, prior {a.prior}, MCID {a.mcid:g}, "
        f"benefit if P(benefit >= MCID) > {a.threshold:g}"
    )
    click.echo(f"  Allocation commitment: {p.commitment}")
    click.echo(
        f"  Fingerprint: {p.fingerprint or 'none (an older protocol: run `nof1 protocol upgrade`)'}"
    )
    click.echo("")
    click.echo("Calendar")
    for r in rows:
        kit = (
            f"take {r.kit}"
            if r.kit and not r.arm
            else (f"{r.kit}: arm {r.arm}" if r.arm else "no kit")
        )
        wash = f" (washout until {r.washout_until})" if r.washout_until else ""
        click.echo(f"  {r.start} to {r.end}  {r.label:<28} {kit}{wash}")
    if p.sequential is not None:
        _echo_looks(p, trial)
    _echo_safety(p.safety, "Safety")


@cli.command()
@trial_option()
@passphrase_option()
def kits(trial, passphrase_file):
    """The helper's packing sheet: which kit gets which treatment. Keep it from the patient."""
    p, lines = packing_sheet(trial, read_passphrase(passphrase_file))
    click.echo(f"KIT PACKING SHEET (confidential: for the helper only) - {p.title}")
    click.echo(
        "Label each container with its kit name only. Do not tell the patient what is inside."
    )
    click.echo("")
    click.echo(f"{'Kit':<8} {'Period':<7} {'From':<11} {'To':<11} {'Contents':<30} Doses")
    for k in lines:
        click.echo(
            f"{k.kit:<8} {k.period:<7} {k.start!s:<11} {k.end!s:<11} {k.treatment:<30} {k.doses} {k.dose_unit}s"
        )
    click.echo("")
    for arm, t in p.treatments.items():
        click.echo(f"{t.name} ({arm}): {t.description}")
    if p.fingerprint:
        _echo_fingerprint(p.fingerprint)

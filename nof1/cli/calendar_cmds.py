"""``nof1 calendar``: the trial's reminders as an iCalendar file for any calendar app."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from nof1.cli import cli
from nof1.cli.common import PathArg, force_option, trial_option
from nof1.plan.calendar import first_days_left_out
from nof1.plan.files import write_output
from nof1.plan.protocol import load_protocol
from nof1.plan.reminders import (
    REMINDER_TIME,
    local_time_zone,
    parse_reminder_time,
    parse_time_zone,
    trial_calendar,
)


@cli.command()
@trial_option()
@click.option(
    "--out",
    type=PathArg(dir_okay=False, path_type=Path),
    required=True,
    help="The .ics file to write (import it into your calendar app).",
)
@force_option("the --out file")
@click.option(
    "--time",
    "at",
    default=f"{REMINDER_TIME:%H:%M}",
    show_default=True,
    help="Time of the daily diary reminder, HH:MM.",
)
@click.option(
    "--tz",
    default=None,
    help="Your time zone, e.g. Europe/Berlin (default: this computer's; if unknown, the "
    "reminder follows the phone's own time zone).",
)
def calendar(trial, out, force, at, tz) -> None:
    """Write the trial's calendar: daily diary reminders, kit switches, looks, unblinding.

    A daily reminder at --time; each kit switch, interim look and the unblinding day, with an
    alarm at that time on the evening before; and the first days of each kit (not analysed).
    It names kits only (never what they hold) and no folder of this computer, so it is safe
    to sync to a phone. Import the file once into your calendar app (Google Calendar, Apple
    Calendar, Outlook, Thunderbird).
    """
    reminder = parse_reminder_time(at)
    zone = parse_time_zone(tz) if tz else local_time_zone()
    protocol = load_protocol(trial)
    ics = trial_calendar(protocol, reminder=reminder, tz=zone)
    write_output(out, ics, force=force, what="calendar")
    zone_text = zone.key if zone else "the device's own time zone"
    n_looks = len(protocol.sequential.looks) if protocol.sequential else 0
    looks = f", {n_looks} interim look{'s' if n_looks != 1 else ''}" if n_looks else ""
    first_days = (
        "; the first days of each kit (not analysed)" if first_days_left_out(protocol) else ""
    )
    click.echo(
        f"Wrote {out}: a daily diary reminder at {reminder:%H:%M} ({zone_text}) from "
        f"{protocol.start} to {protocol.end}; {len(protocol.periods)} kit switches{looks} and "
        f"the unblinding day ({protocol.end + timedelta(days=1)}), each with an alarm the "
        f"evening before{first_days}. Import it into your calendar app."
    )

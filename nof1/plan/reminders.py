"""Reminders where patients already look: the trial's calendar as an iCalendar file.

``trial_calendar`` turns a protocol into events that any calendar app imports (RFC 5545,
written with the ``icalendar`` library): a daily reminder to record the diary, the start of
the run-in, each kit switch (the kit's label only), the first days of each kit that are not
analysed, each interim look, and the day the helper may unblind. Nothing in it says which
kit holds which treatment, nor names the treatments, nor names a folder of this computer:
the file may be synced to a phone or shared with a family calendar.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nof1.errors import ProtocolError
from nof1.plan.calendar import first_days_left_out, look_dates
from nof1.plan.protocol import Protocol

#: The daily reminder's default time (evening: pain "in the last 24 hours" is rated then).
REMINDER_TIME = time(20, 0)
#: How long the daily reminder's event lasts in the calendar.
REMINDER_MINUTES = 10


def parse_reminder_time(text: str) -> time:
    """Parse ``HH:MM`` (24-hour clock).

    Raises
    ------
    ProtocolError : not a time of day.

    Examples
    --------
    >>> parse_reminder_time("07:30")
    datetime.time(7, 30)
    """
    try:
        # Digits 0-9 only: int() also reads "0_7" and digits of other scripts.
        if not re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", text.strip()):
            raise ValueError(text)
        hour, minute = (int(x) for x in text.strip().split(":"))
        return time(hour, minute)
    except ValueError:
        raise ProtocolError(f"reminder time {text!r} is not a time of day; use HH:MM") from None


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA time zone called ``name`` (``Europe/Berlin``).

    Raises
    ------
    ProtocolError : no such time zone.
    """
    try:
        return ZoneInfo(name)
    # OSError: a name that is a folder of the zone database (Europe) or too long a file name.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ProtocolError(
            f"time zone {name!r} is unknown; give an IANA name such as Europe/Berlin"
        ) from None


def local_time_zone() -> ZoneInfo | None:
    """This computer's IANA time zone (``TZ``, else ``/etc/localtime``), None if unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        target = str(Path("/etc/localtime").resolve())
        name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # TZ=Europe, say: as unknown
        return None


def trial_calendar(
    protocol: Protocol,
    *,
    reminder: time = REMINDER_TIME,
    tz: ZoneInfo | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """The trial's reminders and milestones as an iCalendar (``.ics``) document.

    Parameters
    ----------
    protocol : the trial (blinded or not: only kit labels and dates are used).
    reminder : time of day of the daily diary reminder.
    tz : the patient's time zone; the reminder is at ``reminder`` there. None writes a
        "floating" time: the reminder follows the device's own time zone (RFC 5545 3.3.5).
    stamp : DTSTAMP of every event (default: now).

    Returns
    -------
    bytes : the ``.ics`` file. Events:

    - a daily reminder from the first to the last day (one recurring event with an alarm);
    - all-day milestones: the run-in, each kit switch ("Start Kit 3"), the first days of
      each kit when the analysis leaves them out (spanning those days), each look of a
      sequential trial (for the helper or clinician), and the first day after the trial
      (unblinding). Every kit switch, look and the unblinding day has an alarm at the
      daily reminder's time on the evening before, so the next kit is ready in the
      morning.

    No text names a treatment, an arm or a folder of this computer: the file goes to a
    phone, whose calendar may sync to other people's.

    Event UIDs derive from the protocol's commitment, so importing a newer file for the
    same trial updates its events instead of duplicating them.
    """
    from icalendar import Alarm, Calendar, Event

    stamp = stamp or datetime.now(UTC)
    uid_base = hashlib.sha256(protocol.commitment.encode()).hexdigest()[:16]
    cal = Calendar()
    cal.add("prodid", "-//nof1//trial calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "nof1 trial")

    def event(key: str, summary: str, description: str) -> Event:
        e = Event()
        e.add("uid", f"{uid_base}-{key}@nof1")
        e.add("dtstamp", stamp)
        e.add("summary", summary)
        e.add("description", description)
        e.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
        return e

    def alarm(text: str, trigger: timedelta) -> Alarm:
        a = Alarm()
        a.add("action", "DISPLAY")
        a.add("description", text)
        a.add("trigger", trigger)
        return a

    # An all-day event starts at midnight: its alarm is at the reminder's time the day before.
    evening_before = -(timedelta(days=1) - timedelta(hours=reminder.hour, minutes=reminder.minute))

    def all_day(
        key: str, first: date, last: date, summary: str, description: str, warn: str = ""
    ) -> None:
        e = event(key, summary, description)
        e.add("dtstart", first)
        e.add("dtend", last + timedelta(days=1))  # DTEND of an all-day event is exclusive
        if warn:
            e.add_component(alarm(warn, evening_before))
        cal.add_component(e)

    start = datetime.combine(protocol.start, reminder, tzinfo=tz)
    daily = event(
        "daily",
        "Diary: record today's scores",
        # No --trial FOLDER: a path names this computer's user and folders on the phone.
        "Record today's scores and the other questions: nof1 record, in the trial's folder.",
    )
    daily.add("dtstart", start)
    daily.add("dtend", start + timedelta(minutes=REMINDER_MINUTES))
    until = datetime.combine(protocol.end, reminder, tzinfo=tz)
    daily.add("rrule", {"freq": "daily", "until": until.astimezone(UTC) if tz else until})
    daily.add_component(alarm("Diary: record today's scores", timedelta(0)))
    cal.add_component(daily)

    if protocol.run_in_days:
        last = protocol.periods[0].start - timedelta(days=1)
        all_day(
            "run-in",
            protocol.start,
            last,
            "Run-in (baseline): no kit yet",
            f"Record every day; no kit until {protocol.periods[0].start}.",
        )
    for p in protocol.periods:
        all_day(
            f"kit-{p.index}",
            p.start,
            p.start,
            f"Start {p.kit}",
            f"From today take {p.kit} as packed, until {p.end} (period {p.index} of "
            f"{len(protocol.periods)}).",
            warn=f"Tomorrow: start {p.kit}",
        )
        if first_days_left_out(protocol):
            # The key keeps its old name: a newer file updates the events of an older one.
            all_day(
                f"washout-{p.index}",
                p.start,
                p.analysis_start - timedelta(days=1),
                f"First days of {p.kit} (not analysed)",  # FIRST_DAYS, with the kit's label
                f"Take {p.kit} and record as usual. Its first {p.washout_days} days are not "
                "analysed: its effect may still be building up"
                + (", and the previous kit's fading." if p.index > 1 else "."),
            )
    if protocol.sequential is not None:
        rule = protocol.sequential
        for i, (block, day) in enumerate(zip(rule.looks, look_dates(protocol), strict=True)):
            last = block == rule.max_blocks
            all_day(
                f"look-{i + 1}",
                day,
                day,
                f"{'Last' if last else 'Interim'} look {i + 1} (after block {block}): helper "
                "or clinician",
                "The helper or the clinician runs nof1 interim with the passphrase today. "
                + (
                    "It closes the trial's looks; then unblind, analyze and report."
                    if last
                    else "It says CONTINUE (go on with the next kit) or STOP (the trial "
                    "ends: unblind, analyze and report; the later events here no longer "
                    "apply)."
                ),
                warn=f"Tomorrow: {'last' if last else 'interim'} look {i + 1}, by the helper "
                "or clinician",
            )
    after = protocol.end + timedelta(days=1)
    all_day(
        "unblind",
        after,
        after,
        "Trial over: unblinding day",
        "The helper unblinds with the passphrase (nof1 unblind); then nof1 analyze and "
        "nof1 report.",
        warn="Tomorrow: the trial is over; the helper unblinds",
    )
    if tz is not None:
        cal.add_missing_timezones()
    return cal.to_ical()

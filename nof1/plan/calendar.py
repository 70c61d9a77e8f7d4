"""The calendar of a protocol: the days a patient follows and the days the looks are due.

Everything here is read off a ``Protocol``'s dated periods; nothing is stored. The
iCalendar file made from the same dates is ``nof1.plan.reminders``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from nof1.plan.protocol import Protocol

#: The protocol's washout days as the patient is told of them. They are the first days of
#: each period, on the new kit: nothing is stopped and the kit is taken as usual; only their
#: scores are left out of the primary analysis, while one kit's effect fades and the next
#: one's builds up. "Washout" would say the opposite to a patient, so the messages and the
#: calendar say this instead (the data keep the protocol's name, ``washout``).
FIRST_DAYS = "first days of the kit (not analysed)"


def first_days_left_out(p: Protocol) -> bool:
    """True when the first days of each period are left out of the pre-registered analysis.

    False when the protocol has no washout days, or its analysis includes them
    (``exclude_washout = false``): those days are then ordinary days, and nothing marks them.
    """
    return p.washout_days > 0 and p.analysis.exclude_washout


@dataclass(frozen=True)
class CalendarRow:
    """One line of the public calendar."""

    label: str
    start: date
    end: date
    kit: str = ""
    washout_until: date | None = None
    arm: str = ""


def block_end(p: Protocol, block: int) -> date:
    """The last day of a block: the last day of its second period."""
    return max(q.end for q in p.periods if q.block == block)


def look_dates(p: Protocol) -> tuple[date, ...]:
    """The day each pre-registered look is due (the day after its block ends), one per look.

    Empty for a fixed-length trial. The last look's day is the day after the trial ends.
    """
    if p.sequential is None:
        return ()
    return tuple(block_end(p, k) + timedelta(days=1) for k in p.sequential.looks)


def calendar(p: Protocol) -> list[CalendarRow]:
    """The calendar a patient follows: run-in, then each period with its kit (no arm if blinded)."""
    rows = []
    if p.run_in_days:
        rows.append(
            CalendarRow(
                "Run-in (baseline, no kit)", p.start, p.start + timedelta(days=p.run_in_days - 1)
            )
        )
    for q in p.periods:
        rows.append(
            CalendarRow(
                f"Block {q.block}, period {q.index}",
                q.start,
                q.end,
                q.kit,
                q.analysis_start - timedelta(days=1) if q.washout_days else None,
                p.open_allocation[q.index - 1] if p.open_allocation else "",
            )
        )
    return rows

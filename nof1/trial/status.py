"""Where a trial stands today: period, kit, washout, days recorded and missing. Never the arm.

For a sequential trial also its interim looks: when the next is due, and the decisions of
those taken (only the decisions: ``nof1.interim``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from nof1.diary.entries import RECALL_DAYS
from nof1.diary.records import Look, first_stop
from nof1.errors import DiaryError
from nof1.plan.calendar import block_end
from nof1.plan.checks import check_day
from nof1.plan.protocol import Protocol
from nof1.trial.handle import Trial, as_trial
from nof1.trial.integrity import refuse_other_protocol

#: Days shown in the progress line of ``Status.recent``.
RECENT_DAYS = 28


def blocks_complete(protocol: Protocol, today: date) -> int:
    """How many blocks are complete on ``today``: a block is once its last day is over.

    Example
    -------
    >>> blocks_complete(protocol, block_end(protocol, 2) + timedelta(days=1))  # doctest: +SKIP
    2
    """
    return sum(block_end(protocol, k) < today for k in range(1, protocol.blocks + 1))


def look_opens(protocol: Protocol, after_block: int) -> date:
    """The first day the look after block ``after_block`` may be taken (the day after it);
    it may be taken until the next block is complete."""
    return block_end(protocol, after_block) + timedelta(days=1)


def next_look(protocol: Protocol, looks: tuple[Look, ...], today: date) -> int | None:
    """The block after which the next interim look falls: the look due now if it was not
    taken yet, else the next one ahead; None without interim looks or after a STOP."""
    rule = protocol.sequential
    if rule is None or first_stop(looks) is not None:
        return None
    done = blocks_complete(protocol, today)
    taken = {look.after_block for look in looks}
    ahead = [k for k in rule.looks if k > done or (k == done and k not in taken)]
    return ahead[0] if ahead else None


@dataclass(frozen=True)
class Status:
    """Where a trial stands on a given day. Never holds an arm.

    Parameters
    ----------
    today : the day the status is for.
    phase : ``"before"``, ``"run-in"``, ``"period"`` or ``"after"``.
    period, block : 1-based numbers of today's period, None outside the periods.
    kit : the kit label to take today (``"Kit 3"``), None when no kit is due.
    treatment : today's treatment name in an open-label trial (public there), else None.
    doses_per_day : today's doses in an open-label trial (0: nothing to take), else None.
    period_days : days in a period.
    washout : True on a washout day (take the kit, the score is not analysed).
    day_of_period : 1-based day within today's period, None outside the periods.
    recorded_today : True if today already has an entry.
    days_so_far : trial days from the first day up to today (or the last day).
    days_recorded : how many of those have an entry.
    missing : days before today (within the trial) without an entry.
    recallable : the missing days that may still be recorded as recall entries (at most
        ``RECALL_DAYS`` back, and none after unblinding); older missing days stay missing.
    recall_entries : recorded days whose entry was typed after the day (recall entries).
    late_entries : recorded days whose current entry was made more than ``RECALL_DAYS``
        after the day (late entries: an import or a correction).
    recent : one character per day of the last ``RECENT_DAYS`` days up to today, oldest
        first: ``#`` recorded, ``r`` recorded as a recall entry, ``l`` as a late entry,
        ``.`` missing, ``?`` today not yet recorded, a space outside the trial.
    next_switch : the first day of the next period, None if none follows.
    next_kit : the kit label from ``next_switch`` on.
    first_day, last_day : the trial's first (run-in included) and last day; after a STOP at
        an interim look the last day is that of the block the look analysed, after an early
        unblinding the day of the unblinding.
    unblinded : True once the allocation was revealed: the trial is over (phase
        ``"after"``), whatever the day, and no kit is due any more.
    blinded : True for a blinded design (it stays True after unblinding), False for an
        open-label trial (nothing to unblind). ``blinding`` says both in one word.
    unblinded_on : the day of the unblinding (UTC), None before it.
    unblinded_early : the unblinding was before the planned end.
    looks : the interim looks taken so far, oldest first (a repeated look each time); each
        holds only its number, block, decision and time.
    next_look : the block after which the next interim look falls (None: no interim looks,
        none left, a STOP, or unblinded); ``next_look_on`` the day it may first be taken.
    """

    today: date
    phase: str
    period: int | None
    block: int | None
    kit: str | None
    treatment: str | None
    doses_per_day: int | None
    period_days: int
    washout: bool
    day_of_period: int | None
    recorded_today: bool
    days_so_far: int
    days_recorded: int
    missing: tuple[date, ...]
    recallable: tuple[date, ...]
    recall_entries: int
    recent: str
    next_switch: date | None
    next_kit: str | None
    first_day: date
    last_day: date
    unblinded: bool
    blinded: bool = True
    unblinded_on: date | None = None
    unblinded_early: bool = False
    late_entries: int = 0
    looks: tuple[Look, ...] = ()
    next_look: int | None = None
    next_look_on: date | None = None

    @property
    def blinding(self) -> str:
        """Where the blinding stands, in one word: ``"blinded"``, ``"unblinded"`` or
        ``"open-label"`` (a design with nothing to unblind)."""
        if not self.blinded:
            return "open-label"
        return "unblinded" if self.unblinded else "blinded"

    @property
    def stopped(self) -> Look | None:
        """The first interim look that said STOP, or None."""
        return first_stop(self.looks)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: dates as ISO text; ``late_entries`` only when there are any.

        The blinding is one field, ``blinding`` (``"blinded"``, ``"unblinded"`` or
        ``"open-label"``), with ``unblinded_on`` (None before unblinding)."""
        return {
            "today": self.today.isoformat(),
            "phase": self.phase,
            "period": self.period,
            "block": self.block,
            "kit": self.kit,
            "treatment": self.treatment,
            "doses_per_day": self.doses_per_day,
            "period_days": self.period_days,
            "washout": self.washout,
            "day_of_period": self.day_of_period,
            "recorded_today": self.recorded_today,
            "days_so_far": self.days_so_far,
            "days_recorded": self.days_recorded,
            "days_missing": len(self.missing),
            "missing": [d.isoformat() for d in self.missing],
            "recallable": [d.isoformat() for d in self.recallable],
            "recall_entries": self.recall_entries,
            "recent": self.recent,
            "next_switch": None if self.next_switch is None else self.next_switch.isoformat(),
            "next_kit": self.next_kit,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "blinding": self.blinding,
            "unblinded_on": None if self.unblinded_on is None else self.unblinded_on.isoformat(),
            "looks": [
                {
                    "look": look.look,
                    "after_block": look.after_block,
                    "decision": look.decision,
                    "at": look.at.isoformat(),
                }
                for look in self.looks
            ],
            "next_look": (
                None
                if self.next_look is None
                else {"after_block": self.next_look, "on": self.next_look_on.isoformat()}
            ),
            # Only a diary with late entries has the key: every other status reads as before.
            **({"late_entries": self.late_entries} if self.late_entries else {}),
        }


def trial_status(trial: Trial | str | Path, today: date | None = None) -> Status:
    """Today's period, kit and washout flag, days recorded and missing, the next switch.

    Reading the status never creates the diary.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : the diary cannot be read, or ``today`` lies outside 2000-2100.
    IntegrityError : ``protocol.toml`` is not the one the diary was started with (its
        kits and days would be another trial's).
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    today = check_day(today or date.today(), "day", DiaryError)
    recorded: set[date] = set()
    recalled: set[date] = set()
    late: set[date] = set()
    unblinding = None
    looks: tuple[Look, ...] = ()
    diary = trial.diary
    if diary is not None:
        refuse_other_protocol(trial.document, diary.chain.anchors, "show the status")
        recorded = {r.entry.date for r in diary.current_entries()}
        recalled = diary.recall_days()
        late = {r.entry.date for r in diary.late_entries()}
        unblinding = diary.unblinding()
        looks = trial.signed.looks  # only looks nof1 may act on: signed by the helper
    unblinded = unblinding is not None
    unblinded_on = None if unblinding is None else unblinding.unblinded_at.date()
    look_block = None if unblinded else next_look(protocol, looks, today)
    # A STOP at an interim look ends the trial with the block it looked at: the days of
    # the blocks never run are not missing, and no kit is due any more. So does an
    # unblinding: once the allocation is known the trial is over, on any day.
    stop = first_stop(looks)
    end = protocol.end if stop is None else block_end(protocol, stop.after_block)
    if unblinded_on is not None and unblinded_on < end:
        end = max(unblinded_on, protocol.start)
    info = protocol.day_info(today)
    over = unblinded or (stop is not None and today > end)
    phase = "after" if over else info.phase
    last = min(today, end)
    so_far = [protocol.start + timedelta(days=i) for i in range((last - protocol.start).days + 1)]
    missing = tuple(d for d in so_far if d < today and d not in recorded)
    upcoming = [] if unblinded else [p for p in protocol.periods if today < p.start <= end]
    period = None if phase == "after" else info.period
    arm = (
        protocol.open_allocation[period.index - 1]
        if period is not None and protocol.open_allocation
        else None
    )

    def mark(d: date) -> str:
        if not protocol.start <= d <= end:
            return " "
        if d in recorded:
            return "l" if d in late else "r" if d in recalled else "#"
        return "?" if d == today and not unblinded else "."

    return Status(
        today=today,
        phase=phase,
        period=None if period is None else period.index,
        block=None if period is None else period.block,
        kit=None if period is None else period.kit,
        treatment=None if arm is None else protocol.treatments[arm].name,
        doses_per_day=None if arm is None else protocol.treatments[arm].doses_per_day,
        period_days=protocol.period_days,
        washout=info.washout and period is not None,
        day_of_period=None if period is None else (today - period.start).days + 1,
        recorded_today=today in recorded,
        days_so_far=len(so_far),
        days_recorded=sum(d in recorded for d in so_far),
        missing=missing,
        # After unblinding a day is recorded only as a deviation (--after-unblinding).
        recallable=()
        if unblinded
        else tuple(d for d in missing if (today - d).days <= RECALL_DAYS),
        recall_entries=len(recalled & set(so_far)),
        late_entries=len(late & set(so_far)),
        recent="".join(mark(today - timedelta(days=i)) for i in reversed(range(RECENT_DAYS))),
        next_switch=upcoming[0].start if upcoming else None,
        next_kit=upcoming[0].kit if upcoming else None,
        first_day=protocol.start,
        last_day=end,
        unblinded=unblinded,
        blinded=protocol.blinded,
        unblinded_on=unblinded_on,
        unblinded_early=bool(unblinding is not None and unblinding.early),
        looks=looks,
        next_look=look_block,
        next_look_on=None if look_block is None else look_opens(protocol, look_block),
    )

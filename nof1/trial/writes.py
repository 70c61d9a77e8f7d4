"""Writing to a trial's diary: a day's entry, an imported CSV, the unblinding.

Each takes a ``Trial`` handle (or a folder, opened here) and uses its protocol, read once;
everything is checked before the diary is opened for writing, so a bad value never creates
or touches the diary file. The diary is then opened once, for writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from nof1.diary.entries import (
    RECALL_DAYS,
    check_recordable,
    lateness,
    make_entry,
    read_entries_csv,
)
from nof1.diary.records import Record, Unblinding
from nof1.diary.schema import has_diary
from nof1.diary.store import NOT_UNBLINDED, already_unblinded, check_unblind_time
from nof1.errors import BlindingError, DiaryError
from nof1.plan.protocol import Protocol
from nof1.trial.handle import Trial, as_trial
from nof1.trial.integrity import refuse_other_protocol


def record_day(
    trial: Trial | str | Path,
    day: str | date,
    values: Mapping[str, str | float] | None = None,
    guess: str | None = None,
    adherence: str | float | None = None,
    note: str | None = None,
    correct: bool = False,
    today: date | None = None,
    deviation: str | None = None,
) -> Record:
    """Check and record one day's entry in a trial's diary (what ``nof1 record`` does).

    The entry is checked against the protocol before the diary is opened, so a bad value
    never creates or touches the diary file. A correction may restate only a guess,
    adherence or note: the values it does not restate stay.

    Parameters
    ----------
    trial : the trial (``open_trial``) or its folder.
    today : when given, the day must be recordable on it (``entries.check_recordable``:
        not in the future, at most ``RECALL_DAYS`` back), a first entry for an earlier
        day is kept as a recall entry, and a correction made more than ``RECALL_DAYS``
        after its day as a late entry (``entries.lateness``); the command line always
        gives it.
    deviation : after unblinding, why this entry is made then (``--after-unblinding
        --reason``); it is kept as a deviation from the protocol.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : see ``make_entry``, ``check_recordable`` and ``Diary.record``.
    IntegrityError : ``protocol.toml`` is not the one the diary was started with.
    """
    trial = as_trial(trial)
    entry = make_entry(trial.protocol, day, values, guess, adherence, note, correction=correct)
    if today is not None:
        check_recordable(entry.date, today, recall_days=None if correct else RECALL_DAYS)
    recall, late = (False, False) if today is None else lateness(entry.date, today, correct)
    if deviation is not None and not has_diary(trial.folder):
        raise DiaryError(NOT_UNBLINDED)  # without creating the diary
    if correct and not has_diary(trial.folder):  # nor a diary for a refused correction
        raise DiaryError(f"{entry.date} has no entry to correct; record it without --correct")
    with trial.open_diary() as diary:
        refuse_other_protocol(trial.document, diary.chain.anchors, "record in this diary")
        return diary.record(entry, correct=correct, recall=recall, deviation=deviation, late=late)


def import_diary(
    trial: Trial | str | Path,
    path: str | Path,
    correct: bool = False,
    deviation: str | None = None,
    today: date | None = None,
    date_format: str | None = None,
) -> int:
    """Import a diary CSV into a trial's diary (what ``nof1 import`` does): all or nothing.

    The whole file is checked before the diary is opened, so a bad file never creates or
    touches the diary. See ``Diary.import_csv`` for the columns; ``deviation`` is the
    reason for importing after unblinding.

    ``today``: when given, the import obeys ``record``'s rules on that day: a row for a
    later day is refused, a first entry 1 to ``RECALL_DAYS`` days after its day is kept as
    a recall entry, and any row more than ``RECALL_DAYS`` days after its day as a late
    entry (the report counts them and shows the result without them). The command line
    always gives it. ``date_format``: the layout of the dates (e.g. ``"DD.MM.YYYY"``; None:
    ``YYYY-MM-DD``), as in ``read_entries_csv``.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : see ``read_entries_csv`` and ``Diary.import_csv``.
    IntegrityError : ``protocol.toml`` is not the one the diary was started with.
    """
    trial = as_trial(trial)
    entries = read_entries_csv(path, trial.protocol, today, date_format=date_format)
    if deviation is not None and not has_diary(trial.folder):
        raise DiaryError(NOT_UNBLINDED)  # without creating the diary
    if correct and entries and not has_diary(trial.folder):
        line, entry = entries[0]
        raise DiaryError(
            f"{path} line {line}: {entry.date} has no entry to correct; record it without --correct"
        )
    with trial.open_diary() as diary:
        refuse_other_protocol(trial.document, diary.chain.anchors, "import into this diary")
        return diary.import_entries(
            Path(path), entries, correct=correct, deviation=deviation, today=today
        )


def trial_stopped(trial: Trial | str | Path) -> bool:
    """True when an interim look of a sequential trial said STOP (never creates a diary)."""
    trial = as_trial(trial)
    if trial.protocol.sequential is None or trial.diary is None:
        return False
    return trial.signed.stopped is not None  # a look nof1 may act on: signed by the helper


def check_unblind(
    trial: Trial | str | Path, early: bool = False, reason: str = "", today: date | None = None
) -> None:
    """Every reason to refuse an unblinding that needs no passphrase, before the helper
    types it: an open-label protocol, a trial already unblinded (named with its day and
    code), a last period not yet over without ``early`` and a reason.

    Raises
    ------
    BlindingError : naming the reason.
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    if not protocol.blinded:
        raise BlindingError("this protocol is open-label: there is nothing to unblind")
    done = None if trial.diary is None else trial.diary.unblinding()
    if done is not None:
        raise already_unblinded(done)
    check_unblind_time(protocol, early, reason, today or date.today(), trial_stopped(trial))


def unblind_trial(
    trial: Trial | str | Path,
    passphrase: str,
    early: bool = False,
    reason: str = "",
    today: date | None = None,
) -> tuple[Protocol, Unblinding]:
    """Open the sealed allocation, verify it and record the unblinding in the diary.

    The timing rule is checked before the sealed file is even decrypted.

    The record is signed with the helper's key over its content and the diary's chain head
    (``nof1.plan.signing``); its ``code`` goes to the clinician.

    Returns
    -------
    (Protocol, Unblinding) : the protocol (for its periods and kits) and the record.

    Raises
    ------
    BlindingError : too early without ``early`` and a reason, a wrong passphrase, a
        tampered file, a commitment mismatch, or already unblinded.
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    today = today or date.today()
    check_unblind(trial, early, reason, today)
    # Decrypt before opening the diary, so a wrong passphrase leaves no trace.
    secrets = trial.open_secrets(passphrase)
    with trial.open_diary() as diary:
        unblinding = diary.unblind(
            secrets.allocation, early, reason, today, signing_key=secrets.signing_key
        )
    return protocol, unblinding

"""The diary stage: one blinded entry per day, kept in ``diary.sqlite`` with an audit trail.

The diary never learns which kit holds which arm until ``unblind``; nothing here prints or
exits. Design choices, and why:

- **Append-only.** A correction is a new row whose ``supersedes`` names the row it replaces;
  SQLite triggers abort any UPDATE or DELETE, so an earlier value can never be lost, even by
  a careless tool opening the file directly.
- **Atomic.** Every write runs inside ``BEGIN IMMEDIATE``, so the duplicate-day check and
  the insert are one step, and each write extends the hash chain (``nof1.diary.chain``).
- **Read once.** Readers get the whole diary as one verified ``DiaryView``
  (``nof1.diary.view``); the file itself, its schema and how it is opened safely are
  ``nof1.diary.schema``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nof1.diary import chain
from nof1.diary.entries import (
    Entry,
    check_text,
    lateness,
    read_entries_csv,
    validate_entry,
)
from nof1.diary.records import Look, Record, Unblinding
from nof1.diary.schema import (
    DIARY_FILE,
    _check_diary_file,
    _connect,
    _connect_readonly,
    _create_diary,
    sqlite_problem,
)
from nof1.diary.signed import check_signed, head_text
from nof1.diary.view import (
    DiaryView,
    look_from_content,
    read_view,
    record_from_row,
    unblinding_from_row,
)
from nof1.errors import BlindingError, DiaryError
from nof1.plan.protocol import Protocol, load_protocol, read_document
from nof1.plan.registration import COMMITMENT_SECTION, canonical_document
from nof1.plan.sealing import Allocation, verify_allocation
from nof1.plan.signing import HEAD_FIELD, SIGNATURE_FIELD, code, sign
from nof1.plan.stopping import DECISIONS

if TYPE_CHECKING:
    import pandas as pd


class Diary:
    """An open diary of one trial. Get one from ``open_diary``; use it in a ``with`` block."""

    def __init__(
        self,
        path: Path,
        protocol: Protocol,
        con: sqlite3.Connection,
        document: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.protocol = protocol
        self._con = con
        self._document = document
        self._head = (0, chain.GENESIS)
        self._view: DiaryView | None = None
        try:
            self._readonly = bool(con.execute("PRAGMA query_only").fetchone()[0])
            view = read_view(con, path, tuple(o.name for o in protocol.outcomes))
        except BaseException:
            # A damaged diary: closed at once, so SQLite removes its -wal and -shm files
            # (an open connection left to the end of the process would leave them behind).
            con.close()
            raise
        #: The hash chain as verified when the diary was opened (``nof1.diary.chain``).
        self.chain = view.chain
        if self._readonly:
            # Nothing changes through a read-only connection: its view is kept.
            self._view = view
        elif self.chain.ok and not self.chain.anchors:
            # A diary just created or given its chain learns its protocol.
            self.anchor_protocol()

    def __enter__(self) -> Diary:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (``with`` does it)."""
        self._con.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or nothing, serialised against other writers.

        SQLite failures (busy past the timeout, read-only file, full disk, a damaged file)
        become a ``DiaryError``; the transaction is rolled back, so nothing is half-written.
        """
        if not self.chain.ok:
            raise DiaryError(
                f"{self.path} was altered outside nof1 ({self.chain.problems[0]}): nof1 will "
                "not add to a diary whose history does not hold"
            )
        try:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._head = chain.head(self._con)
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            problem = sqlite_problem(exc, self.path)
            raise DiaryError(f"cannot write {self.path}: {problem}") from None

    # ---- reading

    def view(self) -> DiaryView:
        """The whole diary as it is now, read once and verified (``nof1.diary.view``); a
        read-only diary is read when opened, so every call gives that same view."""
        if self._view is not None:
            return self._view
        return read_view(self._con, self.path, tuple(o.name for o in self.protocol.outcomes))

    def current_entries(
        self, without_deviations: bool = False, without_late: bool = False
    ) -> list[Record]:
        """``DiaryView.current_entries`` of the diary as it is now."""
        return self.view().current_entries(without_deviations, without_late)

    def deviations(self) -> list[Record]:
        """``DiaryView.deviations`` of the diary as it is now."""
        return self.view().deviations()

    def history(self, day: str | date) -> list[Record]:
        """``DiaryView.history`` of the diary as it is now."""
        return self.view().history(day)

    def all_records(self) -> list[Record]:
        """``DiaryView.all_records`` of the diary as it is now."""
        return self.view().all_records()

    def recall_days(self) -> set[date]:
        """``DiaryView.recall_days`` of the diary as it is now."""
        return self.view().recall_days()

    def late_entries(self) -> list[Record]:
        """``DiaryView.late_entries`` of the diary as it is now."""
        return self.view().late_entries()

    def export_frame(self) -> pd.DataFrame:
        """``DiaryView.export_frame`` of the diary as it is now."""
        return self.view().export_frame()

    def _record(self, row_id: int) -> Record:
        return record_from_row(chain.row(self._con, "entries", row_id), self.path)

    # ---- writing

    def _current_id(self, d: date) -> int | None:
        # The day's original entry through its partial unique index, then along the chain
        # of corrections through the index of the UNIQUE ``supersedes``: a few index
        # look-ups per entry, so an import of n rows takes time linear in n.
        row = self._con.execute(
            "SELECT id FROM entries WHERE date = ? AND supersedes IS NULL", (d.isoformat(),)
        ).fetchone()
        while row is not None:
            current = row[0]
            row = self._con.execute(
                "SELECT id FROM entries WHERE supersedes = ?", (current,)
            ).fetchone()
            if row is None:
                return current
        return None

    def _check_frozen(self, deviation: str | None) -> None:
        """After unblinding the diary is closed: only a deviation with a reason goes in."""
        check_frozen(self.unblinding(), deviation)

    def _insert(
        self,
        entry: Entry,
        correct: bool,
        merge: bool = False,
        recall: bool = False,
        deviation: str | None = None,
        late: bool = False,
        skip_unchanged: bool = False,
    ) -> int | None:
        """Insert one checked entry inside an open write transaction; return its id.

        ``merge``: a correction keeps the superseded entry's values it does not restate, so
        ``nof1 record --correct --pain 7`` fixes the pain score and nothing else.
        A correction that leaves the day's entry as it is is not stored: it raises
        ``DiaryError``, or with ``skip_unchanged`` returns None (an import re-reading
        days it already holds).
        """
        previous = self._current_id(entry.date)
        if previous is not None and not correct:
            raise DiaryError(
                f"{entry.date} already has an entry; use --correct to record a correction"
            )
        if previous is None and correct:
            raise DiaryError(f"{entry.date} has no entry to correct; record it without --correct")
        if previous is not None:
            old = self._record(previous).entry
            if merge:
                entry = Entry(
                    date=entry.date,
                    values={**old.values, **entry.values},
                    guess=entry.guess if entry.guess is not None else old.guess,
                    adherence=entry.adherence if entry.adherence is not None else old.adherence,
                    note=entry.note or old.note,
                )
            if entry == old:
                if skip_unchanged:
                    return None
                raise DiaryError(
                    f"Nothing changed: the entry for {entry.date} already holds these values."
                )
        new_id = _insert_row(self._con, entry, previous, recall, deviation, late)
        self._head = chain.append(
            self._con, "entry", chain.row(self._con, "entries", new_id), self._head
        )
        return new_id

    def record(
        self,
        entry: Entry,
        correct: bool = False,
        recall: bool = False,
        deviation: str | None = None,
        late: bool = False,
    ) -> Record:
        """Append one day's entry; with ``correct=True`` it supersedes that day's entry,
        keeping the values of the superseded entry that the correction does not restate.
        ``recall=True`` marks a missed day recorded later from memory, ``late=True`` an
        entry made more than ``RECALL_DAYS`` after its day (``entries.lateness``).

        After unblinding only a ``deviation`` goes in: the reason it was recorded then.

        Raises
        ------
        DiaryError : the entry does not fit the protocol, the day already has an entry and
            ``correct`` is False, or ``correct`` is True and there is nothing to correct or
            the correction changes nothing ("Nothing changed: ...", nothing is stored);
            the trial is unblinded and no ``deviation`` reason is given (or one is given
            before unblinding); the diary's chain does not hold.
        """
        validate_entry(self.protocol, entry, require_value=not correct)
        with self._write():
            self._check_frozen(deviation)
            new_id = self._insert(
                entry, correct, merge=True, recall=recall, deviation=deviation, late=late
            )
        return self._record(new_id)

    def import_csv(
        self,
        path: str | Path,
        correct: bool = False,
        deviation: str | None = None,
        today: date | None = None,
    ) -> int:
        """Import a diary CSV: every row is checked first, then all go in one transaction.

        Columns: ``date``, any of the protocol's outcomes, ``guess``, ``adherence``, ``note``
        (blank cells are missing values). A file written by ``export_csv`` is accepted:
        its audit columns are skipped, and so are its superseded rows, and the ``'`` that
        export puts before a note a spreadsheet would run as a formula is removed again
        (``entries.restore_text``).

        ``today``: when given, a row for a later day is refused, and each row is marked as
        ``record`` would mark it on that day (``entries.lateness``): a recall entry 1 to
        ``RECALL_DAYS`` days after its day, a late entry after that. The command line
        always gives it.

        Returns
        -------
        int : the number of entries imported; with ``correct``, a row that holds what its
            day already holds is not stored again, and not counted.

        Raises
        ------
        DiaryError : unreadable file, bad header, any bad row (named by its line), a day
            twice in the file, a day already in the diary (unless ``correct``) or after
            ``today``; after unblinding, no ``deviation`` reason (as in ``record``).
            Nothing is imported then.
        """
        path = Path(path)
        entries = read_entries_csv(path, self.protocol, today)
        return self.import_entries(path, entries, correct, deviation, today)

    def import_entries(
        self,
        path: Path,
        entries: list[tuple[int, Entry]],
        correct: bool = False,
        deviation: str | None = None,
        today: date | None = None,
    ) -> int:
        """Import entries already read and checked by ``read_entries_csv(path, ...)`` (so
        that ``import_diary`` reads the file once): as ``import_csv``."""
        with self._write():
            self._check_frozen(deviation)
            stored = 0
            for line, entry in entries:
                recall, late = (
                    (False, False) if today is None else lateness(entry.date, today, correct)
                )
                try:
                    new_id = self._insert(
                        entry, correct, recall=recall, deviation=deviation, late=late,
                        skip_unchanged=True,
                    )  # fmt: skip
                except DiaryError as exc:
                    raise DiaryError(f"{path} line {line}: {exc}") from None
                stored += new_id is not None
        return stored

    def export_csv(self, path: str | Path, force: bool = False) -> int:
        """``DiaryView.export_csv`` of the diary as it is now."""
        return self.view().export_csv(path, force)

    # ---- interim looks (records of kind "look" in the chain; no table of their own)

    def looks(self) -> tuple[Look, ...]:
        """Every interim look recorded, oldest first (a repeated look appears each time)."""
        return self.view().looks()

    def stopped(self) -> Look | None:
        """The first look that said STOP and that nof1 may act on (signed by the helper, on
        the chain head where it stands: ``nof1.diary.signed``), or None."""
        return check_signed(self.view(), self.protocol).stopped

    def _signed(self, kind: str, content: dict[str, Any], signing_key: bytes | None) -> dict:
        """``content`` with the chain head it is made on and, with a key, its signature.
        Inside a write transaction (``self._head`` is the head)."""
        content = {**content, HEAD_FIELD: head_text(*self._head)}
        if signing_key is not None:
            content[SIGNATURE_FIELD] = sign(signing_key, kind, content, self.protocol.registration)
        return content

    def record_look(
        self,
        look: int,
        after_block: int,
        decision: str,
        signing_key: bytes | None = None,
        at: datetime | None = None,
    ) -> Look:
        """Record an interim look's decision in the chain (``nof1 interim``), signed with the
        helper's key (an open-label trial has none).

        Only the look, the block, the decision, the time and the chain head are kept: never
        a probability, an estimate or an arm. The look returned carries its code
        (``nof1.plan.signing.code``) for the clinician. ``at``: when the look was taken (UTC;
        None: now), for a caller that runs a trial on a simulated clock (``nof1 demo``).

        Raises
        ------
        BlindingError : the trial is already unblinded (a look would mean nothing).
        DiaryError : a decision that is not one of ``nof1.plan.stopping.DECISIONS``, or the
            diary cannot be written.
        """
        if decision not in DECISIONS:
            raise DiaryError(f"unknown look decision {decision!r}; one of {', '.join(DECISIONS)}")
        content = {"look": look, "after_block": after_block, "decision": decision}
        return look_from_content(self._append_look("look", content, signing_key, at))

    def record_refused_look(
        self,
        look: int,
        after_block: int,
        reason: str,
        signing_key: bytes | None = None,
        at: datetime | None = None,
    ) -> str:
        """Record that an interim look was tried and refused (too few scores, said in terms
        of kits the patient already knows), signed, so that it cannot be tried again without
        a trace. Returns its code.

        Raises
        ------
        BlindingError : the trial is already unblinded.
        DiaryError : the diary cannot be written.
        """
        content = {"look": look, "after_block": after_block, "reason": reason}
        return code("look-refused", self._append_look("look-refused", content, signing_key, at))

    def _append_look(
        self, kind: str, content: dict, signing_key: bytes | None, at: datetime | None = None
    ) -> dict:
        """Append a look (or a refused look) of a blinded trial, timed (``at``, UTC; None:
        now) and signed; the content as recorded."""
        when = (at or datetime.now(UTC)).astimezone(UTC)
        content = {**content, "at": when.isoformat(timespec="seconds")}
        with self._write() as con:
            if self.unblinding() is not None:
                raise BlindingError("the trial is already unblinded: there is nothing to look at")
            content = self._signed(kind, content, signing_key)
            self._head = chain.append(con, kind, content, self._head)
        return content

    # ---- unblinding

    def unblinding(self) -> Unblinding | None:
        """The unblinding record, or None while the trial is blinded."""
        if self._view is not None:
            return self._view.unblinding()
        cur = self._con.execute("SELECT * FROM unblinding")
        row = cur.fetchone()
        if row is None:
            return None
        columns = [d[0] for d in cur.description]
        return unblinding_from_row(dict(zip(columns, row, strict=True)), self.path)

    def allocation(self) -> Allocation | None:
        """The revealed allocation, or None before unblinding."""
        u = self.unblinding()
        return None if u is None else Allocation(arms=u.arms, salt=u.salt)

    def unblind(
        self,
        allocation: Allocation,
        early: bool = False,
        reason: str = "",
        today: date | None = None,
        signing_key: bytes | None = None,
    ) -> Unblinding:
        """Record the revealed allocation, once, after checking it against the commitment,
        signed with the helper's key over the record and the chain head it is made on.

        Returns
        -------
        Unblinding : the record; its ``code`` is what the helper gives the clinician (the
            report prints it beside "compare with the code you were given").

        Raises
        ------
        BlindingError : already unblinded; the last period has not ended and ``early`` is
            not set; ``early`` without a reason; the allocation does not match the protocol.
        """
        today = today or date.today()
        stop = self.stopped()
        check_unblind_time(self.protocol, early, reason, today, stop is not None)
        if stop is not None and today <= self.protocol.end and not reason.strip():
            reason = f"interim look {stop.look} after block {stop.after_block}: {stop.decision}"
        verify_allocation(self.protocol, allocation)
        with self._write() as con:
            done = self.unblinding()
            if done is not None:
                raise already_unblinded(done)
            row = {
                "id": 1,
                "unblinded_at": datetime.now(UTC).isoformat(timespec="microseconds"),
                "early": int(today <= self.protocol.end),
                "reason": reason.strip(),
                "arms": json.dumps(list(allocation.arms)),
                "salt": allocation.salt,
            }
            row = self._signed("unblinding", row, signing_key)
            row.setdefault(SIGNATURE_FIELD, None)
            con.execute(
                f"INSERT INTO unblinding ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            self._head = chain.append(
                con, "unblinding", chain.row(con, "unblinding", 1), self._head
            )
        return self.unblinding()

    # ---- the protocol it belongs to

    def anchor_protocol(self) -> None:
        """Record in the chain which protocol this diary belongs to: its commitment and its
        canonical text, so that a protocol replaced later can be named field by field.

        Done when a diary is created (or first given its chain), and by
        ``nof1 protocol upgrade``, which adds a commitment to an older protocol.
        """
        document = self._document or read_document(self.path.parent)
        content = {
            "registration": str(document.get(COMMITMENT_SECTION, {}).get("sha256", "")),
            "document": canonical_document(document).decode("utf-8"),
        }
        with self._write() as con:
            self._head = chain.append(con, "protocol", content, self._head)
        self.chain = chain.verify(self._con)


NOT_UNBLINDED = "--after-unblinding applies only once the trial is unblinded"


def check_frozen(unblinded: Unblinding | None, deviation: str | None) -> None:
    """After unblinding the diary is closed: only a deviation with a reason goes in.

    Raises
    ------
    DiaryError : an entry after unblinding without a reason, a reason before unblinding,
        an empty reason or one that is not UTF-8 text.
    """
    if unblinded is not None and deviation is None:
        raise DiaryError(
            f"the trial was unblinded on {unblinded.unblinded_at:%Y-%m-%d}: the diary is "
            "closed. An entry made now is a deviation from the protocol; record it as one "
            "with --after-unblinding --reason TEXT (the report lists it and shows the "
            "result without it)"
        )
    if unblinded is None and deviation is not None:
        raise DiaryError(NOT_UNBLINDED)
    if deviation is not None and not check_text(deviation, "reason").strip():
        raise DiaryError("an entry made after unblinding needs a --reason")


def already_unblinded(done: Unblinding) -> BlindingError:
    """The error of a second unblinding: when the first was, and its code (a trial is
    unblinded once; the code is the one the clinician was given)."""
    code = f" (code {done.code})" if done.code else ""
    return BlindingError(
        f"the trial was already unblinded on {done.unblinded_at:%Y-%m-%d}{code}: a trial is "
        "unblinded once; `nof1 analyze` and `nof1 report` use that unblinding"
    )


def _insert_row(
    con: sqlite3.Connection,
    entry: Entry,
    supersedes: int | None,
    recall: bool = False,
    deviation: str | None = None,
    late: bool = False,
) -> int:
    cur = con.execute(
        "INSERT INTO entries (date, outcomes, guess, adherence, note, recorded_at, supersedes,"
        " recall, deviation, late) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.date.isoformat(),
            json.dumps(dict(entry.values), sort_keys=True),
            entry.guess,
            None if entry.adherence is None else float(entry.adherence),
            entry.note,
            datetime.now(UTC).isoformat(timespec="microseconds"),
            supersedes,
            int(recall),
            None if deviation is None else deviation.strip(),
            int(late),
        ),
    )
    return cur.lastrowid


def check_unblind_time(
    protocol: Protocol, early: bool, reason: str, today: date, stopped: bool = False
) -> None:
    """Refuse unblinding before the last period has ended, unless early and with a reason,
    or a pre-registered interim look said STOP (``stopped``).

    Raises
    ------
    BlindingError : too early without ``early``, or ``early`` without a reason.
    """
    check_text(reason, "reason")
    if stopped:
        return
    if today <= protocol.end and not early:
        raise BlindingError(
            f"the last period ends on {protocol.end}; unblinding before then needs --early "
            "and a --reason"
        )
    if early and today <= protocol.end and not reason.strip():
        raise BlindingError("early unblinding needs a --reason (it is kept in the diary)")


def open_diary(
    trial_dir: str | Path,
    protocol: Protocol | None = None,
    create: bool = True,
    readonly: bool = False,
    document: dict[str, Any] | None = None,
) -> Diary:
    """Open (creating if needed) the diary of a trial folder.

    Parameters
    ----------
    trial_dir : the trial folder (holding ``protocol.toml``).
    protocol : the trial's protocol; read from the folder when omitted.
    create : create the diary if it does not exist yet; when False, a missing diary is
        a ``DiaryError`` (for commands that only read).
    readonly : open it for reading only (``status``, ``history``, ``export``, analyses),
        which also works on a read-only medium; a write then fails with ``DiaryError``.
        Implies ``create=False``.
    document : ``protocol.toml`` as parsed, when the caller has read it already (a new
        diary records it in its chain); read from the folder when omitted.

    Returns
    -------
    Diary : open; a context manager that closes it on exit.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : no diary and ``create`` is False; the diary is a symbolic link, a folder,
        empty, unreadable, readable by others, not a diary, or from a newer nof1.

    Examples
    --------
    >>> with open_diary("mytrial") as diary:  # doctest: +SKIP
    ...     diary.current_entries()
    """
    trial_dir = Path(trial_dir)
    protocol = protocol or load_protocol(trial_dir)
    path = trial_dir / DIARY_FILE
    if not _check_diary_file(path):
        if readonly or not create:
            raise DiaryError(f"no diary in {trial_dir} yet: record a day first")
        _create_diary(path)
        _check_diary_file(path)
    con = _connect_readonly(path) if readonly else None
    return Diary(path, protocol, con if con is not None else _connect(path), document)

"""The diary stage: one blinded entry per day, kept in ``diary.sqlite`` with an audit trail.

The diary never learns which kit holds which arm until ``unblind``; nothing here prints or
exits. Design choices, and why:

- **Append-only.** A correction is a new row whose ``supersedes`` names the row it replaces;
  SQLite triggers abort any UPDATE or DELETE, so an earlier value can never be lost, even by
  a careless tool opening the file directly.
- **Durable and shared.** WAL journal, ``synchronous=FULL`` (an entry acknowledged is on
  disk), a busy timeout so two ``nof1 record`` at once wait for each other instead of failing,
  and every write inside ``BEGIN IMMEDIATE`` so the duplicate-day check and the insert are
  one atomic step.
- **Private.** The file is created with mode 0600 (SQLite gives its ``-wal`` and ``-shm``
  files the same mode) and a diary readable by others is refused.
- **Never the wrong file.** The diary is built in a temporary file and linked into place
  complete, so it never exists empty; a symbolic link, a folder, an empty or a non-SQLite
  file in its place is refused, never followed or re-initialised.
- **Readable on read-only media.** Commands that only read open it read-only (or as
  immutable where SQLite cannot even create its shared-memory file).
- **Versioned.** ``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[i]`` brings
  version ``i`` to ``i + 1``, applied in order when an older diary is opened. A diary from a
  newer nof1 is refused rather than guessed at.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nof1.diary import chain
from nof1.diary.entries import (
    ENTRY_COLUMNS,
    RECALL_DAYS,
    Entry,
    check_recordable,
    make_entry,
    neutralise_text,
    parse_date,
    read_entries_csv,
    validate_entry,
)
from nof1.errors import BlindingError, DiaryError
from nof1.plan.files import check_output, write_output
from nof1.plan.protocol import Protocol, load_protocol, read_document
from nof1.plan.registration import COMMITMENT_SECTION, canonical_document
from nof1.plan.sealing import Allocation, open_allocation, verify_allocation
from nof1.plan.stopping import DECISIONS, STOP_EFFICACY, STOP_FUTILITY

if TYPE_CHECKING:
    import pandas as pd

DIARY_FILE = "diary.sqlite"
#: Seconds a writer waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Record:
    """A stored diary row: the entry plus its audit fields.

    ``current`` is False once a later correction supersedes the row. ``deviation`` is the
    reason given for a record made after unblinding (None before). ``recall`` is True
    when the row was recorded after its day, from memory (``nof1 record --date`` for a
    missed day): a recall entry.
    """

    id: int
    entry: Entry
    recorded_at: datetime
    supersedes: int | None
    current: bool
    recall: bool = False
    deviation: str | None = None


@dataclass(frozen=True)
class Unblinding:
    """When and why the allocation was revealed, and what it was."""

    unblinded_at: datetime
    early: bool
    reason: str
    arms: tuple[str, ...]
    salt: str


@dataclass(frozen=True)
class Look:
    """A pre-registered interim look as recorded: which look, after which block, the decision
    (one of ``nof1.plan.stopping.DECISIONS``) and when (UTC). Nothing else is kept, so a look
    record reveals nothing about the allocation or the effect."""

    look: int  # 1-based, as shown to people
    after_block: int
    decision: str
    at: datetime

    @property
    def stops(self) -> bool:
        return self.decision in (STOP_EFFICACY, STOP_FUTILITY)


def first_stop(looks: tuple[Look, ...]) -> Look | None:
    """The first look that said STOP, or None while the trial may go on."""
    return next((look for look in looks if look.stops), None)


# --------------------------------------------------------------------------- schema


_SCHEMA_V1 = (
    """CREATE TABLE entries (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        date        TEXT NOT NULL,
        outcomes    TEXT NOT NULL,              -- JSON object: outcome name -> value
        guess       TEXT CHECK (guess IN ('A', 'B', 'unsure')),
        adherence   INTEGER CHECK (adherence IN (0, 1)),
        note        TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL,              -- UTC, ISO 8601
        supersedes  INTEGER UNIQUE REFERENCES entries(id)
    )""",
    # One original entry per day; any later one must supersede (a linear chain per day).
    """CREATE UNIQUE INDEX entries_one_original_per_day ON entries(date)
        WHERE supersedes IS NULL""",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'diary entries are append-only: record a correction'); END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'diary entries are append-only: record a correction'); END""",
    """CREATE TABLE unblinding (
        id           INTEGER PRIMARY KEY CHECK (id = 1),   -- written once
        unblinded_at TEXT NOT NULL,
        early        INTEGER NOT NULL CHECK (early IN (0, 1)),
        reason       TEXT NOT NULL,
        arms         TEXT NOT NULL,             -- JSON list, one arm per period
        salt         TEXT NOT NULL
    )""",
    """CREATE TRIGGER unblinding_no_update BEFORE UPDATE ON unblinding
        BEGIN SELECT RAISE(ABORT, 'the unblinding record cannot be changed'); END""",
    """CREATE TRIGGER unblinding_no_delete BEFORE DELETE ON unblinding
        BEGIN SELECT RAISE(ABORT, 'the unblinding record cannot be changed'); END""",
)


def _schema_v1(con: sqlite3.Connection) -> None:
    # Statement by statement: executescript() would commit the surrounding transaction.
    for statement in _SCHEMA_V1:
        con.execute(statement)


def _schema_v2(con: sqlite3.Connection) -> None:
    # Recall entries: a missed day recorded later from memory is marked, so the report can
    # count them. Rows of older diaries were entered on their day or imported: not recall.
    con.execute(
        "ALTER TABLE entries ADD COLUMN recall INTEGER NOT NULL DEFAULT 0 CHECK (recall IN (0, 1))"
    )


def _schema_v3(con: sqlite3.Connection) -> None:
    # Deviations: a record made after unblinding keeps why (NULL before unblinding). Then
    # the hash chain, linking the rows already there (``nof1.diary.chain.create``).
    con.execute("ALTER TABLE entries ADD COLUMN deviation TEXT")
    chain.create(con)


#: ``MIGRATIONS[i]`` takes a diary from schema version ``i`` to ``i + 1`` (0 = empty file).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _schema_v1,
    _schema_v2,
    _schema_v3,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _check_diary_file(path: Path) -> bool:
    """Whether the diary exists; refuse anything but a private, non-empty regular file.

    A symbolic link is refused rather than followed (it could lead nof1 to add its tables
    to another database), and so is a link in place of SQLite's ``-wal``/``-shm`` files.
    An empty file is not a diary: it is never silently re-initialised, since it may be
    what is left of one.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise DiaryError(f"no trial folder at {path.parent}") from None
        return False
    except OSError as exc:
        raise DiaryError(f"cannot open {path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise DiaryError(
            f"{path} is a symbolic link; nof1 opens only a diary file itself, never a link "
            "(put the file it points to in its place)"
        )
    if stat.S_ISDIR(st.st_mode):
        raise DiaryError(f"{path} is a folder, not a diary")
    if not stat.S_ISREG(st.st_mode):
        raise DiaryError(f"{path} is not a regular file, so not a diary")
    if st.st_size == 0:
        raise DiaryError(
            f"{path} is empty (0 bytes), so not a diary; nof1 never re-creates a diary in its "
            "place: restore it from a backup, or move it away to start an empty diary"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise DiaryError(f"{path} has mode {mode:04o}, readable by others; run `chmod 600 {path}`")
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.islink(f"{path}{suffix}"):
            raise DiaryError(f"{path}{suffix} is a symbolic link; remove it")
    try:  # readable at all? (mode 000, or another user's file)
        os.close(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)))
    except OSError as exc:
        raise DiaryError(f"cannot open {path}: {exc.strerror}") from None
    return True


def _create_diary(path: Path) -> None:
    """Create an empty diary at ``path``, complete or not at all, never over another file.

    The diary is built in a temporary file (``mkstemp``: mode 0600, ``O_EXCL``) and then
    hard-linked into place, which fails if a file appeared there meanwhile (another
    ``nof1 record`` created it first: that one is kept). So ``diary.sqlite`` never exists
    half-made or empty. Where the file system has no hard links, the content is copied
    into a file created with ``O_EXCL`` instead.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    except OSError as exc:
        raise DiaryError(f"cannot create {path}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _connect(tmp).close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            _copy_new(tmp, path)
    except OSError as exc:
        raise DiaryError(f"cannot create {path}: {exc.strerror}") from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _copy_new(source: Path, path: Path) -> None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(source.read_bytes())
        fh.flush()
        os.fsync(fh.fileno())


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to ``SCHEMA_VERSION`` under a write lock (another process may race)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DiaryError(
                f"{path} has schema version {version}, newer than this nof1 reads "
                f"({SCHEMA_VERSION}); upgrade nof1"
            )
        for migrate in MIGRATIONS[version:]:
            migrate(con)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA foreign_keys = ON")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            _migrate(con, path)
    except sqlite3.OperationalError as exc:  # busy past the timeout, unreadable file
        con.close()
        raise DiaryError(f"cannot open {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        con.close()
        raise DiaryError(f"{path} is not a readable nof1 diary: {exc}") from None
    except BaseException:
        con.close()
        raise
    return con


def _connect_readonly(path: Path) -> sqlite3.Connection | None:
    """A connection that never writes (``PRAGMA query_only``), or None when the diary needs
    a schema upgrade first (which only a writable connection can do).

    SQLite opens a file it may not write read-only by itself; as the last connection to
    close it still tidies up the ``-wal`` and ``-shm`` files where it can. On a read-only
    medium SQLite cannot create the ``-shm`` file that WAL reading needs; the diary is then
    opened as immutable, which is exact as long as no ``-wal`` file holds unsaved pages
    (a diary closed by nof1 has none).
    """
    for uri in (path.resolve().as_uri(), path.resolve().as_uri() + "?immutable=1"):
        if uri.endswith("immutable=1") and Path(f"{path}-wal").exists():
            raise DiaryError(
                f"cannot read {path}: it is on a read-only medium and its {path.name}-wal file "
                "may hold entries not yet saved in it; copy the trial to a writable place"
            )
        try:
            con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise DiaryError(f"cannot open {path}: {exc}") from None
        try:
            con.execute("PRAGMA query_only = 1")
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            version = con.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError:
            con.close()
            continue
        except sqlite3.DatabaseError as exc:
            con.close()
            raise DiaryError(f"{path} is not a readable nof1 diary: {exc}") from None
        if version > SCHEMA_VERSION:
            con.close()
            raise DiaryError(
                f"{path} has schema version {version}, newer than this nof1 reads "
                f"({SCHEMA_VERSION}); upgrade nof1"
            )
        if version < SCHEMA_VERSION:
            con.close()
            return None
        return con
    raise DiaryError(f"cannot open {path} for reading")


# --------------------------------------------------------------------------- the diary


class Diary:
    """An open diary of one trial. Get one from ``open_diary``; use it in a ``with`` block."""

    def __init__(self, path: Path, protocol: Protocol, con: sqlite3.Connection) -> None:
        self.path = path
        self.protocol = protocol
        self._con = con
        self._head = (0, chain.GENESIS)
        #: The hash chain as verified when the diary was opened (``nof1.diary.chain.ChainCheck``).
        self.chain = chain.verify(con)
        # A diary just created or given its chain learns its protocol; never when read-only.
        writable = not con.execute("PRAGMA query_only").fetchone()[0]
        if self.chain.ok and not self.chain.anchors and writable:
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

        SQLite failures (busy past the timeout, read-only file, full disk) become a
        ``DiaryError``; the transaction is rolled back, so nothing is half-written.
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
        except sqlite3.OperationalError as exc:
            raise DiaryError(f"cannot write {self.path}: {exc}") from None

    # ---- reading

    def _records(self, where: str = "", params: tuple = ()) -> list[Record]:
        rows = self._con.execute(
            "SELECT e.id, e.date, e.outcomes, e.guess, e.adherence, e.note, e.recorded_at,"
            " e.supersedes, NOT EXISTS (SELECT 1 FROM entries s WHERE s.supersedes = e.id),"
            " e.recall, e.deviation"
            f" FROM entries e {where} ORDER BY e.date, e.id",
            params,
        ).fetchall()
        return [
            Record(
                id=r[0],
                entry=Entry(
                    date=date.fromisoformat(r[1]),
                    values=json.loads(r[2]),
                    guess=r[3],
                    adherence=None if r[4] is None else bool(r[4]),
                    note=r[5],
                ),
                recorded_at=datetime.fromisoformat(r[6]),
                supersedes=r[7],
                current=bool(r[8]),
                recall=bool(r[9]),
                deviation=r[10],
            )
            for r in rows
        ]

    def current_entries(self, without_deviations: bool = False) -> list[Record]:
        """The latest record of every recorded day, by date.

        ``without_deviations``: as the diary stood before unblinding, ignoring every record
        made after it (a day then keeps its latest earlier record, or has none).
        """
        if not without_deviations:
            return self._records(
                "WHERE NOT EXISTS (SELECT 1 FROM entries s WHERE s.supersedes = e.id)"
            )
        latest = {r.entry.date: r for r in self._records("WHERE e.deviation IS NULL")}
        return list(latest.values())

    def deviations(self) -> list[Record]:
        """The records made after unblinding (``--after-unblinding``), in recording order."""
        return sorted(self._records("WHERE e.deviation IS NOT NULL"), key=lambda r: r.id)

    def history(self, day: str | date) -> list[Record]:
        """Every record of one day, oldest first (the last one is current)."""
        return self._records("WHERE e.date = ?", (parse_date(day).isoformat(),))

    def all_records(self) -> list[Record]:
        """Every record, corrections included, by date then recording order."""
        return self._records()

    def recall_days(self) -> set[date]:
        """Days whose first entry was a recall entry (recorded later, from memory)."""
        rows = self._con.execute("SELECT date FROM entries WHERE supersedes IS NULL AND recall = 1")
        return {date.fromisoformat(r[0]) for r in rows}

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
        unblinded = self.unblinding()
        if unblinded is not None and deviation is None:
            raise DiaryError(
                f"the trial was unblinded on {unblinded.unblinded_at:%Y-%m-%d}: the diary is "
                "closed. An entry made now is a deviation from the protocol; record it as one "
                "with --after-unblinding --reason TEXT (the report lists it and shows the "
                "result without it)"
            )
        if unblinded is None and deviation is not None:
            raise DiaryError(_NOT_UNBLINDED)
        if deviation is not None and not deviation.strip():
            raise DiaryError("an entry made after unblinding needs a --reason")

    def _insert(
        self,
        entry: Entry,
        correct: bool,
        merge: bool = False,
        recall: bool = False,
        deviation: str | None = None,
    ) -> int:
        """Insert one checked entry inside an open write transaction; return its id.

        ``merge``: a correction keeps the superseded entry's values it does not restate, so
        ``nof1 record --correct --pain 7`` fixes the pain score and nothing else.
        """
        previous = self._current_id(entry.date)
        if previous is not None and not correct:
            raise DiaryError(
                f"{entry.date} already has an entry; use --correct to record a correction"
            )
        if previous is None and correct:
            raise DiaryError(f"{entry.date} has no entry to correct; record it without --correct")
        if merge and previous is not None:
            old = self._records("WHERE e.id = ?", (previous,))[0].entry
            entry = Entry(
                date=entry.date,
                values={**old.values, **entry.values},
                guess=entry.guess if entry.guess is not None else old.guess,
                adherence=entry.adherence if entry.adherence is not None else old.adherence,
                note=entry.note or old.note,
            )
        new_id = _insert_row(self._con, entry, previous, recall, deviation)
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
    ) -> Record:
        """Append one day's entry; with ``correct=True`` it supersedes that day's entry,
        keeping the values of the superseded entry that the correction does not restate.
        ``recall=True`` marks a missed day recorded later from memory.

        After unblinding only a ``deviation`` goes in: the reason it was recorded then.

        Raises
        ------
        DiaryError : the entry does not fit the protocol, the day already has an entry and
            ``correct`` is False, or ``correct`` is True and there is nothing to correct;
            the trial is unblinded and no ``deviation`` reason is given (or one is given
            before unblinding); the diary's chain does not hold.
        """
        validate_entry(self.protocol, entry, require_value=not correct)
        with self._write():
            self._check_frozen(deviation)
            new_id = self._insert(entry, correct, merge=True, recall=recall, deviation=deviation)
        return self._records("WHERE e.id = ?", (new_id,))[0]

    def import_csv(
        self, path: str | Path, correct: bool = False, deviation: str | None = None
    ) -> int:
        """Import a diary CSV: every row is checked first, then all go in one transaction.

        Columns: ``date``, any of the protocol's outcomes, ``guess``, ``adherence``, ``note``
        (blank cells are missing values). A file written by ``export_csv`` is accepted:
        its audit columns are skipped, and so are its superseded rows, and the ``'`` that
        export puts before a note a spreadsheet would run as a formula is removed again
        (``entries.restore_text``).

        Returns
        -------
        int : the number of entries imported.

        Raises
        ------
        DiaryError : unreadable file, bad header, any bad row (named by its line), a day
            twice in the file, or a day already in the diary (unless ``correct``); after
            unblinding, no ``deviation`` reason (as in ``record``). Nothing is imported then.
        """
        path = Path(path)
        return self.import_entries(path, read_entries_csv(path, self.protocol), correct, deviation)

    def import_entries(
        self,
        path: Path,
        entries: list[tuple[int, Entry]],
        correct: bool = False,
        deviation: str | None = None,
    ) -> int:
        """Import entries already read and checked by ``read_entries_csv(path, ...)`` (so
        that ``import_diary`` reads the file once): as ``import_csv``."""
        with self._write():
            self._check_frozen(deviation)
            for line, entry in entries:
                try:
                    self._insert(entry, correct, deviation=deviation)
                except DiaryError as exc:
                    raise DiaryError(f"{path} line {line}: {exc}") from None
        return len(entries)

    def export_frame(self) -> pd.DataFrame:
        """Every record as a table; never an arm, whether unblinded or not.

        Returns
        -------
        DataFrame with columns ``id``, ``date`` (ISO text), one column per protocol outcome
        (float, NaN when missing), ``guess``, ``adherence`` ("yes"/"no"/""), ``note``,
        ``recorded_at`` (UTC ISO), ``supersedes`` (id or <NA>), ``current`` (1 for the
        latest record of its day, 0 for a superseded one).
        """
        import pandas as pd  # here: record, status and import start faster without it

        outcomes = [o.name for o in self.protocol.outcomes]
        rows = []
        for r in self.all_records():
            row: dict[str, object] = {"id": r.id, "date": r.entry.date.isoformat()}
            row.update({name: r.entry.values.get(name, math.nan) for name in outcomes})
            row["guess"] = r.entry.guess or ""
            row["adherence"] = {True: "yes", False: "no", None: ""}[r.entry.adherence]
            row["note"] = r.entry.note
            row["recorded_at"] = r.recorded_at.isoformat()
            row["supersedes"] = r.supersedes
            row["current"] = int(r.current)
            rows.append(row)
        columns = ["id", "date", *outcomes, *ENTRY_COLUMNS, "recorded_at", "supersedes", "current"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["supersedes"] = frame["supersedes"].astype("Int64")
        return frame

    def export_csv(self, path: str | Path, force: bool = False) -> int:
        """Write ``export_frame()`` to ``path`` as CSV, readable by its owner only (0600).

        Notes that a spreadsheet would run as a formula (starting with ``= + - @``, a tab
        or a carriage return) get a leading ``'`` (``entries.neutralise_text``); importing
        the file removes it again. The write is atomic: a failure leaves no file.

        Parameters
        ----------
        path : the CSV file; never one of a trial's own files.
        force : replace ``path`` if it exists.

        Returns
        -------
        int : the number of rows written.

        Raises
        ------
        OutputError : ``path`` is a trial's file, exists without ``force``, or cannot be
            written.
        """
        check_output(path, force=force, what="export")
        frame = self.export_frame()
        frame["note"] = frame["note"].map(neutralise_text)
        text = frame.to_csv(index=False, lineterminator="\n")
        write_output(path, text.encode("utf-8"), force=force, what="export")
        return len(frame)

    # ---- interim looks (records of kind "look" in the chain; no table of their own)

    def looks(self) -> tuple[Look, ...]:
        """Every interim look recorded, oldest first (a repeated look appears each time)."""
        rows = self._con.execute(
            "SELECT content FROM chain WHERE kind = 'look' ORDER BY seq"
        ).fetchall()
        out = []
        for (text,) in rows:
            c = json.loads(text)
            out.append(
                Look(c["look"], c["after_block"], c["decision"], datetime.fromisoformat(c["at"]))
            )
        return tuple(out)

    def stopped(self) -> Look | None:
        """The first look that said STOP, or None while the trial may go on."""
        return first_stop(self.looks())

    def record_look(self, look: int, after_block: int, decision: str) -> Look:
        """Record an interim look's decision in the chain (``nof1 interim``).

        Only the look, the block and the decision are kept: never a probability, an
        estimate or an arm.

        Raises
        ------
        BlindingError : the trial is already unblinded (a look would mean nothing).
        DiaryError : a decision that is not one of ``nof1.plan.stopping.DECISIONS``, or the
            diary cannot be written.
        """
        if decision not in DECISIONS:
            raise DiaryError(f"unknown look decision {decision!r}; one of {', '.join(DECISIONS)}")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        content = {"look": look, "after_block": after_block, "decision": decision, "at": at}
        with self._write() as con:
            if self.unblinding() is not None:
                raise BlindingError("the trial is already unblinded: there is nothing to look at")
            self._head = chain.append(con, "look", content, self._head)
        return Look(look, after_block, decision, datetime.fromisoformat(at))

    # ---- unblinding

    def unblinding(self) -> Unblinding | None:
        """The unblinding record, or None while the trial is blinded."""
        row = self._con.execute(
            "SELECT unblinded_at, early, reason, arms, salt FROM unblinding"
        ).fetchone()
        if row is None:
            return None
        return Unblinding(
            datetime.fromisoformat(row[0]), bool(row[1]), row[2], tuple(json.loads(row[3])), row[4]
        )

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
    ) -> Unblinding:
        """Record the revealed allocation, once, after checking it against the commitment.

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
                raise BlindingError(
                    f"the trial was already unblinded on {done.unblinded_at:%Y-%m-%d}"
                )
            con.execute(
                "INSERT INTO unblinding (id, unblinded_at, early, reason, arms, salt)"
                " VALUES (1, ?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="microseconds"),
                    int(today <= self.protocol.end),
                    reason.strip(),
                    json.dumps(list(allocation.arms)),
                    allocation.salt,
                ),
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
        document = read_document(self.path.parent)
        content = {
            "registration": str(document.get(COMMITMENT_SECTION, {}).get("sha256", "")),
            "document": canonical_document(document).decode("utf-8"),
        }
        with self._write() as con:
            self._head = chain.append(con, "protocol", content, self._head)
        self.chain = chain.verify(self._con)


_NOT_UNBLINDED = "--after-unblinding applies only once the trial is unblinded"


def _insert_row(
    con: sqlite3.Connection,
    entry: Entry,
    supersedes: int | None,
    recall: bool = False,
    deviation: str | None = None,
) -> int:
    cur = con.execute(
        "INSERT INTO entries"
        " (date, outcomes, guess, adherence, note, recorded_at, supersedes, recall, deviation)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.date.isoformat(),
            json.dumps(dict(entry.values), sort_keys=True),
            entry.guess,
            None if entry.adherence is None else int(entry.adherence),
            entry.note,
            datetime.now(UTC).isoformat(timespec="microseconds"),
            supersedes,
            int(recall),
            None if deviation is None else deviation.strip(),
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
    if stopped:
        return
    if today <= protocol.end and not early:
        raise BlindingError(
            f"the last period ends on {protocol.end}; unblinding before then needs --early "
            "and a --reason"
        )
    if early and today <= protocol.end and not reason.strip():
        raise BlindingError("early unblinding needs a --reason (it is kept in the diary)")


def has_diary(trial_dir: str | Path) -> bool:
    """Whether the trial folder holds a diary (without creating one).

    Raises
    ------
    DiaryError : something else is in its place: a symbolic link (even a dangling one), a
        folder, an empty or unreadable file.
    """
    return _check_diary_file(Path(trial_dir) / DIARY_FILE)


def open_diary(
    trial_dir: str | Path,
    protocol: Protocol | None = None,
    create: bool = True,
    readonly: bool = False,
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
    return Diary(path, protocol, con if con is not None else _connect(path))


# --------------------------------------------------------------------------- one-call helpers


def record_day(
    trial_dir: str | Path,
    day: str | date,
    values: Mapping[str, str | float] | None = None,
    guess: str | None = None,
    adherence: str | bool | None = None,
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
    today : when given, the day must be recordable on it (``entries.check_recordable``:
        not in the future, at most ``RECALL_DAYS`` back), and a first entry for an earlier
        day is kept as a recall entry; the command line always gives it.
    deviation : after unblinding, why this entry is made then (``--after-unblinding
        --reason``); it is kept as a deviation from the protocol.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : see ``make_entry``, ``check_recordable`` and ``Diary.record``.
    """
    protocol = load_protocol(trial_dir)
    entry = make_entry(protocol, day, values, guess, adherence, note, correction=correct)
    if today is not None:
        check_recordable(entry.date, today, recall_days=None if correct else RECALL_DAYS)
    recall = today is not None and entry.date < today and not correct
    if deviation is not None and not (Path(trial_dir) / DIARY_FILE).exists():
        raise DiaryError(_NOT_UNBLINDED)  # without creating the diary
    with open_diary(trial_dir, protocol) as diary:
        return diary.record(entry, correct=correct, recall=recall, deviation=deviation)


def import_diary(
    trial_dir: str | Path, path: str | Path, correct: bool = False, deviation: str | None = None
) -> int:
    """Import a diary CSV into a trial's diary (what ``nof1 import`` does): all or nothing.

    The whole file is checked before the diary is opened, so a bad file never creates or
    touches the diary. See ``Diary.import_csv`` for the columns; ``deviation`` is the
    reason for importing after unblinding.

    Raises
    ------
    ProtocolError : no trial in the folder.
    DiaryError : see ``read_entries_csv`` and ``Diary.import_csv``.
    """
    protocol = load_protocol(trial_dir)
    entries = read_entries_csv(path, protocol)
    if deviation is not None and not (Path(trial_dir) / DIARY_FILE).exists():
        raise DiaryError(_NOT_UNBLINDED)  # without creating the diary
    with open_diary(trial_dir, protocol) as diary:
        return diary.import_entries(Path(path), entries, correct=correct, deviation=deviation)


def trial_stopped(trial_dir: str | Path, protocol: Protocol | None = None) -> bool:
    """True when an interim look of a sequential trial said STOP (never creates a diary)."""
    protocol = protocol or load_protocol(trial_dir)
    if protocol.sequential is None or not has_diary(trial_dir):
        return False
    with open_diary(trial_dir, protocol, create=False, readonly=True) as diary:
        return diary.stopped() is not None


def unblind_trial(
    trial_dir: str | Path,
    passphrase: str,
    early: bool = False,
    reason: str = "",
    today: date | None = None,
) -> tuple[Protocol, Unblinding]:
    """Open the sealed allocation, verify it and record the unblinding in the diary.

    The timing rule is checked before the sealed file is even decrypted.

    Returns
    -------
    (Protocol, Unblinding) : the protocol (for its periods and kits) and the record.

    Raises
    ------
    BlindingError : too early without ``early`` and a reason, a wrong passphrase, a
        tampered file, a commitment mismatch, or already unblinded.
    """
    protocol = load_protocol(trial_dir)
    today = today or date.today()
    if not protocol.blinded:
        raise BlindingError("this protocol is open-label: there is nothing to unblind")
    check_unblind_time(protocol, early, reason, today, trial_stopped(trial_dir, protocol))
    # Decrypt before opening the diary, so a wrong passphrase leaves no trace.
    allocation = open_allocation(Path(trial_dir), passphrase)
    with open_diary(trial_dir, protocol) as diary:
        return protocol, diary.unblind(allocation, early, reason, today)

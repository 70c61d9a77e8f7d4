"""The diary file: its schema and migrations, and opening it safely.

- **Never the wrong file.** The diary is built in a temporary file and linked into place
  complete, so it never exists empty; a symbolic link, a folder, an empty or a non-SQLite
  file, or another program's SQLite database in its place is refused, never followed,
  re-initialised or written to (not even by a command that only reads).
- **Private.** The file is created with mode 0600 (SQLite gives its ``-wal`` and ``-shm``
  files the same mode) and a diary readable by others is refused.
- **Durable and shared.** WAL journal, ``synchronous=FULL`` (an entry acknowledged is on
  disk) and a busy timeout, so two ``nof1 record`` at once wait for each other instead of
  failing.
- **Readable on read-only media and full disks.** Commands that only read open it
  read-only, as immutable where SQLite cannot even create its shared-memory file (a
  read-only medium), or in exclusive locking mode where it cannot size that file (a full
  disk); a failure on a full disk removes the ``-wal`` and ``-shm`` files SQLite made and
  says the disk is full (``sqlite_problem``).
- **Versioned.** ``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[i]`` brings
  version ``i`` to ``i + 1``, applied in order when an older diary is opened. A diary from a
  newer nof1 is refused rather than guessed at.
- **Whole, or damaged.** A diary must have every table and column its version has
  (``schema_at``); one without (a table dropped, a table rebuilt without a column) is a
  ``DamagedDiaryError`` naming what is missing, before anything is read or written. The
  chain is the exception: a diary whose chain is gone still shows its entries, with the
  chain's check saying, in red, that nothing proves them (``nof1.diary.chain.read``).
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from nof1.diary import chain
from nof1.errors import DamagedDiaryError, DiaryError
from nof1.plan.files import SQLITE_COMPANIONS, disk_problem, remove_leftovers, temp_prefix

DIARY_FILE = "diary.sqlite"
#: Seconds a writer waits for another writer before giving up.
BUSY_TIMEOUT_S = 30.0


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


def _schema_v4(con: sqlite3.Connection) -> None:
    # Late entries: a day entered more than RECALL_DAYS after its date (an import) is kept,
    # marked, so the report can count it and show the result without it. Signed unblinding:
    # the chain head it was made on and the helper's signature over both (NULL in a diary
    # unblinded before records were signed).
    con.execute(
        "ALTER TABLE entries ADD COLUMN late INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1))"
    )
    con.execute("ALTER TABLE unblinding ADD COLUMN head TEXT")
    con.execute("ALTER TABLE unblinding ADD COLUMN signature TEXT")


#: The ``entries`` table from schema 5 on: every column as the migrations before left it,
#: but adherence is the share of the day's doses taken (0 to 1), no longer only 0 or 1.
#: NUMERIC keeps a whole number as an integer, so the rows of an older diary read back
#: exactly as their chain records hold them.
_ENTRIES_V5 = """CREATE TABLE entries_v5 (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        date        TEXT NOT NULL,
        outcomes    TEXT NOT NULL,
        guess       TEXT CHECK (guess IN ('A', 'B', 'unsure')),
        adherence   NUMERIC CHECK (adherence >= 0 AND adherence <= 1),
        note        TEXT NOT NULL DEFAULT '',
        recorded_at TEXT NOT NULL,
        supersedes  INTEGER UNIQUE REFERENCES entries_v5(id),
        recall      INTEGER NOT NULL DEFAULT 0 CHECK (recall IN (0, 1)),
        deviation   TEXT,
        late        INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1))
    )"""


def _schema_v5(con: sqlite3.Connection) -> None:
    # Partial adherence (0.5, 3 of 4 doses). SQLite cannot change a CHECK constraint, so the
    # table is rebuilt (https://sqlite.org/lang_altertable.html#otheralter): the rows copied
    # as they are, ids and the id sequence kept (a gap left by a deletion stays visible to
    # the chain), then the index and the append-only triggers made again. DROP TABLE fires
    # no DELETE trigger; inside the migration's transaction it is all or nothing.
    last = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
    con.execute(_ENTRIES_V5)
    con.execute(
        "INSERT INTO entries_v5 (id, date, outcomes, guess, adherence, note, recorded_at,"
        " supersedes, recall, deviation, late) SELECT id, date, outcomes, guess, adherence,"
        " note, recorded_at, supersedes, recall, deviation, late FROM entries ORDER BY id"
    )
    con.execute("DROP TABLE entries")
    con.execute("ALTER TABLE entries_v5 RENAME TO entries")
    for statement in _SCHEMA_V1[1:4]:  # the one-original-per-day index, the two triggers
        con.execute(statement)
    if last is not None:
        con.execute("DELETE FROM sqlite_sequence WHERE name = 'entries'")
        con.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('entries', ?)", last)


#: ``MIGRATIONS[i]`` takes a diary from schema version ``i`` to ``i + 1`` (0 = empty file).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _schema_v1,
    _schema_v2,
    _schema_v3,
    _schema_v4,
    _schema_v5,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: The oldest schema a read-only command reads as it is, without upgrading (a write): from
#: version 3 on, every later migration only adds columns, read with their defaults, or
#: widens what a column accepts (schema 5: partial adherence).
READABLE_AS_IS = 3


def damaged(path: Path, what: str) -> DamagedDiaryError:
    """The error for a diary that is not as nof1 wrote it, naming ``what`` is damaged."""
    return DamagedDiaryError(
        f"the diary {path} is damaged: {what}. nof1 changed nothing in it; restore it from a "
        "backup copy"
    )


@functools.cache
def schema_at(version: int) -> dict[str, frozenset[str]]:
    """Every table a diary of schema ``version`` has, and its columns: those of a diary
    built by ``MIGRATIONS[:version]`` (in memory), so the list can never drift from them."""
    con = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for migrate in MIGRATIONS[:version]:
            migrate(con)
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {
            name: frozenset(r[1] for r in con.execute(f"PRAGMA table_info('{name}')"))
            for (name,) in names
        }
    finally:
        con.close()


def _check_schema(con: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse a nof1 diary that lacks a table or a column its schema version has.

    Checked when the diary is opened, before any read or write, so every command names the
    same damage. A missing chain is left to the chain's check (``nof1.diary.chain.read``).
    """
    if version < 0:
        raise damaged(path, f"its schema version {version} is not one nof1 writes")
    names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    have = {name: {r[1] for r in con.execute(f"PRAGMA table_info('{name}')")} for (name,) in names}
    for table, columns in sorted(schema_at(version).items()):
        if table == chain.TABLE:
            continue
        if table not in have:
            raise damaged(path, f"it has no table {table!r}")
        missing = sorted(columns - have[table])
        if missing:
            raise damaged(path, f"its table {table!r} has no column {missing[0]!r}")


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
    into a file created with ``O_EXCL`` instead. The temporary name holds this process's id
    (``nof1.plan.files.temp_prefix``), so what a killed creation left is removed later.
    """
    remove_leftovers(path.parent, path.name, ".new", SQLITE_COMPANIONS)
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=temp_prefix(path.name), suffix=".new"
        )
    except OSError as exc:
        raise DiaryError(f"cannot create {path}: {disk_problem(exc, path.parent)}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _connect(tmp, new=True, name=path).close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            _copy_new(tmp, path)
    except OSError as exc:
        raise DiaryError(f"cannot create {path}: {disk_problem(exc, path.parent)}") from None
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


#: Bytes free under which an SQLite I/O error is taken to be the full disk's doing (SQLite
#: reports a ``-shm`` file it cannot size as an I/O error, not as SQLITE_FULL).
_NEARLY_FULL = 1 << 20


def sqlite_problem(exc: sqlite3.Error, path: Path) -> str:
    """What an SQLite failure on the diary ``path`` means, in words; a full disk is named as
    such, with the folder."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_IOERR:
        try:
            full = shutil.disk_usage(path.parent).free < _NEARLY_FULL
        except OSError:
            full = False
    else:
        full = code == sqlite3.SQLITE_FULL
    if full:
        return disk_problem(OSError(errno.ENOSPC, "full"), path.parent)
    return str(exc)


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


def _check_nof1(con: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse an SQLite database that is not a nof1 diary, before anything is written to it.

    A nof1 diary is never at schema version 0 once it exists (``_create_diary`` links it
    into place complete), and it has nof1's tables (one that lost some is damaged, and
    ``_check_schema`` names what it lacks). Anything else in place
    of ``diary.sqlite`` (another program's database, copied or moved there) would otherwise
    be given nof1's tables and its WAL journal by the first command that opened it, even
    a read-only one.
    """
    tables = {
        name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    # A diary that lost its ``entries`` table but kept another of nof1's is damaged, not
    # another program's: ``_check_schema`` says what it lacks.
    if version == 0 or not tables & {"entries", "unblinding", chain.TABLE}:
        raise DiaryError(
            f"{path} is not a nof1 diary (an SQLite database without nof1's tables); nof1 "
            "leaves it as it is: move it away to start an empty diary"
        )


def _connect(path: Path, new: bool = False, name: Path | None = None) -> sqlite3.Connection:
    """A writable connection, the schema brought up to date (``_migrate``).

    ``new``: ``path`` is the empty file ``_create_diary`` builds a diary in (``name``: the
    diary it will become, as messages call it); any other file must already be a nof1
    diary (``_check_nof1``), checked before the first write (even switching to WAL writes
    to the file). On a full disk the ``-wal`` and ``-shm`` files SQLite made are removed
    again (``_tidy``) and the error says the disk is full.
    """
    name = name or path
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if not new:
            _check_nof1(con, path, version)
            if version <= SCHEMA_VERSION:  # a newer one is refused by ``_migrate``
                _check_schema(con, path, version)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA foreign_keys = ON")
        if version != SCHEMA_VERSION:
            _migrate(con, path)
    except sqlite3.OperationalError as exc:  # busy past the timeout, unreadable file
        con.close()
        _tidy(path, exc)
        raise DiaryError(f"cannot open {name}: {sqlite_problem(exc, path)}") from None
    except sqlite3.DatabaseError as exc:
        con.close()
        raise DiaryError(f"{name} is not a readable nof1 diary: {exc}") from None
    except BaseException:
        con.close()
        raise
    return con


def _io_failure(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed on the file system (a full disk, a ``-shm`` it cannot make)
    rather than on a lock or the content."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN)


def _open(path: Path, uri: str, exclusive: bool = False) -> tuple[sqlite3.Connection, int]:
    """A query-only connection to ``uri`` and the diary's schema version.

    ``exclusive``: in SQLite's exclusive locking mode, which keeps WAL's index in memory
    instead of the ``-shm`` file, so it reads where that file cannot be made (a full disk).
    It holds the diary's lock from the first read until it is closed: then no other
    connection has the diary open, so the ``-shm`` a failed attempt left is removed (the
    ``-wal`` SQLite removes itself when the connection closes).

    Raises
    ------
    sqlite3.OperationalError : SQLite cannot read it (for the caller to try another way).
    DiaryError : it is not a database.
    """
    try:
        con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise DiaryError(f"cannot open {path}: {sqlite_problem(exc, path)}") from None
    try:
        con.execute("PRAGMA query_only = 1")
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if exclusive:
            con.execute("PRAGMA locking_mode = EXCLUSIVE")
        version = con.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.OperationalError:
        con.close()
        raise
    except sqlite3.DatabaseError as exc:
        con.close()
        raise DiaryError(f"{path} is not a readable nof1 diary: {exc}") from None
    if exclusive:
        Path(f"{path}-shm").unlink(missing_ok=True)
    return con, version


def _tidy(path: Path, exc: sqlite3.Error) -> None:
    """After SQLite failed on the file system (``_io_failure``), remove the ``-wal`` and
    ``-shm`` files it made, where no other connection has the diary open (``_open``
    exclusive); anything else is left as it is."""
    if not _io_failure(exc) or not path.exists():
        return
    try:
        con, _ = _open(path, path.resolve().as_uri(), exclusive=True)
    except (sqlite3.Error, DiaryError, OSError):
        return
    con.close()


def _may_write(path: Path) -> bool:
    """Whether this process may write the diary and its folder (not a read-only medium)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _connect_readonly(path: Path) -> sqlite3.Connection | None:
    """A connection that never writes (``PRAGMA query_only``), or None when the diary is too
    old to be read as it is (before ``READABLE_AS_IS``) and needs a schema upgrade first,
    which only a writable connection can do.

    SQLite opens a file it may not write read-only by itself; as the last connection to
    close it still tidies up the ``-wal`` and ``-shm`` files where it can. Where it cannot
    make the ``-shm`` file that WAL reading needs:

    - on a full disk it reads in exclusive locking mode, which needs no ``-shm`` and removes
      what the failed attempt left (``_open``); if another connection has the diary open,
      the error says the disk is full, naming the folder;
    - on a read-only medium the diary is opened as immutable, which is exact as long as no
      ``-wal`` file holds unsaved pages (a diary closed by nof1 has none; an empty ``-wal``
      holds none).
    """
    uri = path.resolve().as_uri()
    try:
        con, version = _open(path, uri)
    except sqlite3.OperationalError as exc:
        if _may_write(path):
            if not _io_failure(exc):
                raise DiaryError(f"cannot open {path}: {sqlite_problem(exc, path)}") from None
            try:
                con, version = _open(path, uri, exclusive=True)
            except sqlite3.OperationalError:
                raise DiaryError(f"cannot read {path}: {sqlite_problem(exc, path)}") from None
        else:
            wal = Path(f"{path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise DiaryError(
                    f"cannot read {path}: it is on a read-only medium and its {wal.name} file "
                    "may hold entries not yet saved in it; copy the trial to a writable place"
                ) from None
            try:
                con, version = _open(path, uri + "?immutable=1")
            except sqlite3.OperationalError as again:
                raise DiaryError(f"cannot open {path} for reading: {again}") from None
    if version > SCHEMA_VERSION:
        con.close()
        raise DiaryError(
            f"{path} has schema version {version}, newer than this nof1 reads "
            f"({SCHEMA_VERSION}); upgrade nof1"
        )
    try:
        _check_nof1(con, path, version)
        _check_schema(con, path, version)
    except DiaryError:
        con.close()
        raise
    if version < READABLE_AS_IS:
        con.close()
        return None
    return con


def has_diary(trial_dir: str | Path) -> bool:
    """Whether the trial folder holds a diary (without creating one).

    Raises
    ------
    DiaryError : something else is in its place: a symbolic link (even a dangling one), a
        folder, an empty or unreadable file.
    """
    return _check_diary_file(Path(trial_dir) / DIARY_FILE)

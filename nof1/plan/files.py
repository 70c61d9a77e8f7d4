"""Reading what the user names, within bounds, and writing files without ever destroying
data: what every command that reads a named file or writes goes through.

- **What is read is capped.** A CSV, a template, a ``protocol.toml``, a passphrase file or
  a sealed allocation is read through ``read_input``, which stops one byte past a cap no
  real file of its kind reaches (``MAX_CSV_BYTES`` and the others) and says the file is too
  large: ``/dev/zero`` or ``/dev/urandom`` given by mistake is one ``Error:`` line, not a
  process that fills the memory.
- **A trial's own files are never an output.** ``diary.sqlite`` (and its ``-wal``, ``-shm``
  and ``-journal`` companions), ``protocol.toml`` and ``allocation.sealed`` are refused as
  the target of an export, a report or any other output, whatever folder they are in and
  whatever path (``..``, a symbolic link) leads to them: overwriting one would lose the audit
  trail or make the allocation unrecoverable.
- **An existing output is replaced only when asked** (``force=True``, the CLI's ``--force``).
- **Atomic and private.** Content goes to a fresh temporary file made by
  ``tempfile.mkstemp`` in the target folder (created with ``O_EXCL`` and mode 0600, so a
  planted file or symbolic link is never opened), is flushed to disk, and is moved into
  place with ``os.replace``: a reader sees the old file or the new one, never half of it, and
  a failure leaves nothing behind. Outputs hold health data (dates, scores, notes), hence
  mode 0600 whatever the umask.
- **No leftovers, even after a kill.** Every temporary name nof1 makes (``temp_prefix``:
  ``.NAME.PID.XXXXXXXX.tmp``, the diary's ``.diary.sqlite.PID.XXXXXXXX.new``, the staging
  folder of ``protocol new``) holds the process id of its maker. What a process killed
  midway (SIGKILL, a power cut) left is removed by the next command that writes there or
  opens the trial (``remove_leftovers``, ``remove_trial_leftovers``): only names of exactly
  that form, only once their process is gone (or a day later, where that cannot be told),
  never a file of the user's nor one of a process still at work.
- **A full disk is named.** A write that fails for want of space says that the disk
  holding the folder is full (``disk_problem``), not just that it failed.

This module imports nothing else from nof1 but its errors, so every stage may use it.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from nof1.errors import Nof1Error, OutputError

#: The files that make up a trial; no output may ever be written onto one of them.
TRIAL_FILES = ("diary.sqlite", "protocol.toml", "allocation.sealed")
#: Files SQLite keeps beside a database while it is in use.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
#: What ``protocol new`` writes into its staging folder.
STAGED_FILES = ("protocol.toml", "allocation.sealed")


#: The most a file of each kind may hold; far beyond any real one (a year of daily entries
#: is a few hundred KB, a protocol 20 KB, a passphrase one line, a sealed allocation 1 KB).
MAX_CSV_BYTES = 50 << 20
MAX_TOML_BYTES = 1 << 20
MAX_PASSPHRASE_BYTES = 64 << 10
MAX_SEALED_BYTES = 1 << 20


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n >> 10} KB"


def read_input(
    path: str | Path, limit: int, what: str, error: type[Nof1Error] = Nof1Error
) -> bytes:
    """The bytes of a file the user named, refused beyond ``limit`` bytes.

    Reads at most ``limit + 1`` bytes, so a device or pipe that never ends (``/dev/zero``)
    costs no more than a file just too large.

    Parameters
    ----------
    path : the file.
    limit : the most it may hold (``MAX_CSV_BYTES`` and the others).
    what : what it should be, for the message ("a passphrase file").
    error : the class of the error raised (the reader's own: ``DataError`` for a CSV).

    Raises
    ------
    error : the file holds more than ``limit`` bytes.
    OSError : it cannot be opened or read (the caller names it as it names such files).

    Example
    -------
    >>> read_input("/dev/zero", MAX_PASSPHRASE_BYTES, "a passphrase file")  # doctest: +SKIP
    Traceback (most recent call last):
    Nof1Error: /dev/zero is too large to be a passphrase file (over 64 KB)
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise error(f"{path} is too large to be {what} (over {_size(limit)})")
    return data


def trial_file_kind(path: str | Path) -> str | None:
    """The trial file ``path`` is (``"diary.sqlite"``, ...), or None for any other name.

    Both the name as given and the name it resolves to (through ``..`` and symbolic
    links) are checked, case-insensitively (macOS and Windows folders ignore case).
    """
    path = Path(path)
    names = {path.name, Path(os.path.realpath(path)).name}
    for name in names:
        lowered = name.lower()
        for trial_file in TRIAL_FILES:
            companions = SQLITE_COMPANIONS if trial_file.endswith(".sqlite") else ()
            if lowered in {trial_file, *(trial_file + c for c in companions)}:
                return trial_file
    return None


def trial_file_in(folder: str | Path) -> str | None:
    """The name of the first trial file (or SQLite companion) in ``folder``; None when it
    holds none, or is no folder."""
    folder = Path(folder)
    for trial_file in TRIAL_FILES:
        companions = SQLITE_COMPANIONS if trial_file.endswith(".sqlite") else ()
        for name in (trial_file, *(trial_file + c for c in companions)):
            if os.path.lexists(folder / name):
                return name
    return None


def check_output(path: str | Path, *, force: bool = False, what: str = "output") -> Path:
    """Refuse an output path that would destroy data; return it as a ``Path``.

    Call it before any long work, so a bad ``--out`` fails at once.

    Parameters
    ----------
    path : where the output would go.
    force : allow replacing an existing file (never a trial file).
    what : what is written, for the message (``"report"``, ``"export"``).

    Raises
    ------
    OutputError : ``path`` is a trial file, a folder, in a folder that does not exist, or
        an existing file and ``force`` is False.

    Example
    -------
    >>> check_output("mytrial/diary.sqlite", what="export")  # doctest: +SKIP
    Traceback (most recent call last):
    OutputError: refusing to write the export to mytrial/diary.sqlite: ...
    """
    path = Path(path)
    kind = trial_file_kind(path)
    if kind is not None:
        raise OutputError(
            f"refusing to write the {what} to {path}: that is a trial's {kind}, which it would "
            "destroy; choose another file name"
        )
    if path.is_dir():
        raise OutputError(f"cannot write the {what} to {path}: it is a folder")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write the {what} to {path}: folder {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{path} already exists; use --force to replace it")
    return path


#: What ``tempfile`` puts in the middle of a temporary name.
_RANDOM = r"[a-z0-9_]{8}"
#: A leftover whose maker cannot be told to be gone is removed once it is this old: a
#: temporary file lives for seconds.
LEFTOVER_AGE_S = 24 * 3600.0


def temp_prefix(name: str) -> str:
    """The start of a temporary name for ``name`` made by this process (``.NAME.PID.``)."""
    return f".{name}.{os.getpid()}."


def disk_problem(exc: OSError, folder: Path) -> str:
    """Why a write into ``folder`` failed, in words: a full disk (or quota) is named."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"the disk holding {folder} is full (free some space there and try again)"
    return str(exc.strerror or exc)


def _running(pid: int) -> bool:
    """Whether a process ``pid`` may be running (True when that cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would end it there: the age alone decides
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM), or cannot tell
        return True
    return True


def _abandoned(path: Path, pid: str | None) -> bool:
    """Whether the temporary ``path`` was left by a process that is gone: its PID (from
    its name) no longer runs, or it is older than ``LEFTOVER_AGE_S``."""
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    return (pid is not None and not _running(int(pid))) or age > LEFTOVER_AGE_S


def _leftover_pattern(name: str, suffix: str, companions: tuple[str, ...] = ()) -> re.Pattern:
    # The PID is optional: names made before it was added are removed by age alone.
    tails = "|".join(re.escape(c) for c in companions)
    tail = f"(?:{tails})?" if companions else ""
    return re.compile(rf"\.{re.escape(name)}\.(?:(\d+)\.)?{_RANDOM}{re.escape(suffix)}{tail}")


def remove_leftovers(
    folder: Path, name: str, suffix: str, companions: tuple[str, ...] = ()
) -> list[Path]:
    """Remove the temporary files for ``name`` in ``folder`` that a killed process left.

    Only regular files named exactly ``.NAME.[PID.]XXXXXXXX{suffix}`` (or that name plus
    one of ``companions``, such as SQLite's ``-wal``) are candidates, and only abandoned
    ones (``_abandoned``) go; anything else, a symbolic link of that name included, stays.
    Failures (a read-only medium) are ignored: nothing depends on the tidying.

    Returns
    -------
    list of Path : the files removed.
    """
    pattern = _leftover_pattern(name, suffix, companions)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for entry in names:
        match = pattern.fullmatch(entry)
        path = folder / entry
        if match is None or not _is_file(path) or not _abandoned(path, match.group(1)):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _remove_staging(folder: Path, trial_name: str) -> list[Path]:
    """Remove abandoned staging folders of ``protocol new`` (``.TRIAL.PID.XXXXXXXX.new``) in
    ``folder``, only when they hold nothing but what ``protocol new`` writes there."""
    pattern = _leftover_pattern(trial_name, ".new")
    temp = [_leftover_pattern(n, ".tmp") for n in STAGED_FILES]
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for entry in names:
        match = pattern.fullmatch(entry)
        path = folder / entry
        if match is None or path.is_symlink() or not path.is_dir():
            continue
        if not _abandoned(path, match.group(1)):
            continue
        try:
            inside = os.listdir(path)
        except OSError:
            continue
        if not all(
            (n in STAGED_FILES or any(t.fullmatch(n) for t in temp)) and _is_file(path / n)
            for n in inside
        ):
            continue  # something nof1 did not put there: leave it all
        try:
            shutil.rmtree(path)
        except OSError:
            continue
        removed.append(path)
    return removed


def remove_trial_leftovers(trial_dir: str | Path) -> list[Path]:
    """Remove what a killed nof1 left in and beside a trial folder: the temporary copies of
    ``protocol.toml`` and ``allocation.sealed``, a diary being created
    (``.diary.sqlite.PID.XXXXXXXX.new`` and its ``-wal``/``-shm``/``-journal``), and the
    staging folders of ``protocol new`` (see ``remove_leftovers`` for what is never touched).

    Returns
    -------
    list of Path : what was removed.
    """
    trial_dir = Path(trial_dir)
    removed = []
    if trial_dir.is_dir() and not trial_dir.is_symlink():
        for name in STAGED_FILES:
            removed += remove_leftovers(trial_dir, name, ".tmp")
        removed += remove_leftovers(trial_dir, "diary.sqlite", ".new", SQLITE_COMPANIONS)
        removed += _remove_staging(trial_dir, trial_dir.name)
    if trial_dir.parent.is_dir():
        removed += _remove_staging(trial_dir.parent, trial_dir.name)
    return removed


def replace_file(path: str | Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically, mode 0600 (no trial-file check: see
    ``write_output``).

    Raises
    ------
    OSError : the folder is missing or not writable, the disk is full; no file is left.
    """
    path = Path(path)
    remove_leftovers(path.parent, path.name, ".tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_output(
    path: str | Path, content: bytes, *, force: bool = False, what: str = "output"
) -> Path:
    """Check an output path (``check_output``) and write ``content`` there atomically, 0600.

    Returns
    -------
    Path : the file written.

    Raises
    ------
    OutputError : as ``check_output``, or the file cannot be written (the reason named);
        nothing is left behind then.
    """
    path = check_output(path, force=force, what=what)
    try:
        replace_file(path, content)
    except OSError as exc:
        raise OutputError(
            f"cannot write the {what} to {path}: {disk_problem(exc, path.parent)}"
        ) from None
    return path

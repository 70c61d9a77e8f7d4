"""Writing files: trial files never an output, atomic private writes, whole trials or none."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASS

import nof1.trial.create
from nof1.cli import cli
from nof1.diary.entries import neutralise_text, restore_text
from nof1.diary.store import open_diary
from nof1.errors import OutputError
from nof1.plan.files import check_output, trial_file_kind, write_output
from nof1.trial.writes import import_diary


def _error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("diary.sqlite", "diary.sqlite"),
        ("Diary.SQLite-WAL", "diary.sqlite"),
        ("diary.sqlite-shm", "diary.sqlite"),
        ("diary.sqlite-journal", "diary.sqlite"),
        ("protocol.toml", "protocol.toml"),
        ("allocation.sealed", "allocation.sealed"),
        ("diary.csv", None),
        ("protocol.toml.html", None),
    ],
)
def test_trial_file_names(tmp_path, name, kind):
    assert trial_file_kind(tmp_path / name) == kind


def test_write_output_is_atomic_private_and_leaves_no_temp_file(tmp_path):
    out = write_output(tmp_path / "a.csv", b"x,y\n", what="export")
    assert out.read_bytes() == b"x,y\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with pytest.raises(OutputError, match="already exists; use --force"):
        write_output(out, b"other")
    write_output(out, b"new", force=True)
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    with pytest.raises(OutputError, match="it is a folder"):
        check_output(tmp_path, force=True)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    out = tmp_path / "a.csv"
    out.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("nof1.plan.files.os.fsync", full_disk)
    with pytest.raises(OutputError) as caught:
        write_output(out, b"new", force=True, what="export")
    assert str(caught.value) == (
        f"cannot write the export to {out}: the disk holding {tmp_path} is full (free some "
        "space there and try again)"
    )
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.parametrize(
    "note",
    ["=1+1", "+44 1234", "-2 after a walk", "@SUM(A1)", "'=quoted", "''+x", "'plain", "fine"],
)
def test_neutralised_text_is_reversible(note):
    safe = neutralise_text(note)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore_text(safe) == note


def test_exported_notes_are_neutralised_and_import_back_unchanged(trial, tmp_path):
    notes = ['=HYPERLINK("http://x")', "+1", "-3 today", "@me", "'quoted'", "calm day"]
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["date", "pain", "note"])
        writer.writerows([f"2026-01-{5 + i:02d}", 5, n] for i, n in enumerate(notes))
    import_diary(trial, src)
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["export", "--trial", str(trial), str(out)])
    assert res.exit_code == 0, res.output
    with out.open(newline="") as fh:
        exported = [row["note"] for row in csv.DictReader(fh)]
    assert exported == ["'" + n for n in notes[:4]] + notes[4:]

    fresh = tmp_path / "fresh"
    shutil.copytree(trial, fresh)
    for name in ("diary.sqlite", "diary.sqlite-wal", "diary.sqlite-shm"):
        (fresh / name).unlink(missing_ok=True)
    import_diary(fresh, out)
    with open_diary(fresh) as diary:
        assert [r.entry.note for r in diary.current_entries()] == notes
    assert "formula" in CliRunner().invoke(cli, ["export", "--help"]).output


def test_protocol_new_on_a_full_disk_leaves_nothing_behind(tmp_path, monkeypatch):
    real = nof1.trial.create.replace_file

    def fail_on_seal(path: Path, content: bytes) -> None:
        if path.name == "allocation.sealed":
            path.write_bytes(content[:10])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, content)

    monkeypatch.setattr(nof1.trial.create, "replace_file", fail_on_seal)
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    parent = tmp_path / "trials"
    parent.mkdir()
    target = parent / "t1"
    args = ["protocol", "new", "--template", "generic-ab", "--trial", str(target)]
    args += ["--passphrase-file", str(phrase)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert _error_line(res.output) == (
        f"Error: cannot write the trial to {target}: the disk holding {parent} is full (free "
        "some space there and try again); nothing was written"
    )
    assert list(parent.iterdir()) == []

    # Into a folder that already holds the user's files: they stay, nothing is added.
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]

    # A missing parent folder made for the trial is removed again.
    deep = tmp_path / "a" / "b" / "t"
    res = CliRunner().invoke(cli, [*args[:5], str(deep), *args[6:]])
    assert _error_line(res.output).endswith(
        "is full (free some space there and try again); nothing was written"
    )
    assert res.exit_code == 1
    assert not (tmp_path / "a").exists()


def test_protocol_new_replaces_an_existing_protocol_whole(tmp_path):
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    target = tmp_path / "t"
    base = ["protocol", "new", "--template", "generic-ab", "--trial", str(target)]
    base += ["--passphrase-file", str(phrase)]
    assert CliRunner().invoke(cli, [*base, "--seed", "1"]).exit_code == 0
    first = (target / "protocol.toml").read_bytes()
    res = CliRunner().invoke(cli, [*base, "--seed", "2", "--force", "--blocks", "5"])
    assert res.exit_code == 0, res.output
    assert (target / "protocol.toml").read_bytes() != first
    assert sorted(p.name for p in target.iterdir()) == ["allocation.sealed", "protocol.toml"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_a_new_diary_appears_complete_even_without_hard_links(trial, monkeypatch):
    """Where the file system has no hard links the diary is copied into an O_EXCL file."""

    def no_links(src, dst, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("nof1.diary.schema.os.link", no_links)
    with open_diary(trial) as diary:
        assert diary.current_entries() == []
    assert (trial / "diary.sqlite").stat().st_size > 0
    assert stat.S_IMODE((trial / "diary.sqlite").stat().st_mode) == 0o600
    assert not [p.name for p in trial.iterdir() if p.name.startswith(".")]


def test_a_diary_created_meanwhile_by_another_process_is_kept(trial, monkeypatch):
    """Two first records at once: the second finds the first's diary and uses it."""
    import nof1.diary.schema

    real_link = os.link

    created = {}

    def other_process_first(src, dst, *args, **kwargs):
        monkeypatch.setattr(nof1.diary.schema.os, "link", real_link)
        with open_diary(trial) as other:  # the other process creates the diary...
            created["inode"] = other.path.stat().st_ino
        return real_link(src, dst, *args, **kwargs)  # ...so this link fails: FileExistsError

    monkeypatch.setattr(nof1.diary.schema.os, "link", other_process_first)
    with open_diary(trial) as diary:
        assert diary.path.stat().st_ino == created["inode"]
        assert diary.current_entries() == []
    assert not [p.name for p in trial.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- leftovers of a kill


def _dead_pid() -> int:
    """The process id of a process that has ended (as one killed midway has)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture
def live_pid():
    """The process id of a process still at work (another nof1 writing right now)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _age(path: Path, days: float) -> Path:
    then = os.path.getmtime(path) - days * 86400
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def test_what_a_killed_diary_creation_left_is_removed_by_the_next_command(trial):
    # SIGKILL while the diary was being built: its temporary file and SQLite's companions.
    dead = _dead_pid()
    left = [trial / f".diary.sqlite.{dead}.k3x9_a2b.new{s}" for s in ("", "-wal", "-shm")]
    for path in left:
        path.write_bytes(b"SQLite format 3\x00")
    res = CliRunner().invoke(cli, ["status", "--trial", str(trial), "--date", "2026-01-06"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in trial.iterdir()) == ["allocation.sealed", "protocol.toml"]


def test_a_live_writer_s_temporary_files_and_the_user_s_files_are_left_alone(
    trial, live_pid, freeze_today
):
    dead = _dead_pid()
    kept = [
        trial / f".diary.sqlite.{live_pid}.abcdefgh.new",  # another nof1 creating the diary
        trial / f".protocol.toml.{live_pid}.abcdefgh.tmp",  # ... or writing the protocol
        trial / ".diary.sqlite.abcdefgh.new",  # an older nof1's name (no PID), an hour old
        trial / ".diary.sqlite.backup.new",  # names nof1 never makes
        trial / f".diary.sqlite.{dead}.abcdefgh.old",
        trial / f"diary.sqlite.{dead}.abcdefgh.new",
    ]
    for path in kept:
        path.write_bytes(b"mine")
    _age(kept[2], 1 / 24)
    link = trial / f".diary.sqlite.{dead}.zzzzzzzz.new"  # nof1's form, but a link: kept
    link.symlink_to(trial / "protocol.toml")
    gone = [
        trial / f".protocol.toml.{dead}.x1y2z3w4.tmp",  # a killed write of the protocol
        trial / ".diary.sqlite.oldoldol.new",  # an older nof1's leftover, two days old
    ]
    for path in gone:
        path.write_bytes(b"half")
    _age(gone[1], 2)
    freeze_today(date(2026, 1, 5))
    res = CliRunner().invoke(
        cli, ["record", "--trial", str(trial), "--date", "2026-01-05", "--pain", "4"]
    )
    assert res.exit_code == 0, res.output
    names = {p.name for p in trial.iterdir()}
    assert names == {"allocation.sealed", "diary.sqlite", "protocol.toml", link.name} | {
        p.name for p in kept
    }
    assert link.is_symlink() and (trial / "protocol.toml").exists()


def test_what_a_killed_protocol_new_left_is_removed_by_the_next_one(tmp_path, live_pid):
    phrase = tmp_path / "phrase.txt"
    phrase.write_text(PASS + "\n")
    parent = tmp_path / "trials"
    parent.mkdir()
    dead = _dead_pid()
    staging = parent / f".t1.{dead}.ab12cd34.new"  # killed after writing the protocol
    staging.mkdir()
    (staging / "protocol.toml").write_text("[trial]\n")
    (staging / f".allocation.sealed.{dead}.zz99yy88.tmp").write_bytes(b"{")
    mine = parent / f".t1.{dead}.qq11ww22.new"  # the same form, but holding the user's file
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    running = parent / f".t1.{live_pid}.rr22tt33.new"  # a protocol new still at work
    running.mkdir()
    args = ["protocol", "new", "--template", "generic-ab", "--trial", str(parent / "t1")]
    res = CliRunner().invoke(cli, [*args, "--passphrase-file", str(phrase)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in parent.iterdir()) == sorted([mine.name, running.name, "t1"])
    assert (mine / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (parent / "t1").iterdir()) == [
        "allocation.sealed", "protocol.toml"
    ]  # fmt: skip

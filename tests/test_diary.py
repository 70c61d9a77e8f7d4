"""Diary stage: the append-only SQLite diary, its checks, import/export, unblinding, status."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import PASS, START, dump

from nof1.diary.entries import Entry, make_entry
from nof1.diary.schema import DIARY_FILE, SCHEMA_VERSION
from nof1.diary.store import open_diary
from nof1.errors import BlindingError, DiaryError, ProtocolError
from nof1.plan.sealing import Allocation, open_allocation
from nof1.trial.create import create_trial
from nof1.trial.status import trial_status
from nof1.trial.writes import import_diary, record_day, unblind_trial

END = date(2026, 4, 26)  # the last day of the shared trial (conftest.py)


# ------------------------------------------------------------------ the file itself


def _open(trial: Path) -> None:
    with open_diary(trial):
        pass


def test_new_diary_is_private_wal_and_current_version(trial):
    record_day(trial, "2026-01-06", {"pain": "5"})
    path = trial / DIARY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for side in (path.with_name(DIARY_FILE + "-wal"), path.with_name(DIARY_FILE + "-shm")):
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600
    with open_diary(trial) as diary:
        con = diary._con
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


def test_diary_readable_by_others_is_refused(trial):
    record_day(trial, "2026-01-06", {"pain": "5"})
    os.chmod(trial / DIARY_FILE, 0o644)
    with pytest.raises(DiaryError, match=r"mode 0644, readable by others; run `chmod 600"):
        _open(trial)


def test_diary_from_a_newer_nof1_is_refused(trial):
    record_day(trial, "2026-01-06", {"pain": "5"})
    con = sqlite3.connect(trial / DIARY_FILE)
    con.execute("PRAGMA user_version = 99")
    con.close()
    newer = rf"schema version 99, newer than this nof1 reads \({SCHEMA_VERSION}\)"
    with pytest.raises(DiaryError, match=newer):
        _open(trial)


def test_a_file_that_is_not_a_diary_is_refused(trial):
    fd = os.open(trial / DIARY_FILE, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"this is not sqlite at all, just some text " * 20)
    os.close(fd)
    with pytest.raises(DiaryError, match="is not a readable nof1 diary"):
        _open(trial)


def test_entries_and_unblinding_cannot_be_updated_or_deleted(trial):
    record_day(trial, "2026-01-06", {"pain": "5"})
    con = sqlite3.connect(trial / DIARY_FILE)
    for sql in ("UPDATE entries SET outcomes = '{}'", "DELETE FROM entries"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(sql)
    con.close()
    assert [r.entry.values for r in _current(trial)] == [{"pain": 5.0}]


def test_a_writer_busy_past_the_timeout_gives_a_clear_error(trial, monkeypatch):
    record_day(trial, "2026-01-06", {"pain": "5"})
    before = dump(trial)
    monkeypatch.setattr("nof1.diary.schema.BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(trial / DIARY_FILE, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(DiaryError, match=r"^cannot write .*diary.sqlite: database is locked$"):
            record_day(trial, "2026-01-07", {"pain": "5"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert dump(trial) == before


def test_missing_trial_folder(tmp_path):
    with pytest.raises(ProtocolError, match="no trial folder at"):
        record_day(tmp_path / "nope", "2026-01-06", {"pain": "5"})
    assert not (tmp_path / "nope").exists()


# ------------------------------------------------------------------ entries and their checks


def _current(trial):
    with open_diary(trial) as diary:
        return diary.current_entries()


@pytest.mark.parametrize(
    ("day", "values", "extra", "message"),
    [
        ("2026-01-06", {"pain": "11"}, {}, "pain score 11 is outside 0-10"),
        ("2026-01-06", {"pain": "-0.5"}, {}, "pain score -0.5 is outside 0-10"),
        ("2026-01-06", {"pain": "bad"}, {}, "pain score 'bad' is not a number"),
        ("2026-01-06", {"pain": "nan"}, {}, "pain score 'nan' is not a plain decimal number"),
        (
            "2026-01-06",
            {"mood": "3"},
            {},
            "unknown outcome 'mood'; this protocol records: pain, side_effects",
        ),
        (
            "2026-01-06",
            {"side_effects": "maybe"},
            {},
            "side_effects must be yes or no, not 'maybe'",
        ),
        (
            "2026-04-27",
            {"pain": "3"},
            {},
            "date 2026-04-27 is after the trial's last day 2026-04-26",
        ),
        (
            "2026-01-04",
            {"pain": "3"},
            {},
            "date 2026-01-04 is before the trial's first day 2026-01-05",
        ),
        ("2026-02-30", {"pain": "3"}, {}, "date '2026-02-30' is not a valid date; use YYYY-MM-DD"),
        ("2026-01-06", {"pain": "3"}, {"guess": "C"}, "guess 'C' must be A, B or unsure"),
        (
            "2026-01-06",
            {"pain": "3"},
            {"adherence": "mostly"},
            "adherence 'mostly' must be yes, no, a share of the planned doses",
        ),
        ("2026-01-06", {}, {"guess": "A"}, "the entry for 2026-01-06 has no outcome value"),
    ],
)
def test_bad_entries_are_refused_without_creating_the_diary(trial, day, values, extra, message):
    with pytest.raises(DiaryError) as err:
        record_day(trial, day, values, **extra)
    assert str(err.value).startswith(message)
    assert not (trial / DIARY_FILE).exists()


def test_make_entry_normalises_values(trial):
    from nof1.plan.protocol import load_protocol

    e = make_entry(
        load_protocol(trial), "2026-01-06", {"pain": "6.5", "side_effects": "Yes"}, "b", "no", " x "
    )
    assert e == Entry(date(2026, 1, 6), {"pain": 6.5, "side_effects": 1.0}, "B", False, "x")


def test_duplicate_day_needs_correct_and_correction_keeps_history(trial):
    record_day(trial, "2026-01-06", {"pain": "5"}, guess="A")
    before = dump(trial)
    with pytest.raises(DiaryError, match="^2026-01-06 already has an entry; use --correct"):
        record_day(trial, "2026-01-06", {"pain": "4"})
    assert dump(trial) == before
    with pytest.raises(DiaryError, match="^2026-01-07 has no entry to correct"):
        record_day(trial, "2026-01-07", {"pain": "4"}, correct=True)
    assert dump(trial) == before

    fix = record_day(trial, "2026-01-06", {"pain": "4"}, correct=True)
    again = record_day(trial, "2026-01-06", {"pain": "3"}, correct=True)
    with open_diary(trial) as diary:
        history = diary.history("2026-01-06")
        current = diary.current_entries()
    assert [r.entry.values["pain"] for r in history] == [5.0, 4.0, 3.0]
    assert [r.current for r in history] == [False, False, True]
    assert [r.supersedes for r in history] == [None, history[0].id, fix.id]
    assert [r.id for r in current] == [again.id]
    # a correction keeps what it does not restate (here the guess)
    assert history[0].entry.guess == "A" and current[0].entry.guess == "A"


# ------------------------------------------------------------------ import and export


def _write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_is_all_or_nothing(trial, tmp_path):
    record_day(trial, "2026-01-05", {"pain": "5"})
    before = dump(trial)
    rows = [f"2026-01-{d:02d},{d % 10},no,A,yes," for d in range(6, 20)]
    rows[7] = "2026-01-13,12,no,A,yes,"  # a bad row in the middle
    csv = _write_csv(tmp_path / "in.csv", ["date,pain,side_effects,guess,adherence,note", *rows])
    with pytest.raises(DiaryError, match=r"in.csv line 9: pain score 12 is outside 0-10$"):
        import_diary(trial, csv)
    assert dump(trial) == before


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["day,pain", "2026-01-06,3"], "line 1: no 'date' column in the header"),
        (
            ["date,pain,mood", "2026-01-06,3,1"],
            "line 1: unknown column 'mood'; expected date, pain, side_effects, guess, adherence, note",
        ),
        (["date,pain", "2026-01-06,3", "2026-01-07,3,4"], "line 3: more cells than header columns"),
        (["date,pain", "2026-01-06,3", "2026-01-06,4"], "line 3: 2026-01-06 is also on line 2"),
        (
            ["date,pain", "2026-01-06,3", "06/01/2026,4"],
            "line 3: date '06/01/2026' is not a date \\(YYYY-MM-DD\\); it looks like DD/MM/YYYY "
            "or MM/DD/YYYY",
        ),
        (["date,pain"], "has no diary rows"),
        (["date,pain", "2026-01-05,2"], "line 2: 2026-01-05 already has an entry"),
    ],
)
def test_bad_csv_imports_nothing(trial, tmp_path, lines, message):
    record_day(trial, "2026-01-05", {"pain": "5"})
    before = dump(trial)
    csv = _write_csv(tmp_path / "in.csv", lines)
    with pytest.raises(DiaryError, match=message):
        import_diary(trial, csv)
    assert dump(trial) == before


def test_export_marks_corrections_and_reimports_to_the_same_diary(trial, tmp_path, _template_trial):
    record_day(
        trial,
        "2026-01-06",
        {"pain": "5", "side_effects": "yes"},
        guess="A",
        adherence="yes",
        note="a, b",
    )
    record_day(trial, "2026-01-06", {"pain": "4"}, correct=True)
    record_day(trial, "2026-01-07", {"pain": "6"}, guess="unsure")
    with open_diary(trial) as diary:
        n = diary.export_csv(tmp_path / "out.csv")
    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert n == 3
    assert list(table.columns) == [
        "id", "date", "pain", "side_effects", "guess", "adherence", "note",
        "recorded_at", "supersedes", "current",
    ]  # fmt: skip
    assert table["current"].tolist() == [0, 1, 1]
    assert table["supersedes"].astype(str).tolist() == ["", "1", ""]
    assert table["note"].tolist() == ["a, b", "a, b", ""]  # the correction kept the note

    other = tmp_path / "other"
    shutil.copytree(_template_trial, other)
    assert import_diary(other, tmp_path / "out.csv") == 2  # the superseded row is skipped
    strip = [
        (r.entry.date, dict(r.entry.values), r.entry.guess, r.entry.adherence)
        for r in _current(trial)
    ]
    again = [
        (r.entry.date, dict(r.entry.values), r.entry.guess, r.entry.adherence)
        for r in _current(other)
    ]
    assert again == strip


# ------------------------------------------------------------------ unblinding


def test_unblinding_before_the_end_needs_early_and_a_reason(tmp_path):
    trial = tmp_path / "now"
    create_trial(trial, "generic-ab", passphrase=PASS, start=date.today(), seed=2)
    record_day(trial, "today", {"pain": "5"})
    before = dump(trial)
    with pytest.raises(
        BlindingError, match="^the last period ends on .*; unblinding before then needs --early"
    ):
        unblind_trial(trial, PASS)
    with pytest.raises(BlindingError, match="^early unblinding needs a --reason"):
        unblind_trial(trial, PASS, early=True)
    assert dump(trial) == before
    _, u = unblind_trial(trial, PASS, early=True, reason="severe diarrhoea")
    assert u.early and u.reason == "severe diarrhoea"
    assert u.arms == open_allocation(trial, PASS).arms


def test_unblind_after_the_end_checks_passphrase_and_is_recorded_once(trial):
    record_day(trial, "2026-01-06", {"pain": "5"})
    before = dump(trial)
    with pytest.raises(BlindingError, match="wrong passphrase"):
        unblind_trial(trial, "not the passphrase")
    assert dump(trial) == before
    with open_diary(trial) as diary:
        assert diary.allocation() is None
    _, u = unblind_trial(trial, PASS)
    assert not u.early
    with open_diary(trial) as diary:
        assert diary.allocation() == open_allocation(trial, PASS)
        with pytest.raises(BlindingError, match="^the trial was already unblinded on"):
            diary.unblind(open_allocation(trial, PASS))
    with pytest.raises(sqlite3.IntegrityError, match="cannot be changed"):
        sqlite3.connect(trial / DIARY_FILE).execute("DELETE FROM unblinding")


def test_a_forged_allocation_is_refused(trial):
    real = open_allocation(trial, PASS)
    forged = Allocation(tuple("B" if a == "A" else "A" for a in real.arms), real.salt)
    with open_diary(trial) as diary:
        with pytest.raises(BlindingError, match="does not match the commitment"):
            diary.unblind(forged)
        assert diary.allocation() is None


def test_open_label_has_nothing_to_unblind(tmp_path):
    create_trial(tmp_path / "open", "magnesium-open", passphrase=None, start=START, seed=3)
    with pytest.raises(BlindingError, match="open-label: there is nothing to unblind"):
        unblind_trial(tmp_path / "open", PASS)


# ------------------------------------------------------------------ status


def test_status_counts_days_and_names_kits_but_never_arms(trial):
    for d in ("2026-01-05", "2026-01-06", "2026-01-08"):
        record_day(trial, d, {"pain": "5"}, guess="A")
    s = trial_status(trial, date(2026, 1, 20))
    assert (s.phase, s.period, s.block, s.kit, s.day_of_period) == ("period", 2, 1, "Kit 2", 2)
    assert s.washout  # days 1-3 of each period
    assert s.days_so_far == 16 and s.days_recorded == 3
    assert len(s.missing) == 12 and s.missing[0] == date(2026, 1, 7)
    assert (s.next_switch, s.next_kit) == (date(2026, 2, 2), "Kit 3")
    assert not s.recorded_today and not s.unblinded
    text = repr(s.to_dict())
    assert "arm" not in text and "Treatment A" not in text and "Control B" not in text

    after = trial_status(trial, date(2026, 6, 1))
    assert (after.phase, after.kit, after.next_switch) == ("after", None, None)
    assert after.days_so_far == (END - START).days + 1
    before = trial_status(trial, date(2025, 12, 1))
    assert (before.phase, before.days_so_far, before.next_kit) == ("before", 0, "Kit 1")


def test_status_never_creates_the_diary(trial):
    trial_status(trial, date(2026, 1, 10))
    assert not (trial / DIARY_FILE).exists()


# ------------------------------------------------------------------ concurrency and crashes


def _record_days(args):
    trial, days, barrier = args
    barrier.wait()
    for d in days:
        record_day(trial, d, {"pain": str(d.day % 10)})


def test_four_processes_recording_at_once_lose_nothing(trial):
    days = [START + timedelta(days=i) for i in range(40)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        pool.map(_record_days, [(trial, days[k::4], barrier) for k in range(4)])
    recorded = [r.entry.date for r in _current(trial)]
    assert recorded == days


_CRASH_SCRIPT = """
import sys, time
from pathlib import Path
import nof1.diary.store as d
from nof1.trial.writes import import_diary
marker = Path(sys.argv[3])
real, n = d._insert_row, [0]
def slow(*args):
    n[0] += 1
    if n[0] == 500:  # half-way through the batch: say so, then hang until killed
        marker.write_text("inserting")
        time.sleep(60)
    return real(*args)
d._insert_row = slow
import_diary(sys.argv[1], sys.argv[2])
"""


def test_a_killed_import_leaves_the_diary_as_it_was(tmp_path):
    trial = tmp_path / "long"
    create_trial(
        trial, "generic-ab", passphrase=PASS, start=START, seed=4, blocks=30, period_days=20
    )
    record_day(trial, START, {"pain": "5"})
    before = dump(trial)
    days = [START + timedelta(days=i) for i in range(1, 1000)]
    csv = _write_csv(tmp_path / "big.csv", ["date,pain", *(f"{d},{d.day % 10}" for d in days)])
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASH_SCRIPT, str(trial), str(csv), str(marker)]
    )
    deadline = time.monotonic() + 30
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the import never reached the middle of its batch"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert dump(trial) == before
    con = sqlite3.connect(trial / DIARY_FILE)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert import_diary(trial, csv) == len(days)  # and the diary still works

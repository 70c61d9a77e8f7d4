"""Every path into the diary obeys the same rules (issue 21, attack 5 and what was seen beside it).

Attack 5: ``nof1 import`` skipped the recall rule. It accepted future days and days missed
weeks ago and marked none of them, so a whole diary could be typed in ahead of time, or at
the end while still blinded, and look clean. Also seen: ``status``, a command that only
reads, turned another program's SQLite database in place of ``diary.sqlite`` into a nof1
diary; and ``record`` and ``status`` went on under a ``protocol.toml`` that was a symbolic
link to another trial's protocol.

Each attack ends refused (one ``Error:`` line, exit 1, every file of the trial folder
byte-identical: ``test_tamper.refused``) or shown in red in the report.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_tamper import (
    DESIGN,
    PASS,
    START,
    _make_trial,
    _text,
    banner,
    item,
    refused,
    report_page,
    run,
    snapshot,
)

from nof1.analysis.analyze import analyze_trial
from nof1.diary.schema import DIARY_FILE
from nof1.plan.sealing import open_allocation
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.writes import record_day, unblind_trial

#: The CLI's today in the import tests: day 21 of the trial (``conftest``'s, from START).
TODAY = START + timedelta(days=20)


def _days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


def _csv(path: Path, days: list[date], pain: float = 5) -> Path:
    path.write_text("date,pain\n" + "".join(f"{d},{pain:g}\n" for d in days))
    return path


# ====================================================== import obeys the recall rule
# Attack 5: days ahead of today are refused; days entered more than 3 days after their day
# are kept, but only as late entries, marked and counted.


def test_import_refuses_a_day_after_today(trial, tmp_path, freeze_today):
    freeze_today(TODAY)
    ahead = _csv(tmp_path / "ahead.csv", _days(START, 22))  # its last row is tomorrow
    tomorrow = TODAY + timedelta(days=1)
    expected = f"Error: {ahead} line 23: date {tomorrow} is in the future (today is {TODAY})"
    assert refused(trial, "import", "--trial", trial, ahead) == expected
    assert not (trial / DIARY_FILE).exists()  # refused before the diary is created
    record_day(trial, START, {"pain": 5}, today=START)
    for args in ([], ["--correct"]):
        assert refused(trial, "import", "--trial", trial, *args, ahead) == expected


def test_a_whole_diary_typed_in_ahead_of_time_is_refused(trial, tmp_path, freeze_today):
    p = open_trial(trial).protocol
    freeze_today(START)
    whole = _csv(tmp_path / "whole.csv", _days(START, p.n_days))
    line = refused(trial, "import", "--trial", trial, whole)
    assert line == (
        f"Error: {whole} line 3: date {START + timedelta(days=1)} is in the future "
        f"(today is {START})"
    )


def test_import_keeps_old_days_only_as_late_entries(trial, tmp_path, freeze_today):
    freeze_today(TODAY)
    days = _days(START, 21)  # up to today
    res = run("import", "--trial", trial, _csv(tmp_path / "in.csv", days))
    assert res.exit_code == 0, res.output
    diary = open_trial(trial).diary
    # More than 3 days back: late; 1 to 3 days back: recall, as `record` would have it.
    assert [r.entry.date for r in diary.late_entries()] == days[:17]
    assert diary.recall_days() == set(days[17:20])
    out = run("status", "--trial", trial, "--date", TODAY).output.splitlines()
    assert out[1] == (
        "Recorded 21 of 21 days so far, 3 of them recall entries, 17 of them late entries "
        "(entered more than 3 days after the day: the report shows the result without them)."
    )
    assert out[2] == (
        f"Last 28 days: [{' ' * 7}{'l' * 17}rrr#] "
        "(# recorded, r recall, l late, . missing)"  # today is recorded: no '?' to explain
    )
    as_json = json.loads(run("status", "--trial", trial, "--date", TODAY, "--json").output)
    assert (as_json["recall_entries"], as_json["late_entries"]) == (3, 17)
    history = run("history", "--trial", trial, "--date", START).output
    assert "[current, late] pain=5" in history
    assert "[current, recall] pain=5" in run("history", "--trial", trial, "--date", days[18]).output


def test_a_whole_diary_typed_in_at_the_end_while_blinded_is_late(trial, tmp_path, freeze_today):
    p = open_trial(trial).protocol
    end = p.end + timedelta(days=1)
    freeze_today(end)
    res = run("import", "--trial", trial, _csv(tmp_path / "in.csv", _days(START, p.n_days)))
    assert res.exit_code == 0, res.output
    out = run("status", "--trial", trial, "--date", end).output
    assert f"Recorded {p.n_days} of {p.n_days} days so far, 3 of them recall entries, " in out
    assert f"{p.n_days - 3} of them late entries" in out


def test_a_correction_made_later_is_a_late_entry(trial, tmp_path, freeze_today):
    for d in _days(START, 2):
        record_day(trial, d, {"pain": 5}, today=d)
    freeze_today(START + timedelta(days=10))
    res = run("record", "--trial", trial, "--date", START, "--pain", "2", "--correct")
    assert res.exit_code == 0, res.output
    later = _csv(tmp_path / "fix.csv", [START + timedelta(days=1)], pain=1)
    res = run("import", "--trial", trial, "--correct", later)
    assert res.exit_code == 0, res.output
    diary = open_trial(trial).diary
    assert [r.entry.values["pain"] for r in diary.current_entries()] == [2, 1]
    assert [r.entry.values["pain"] for r in diary.late_entries()] == [2, 1]
    # Without the late entries each day keeps what was recorded on time.
    assert [r.entry.values["pain"] for r in diary.current_entries(without_late=True)] == [5, 5]
    history = run("history", "--trial", trial, "--date", START).output.splitlines()
    assert "[superseded] pain=5" in history[0] and "[current, late] pain=2" in history[1]


@pytest.fixture
def late_trial(tmp_path, freeze_today) -> Path:
    """A finished, unblinded trial (3 blocks of 7-day periods, about 1.5 points less pain
    on A) whose first two blocks were recorded day by day and whose last block was typed
    in at the end, while still blinded, with a better score on every day."""
    folder = tmp_path / "late"
    p = create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=1, **DESIGN)
    arms = open_allocation(folder, PASS).arms
    rng = np.random.default_rng(1)
    last = []
    for d in _days(p.start, p.n_days):
        period = p.day_info(d).period
        pain = float(np.clip(np.round(5.5 - 1.5 * (arms[period.index - 1] == "A")
                                      + rng.normal(0, 1)), 0, 10))  # fmt: skip
        if period.block < 3:
            record_day(folder, d, {"pain": pain}, today=d)
        else:
            last.append(f"{d},{max(pain - 3, 0):g}")
    (tmp_path / "block3.csv").write_text("date,pain\n" + "\n".join(last) + "\n")
    freeze_today(p.end + timedelta(days=1))
    res = run("import", "--trial", folder, tmp_path / "block3.csv")
    assert res.exit_code == 0, res.output
    unblind_trial(folder, PASS, today=p.end + timedelta(days=1))
    return folder


def test_late_entries_are_shown_in_red_with_the_result_without_them(late_trial):
    n = 2 * DESIGN["period_days"] - 3  # block 3 but its last 3 days (recall entries)
    without = analyze_trial(late_trial, without_late=True, seed=1).summary
    page = report_page(late_trial)
    assert banner(page) == ""  # nothing was tampered with: the diary says what happened
    summary = item(page, "summary-late")
    assert summary.startswith(
        f"{n} diary entries were made more than 3 days after their day (late entries: "
        "imported or corrected later, included above); without them: effect "
        f"{without.mean:+.1f} (95% interval"
    )
    assert f'<span class="bad">{n} diary entries were made more than 3 days' in page
    note = re.search(r'<div class="note" id="late-entries">(.*?)</div>', page, re.S).group(1)
    assert note.count("<tr><td>#") == n
    assert f"an effect of {without.mean:+.1f}" in _text(note)
    cells = re.findall(
        r'<span class="chip [AB]">[AB]</span>[^<]*</td>((?:<td class="n">.*?</td>){7})', page
    )
    late_cells = [_text(re.findall(r'<td class="n">(.*?)</td>', row)[3]) for row in cells]
    assert sum(map(int, late_cells)) == n
    assert "they are analysed too, and the result without them is shown beside it" in _text(page)
    said = " ".join(run("analyze", "--trial", late_trial).output.split())
    assert (
        f"Late entries: {n} diary entries were made more than 3 days after their day "
        "(imported or corrected later) and are included here; `nof1 report` shows the "
        "result without them."
    ) in said


def test_unmarking_a_late_entry_outside_nof1_breaks_the_chain(late_trial):
    con = sqlite3.connect(late_trial / DIARY_FILE)
    row_id, day = con.execute("SELECT id, date FROM entries WHERE late = 1 LIMIT 1").fetchone()
    con.execute("DROP TRIGGER entries_no_update")
    con.execute("UPDATE entries SET late = 0")
    con.commit()
    con.close()
    problem = f"diary entry #{row_id} ({day}) was changed"
    line = refused(late_trial, "analyze", "--trial", late_trial)
    assert line.startswith("Error: nof1 will not analyse this trial: ") and problem in line
    assert problem in banner(report_page(late_trial))


def test_a_diary_kept_on_time_states_it_has_no_late_entries(tmp_path):
    folder = tmp_path / "honest"
    _make_trial(folder)
    page = report_page(folder)
    assert 'id="summary-late"' not in page and 'id="late-entries"' not in page
    assert "Late entries were made more than 3 days after their day" in _text(page)
    assert "this diary has none" in _text(page)
    assert "Late entries" not in run("analyze", "--trial", folder).output


# ====================================================== read-only commands never write
# Also seen: `status` made a nof1 diary of another program's SQLite database.


def _foreign(path: Path, user_version: int) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.execute("INSERT INTO notes VALUES ('not a diary')")
    con.execute(f"PRAGMA user_version = {user_version}")
    con.commit()
    con.close()
    path.chmod(0o600)


@pytest.mark.parametrize("user_version", [0, 2])
def test_a_foreign_sqlite_database_is_not_a_diary(trial, tmp_path, freeze_today, user_version):
    freeze_today(START)
    path = trial / DIARY_FILE
    _foreign(path, user_version)
    phrase = tmp_path / "pass.txt"
    phrase.write_text(PASS + "\n")
    t = str(trial)
    for args in (
        ["status", "--trial", t, "--date", START],
        ["status", "--trial", t, "--json"],
        ["history", "--trial", t, "--date", START],
        ["export", "--trial", t, tmp_path / "e.csv"],
        ["export", "--trial", t, "--anonymise", tmp_path / "a.csv"],
        ["analyze", "--trial", t],
        ["report", "--trial", t, "--out", tmp_path / "r.html"],
        ["record", "--trial", t, "--date", START, "--pain", "5"],
        ["import", "--trial", t, _csv(tmp_path / "in.csv", [START])],
        ["unblind", "--trial", t, "--passphrase-file", phrase, "--early", "--reason", "x"],
    ):
        line = refused(trial, *args)
        assert line == (
            f"Error: {path} is not a nof1 diary (an SQLite database without nof1's tables); "
            "nof1 leaves it as it is: move it away to start an empty diary"
        ), args
    con = sqlite3.connect(path)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    assert con.execute("PRAGMA user_version").fetchone()[0] == user_version
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never made WAL
    con.close()
    assert not any((tmp_path / name).exists() for name in ("e.csv", "a.csv", "r.html"))


# ================================================== the protocol is the diary's own
# Also seen: `record` and `status` went on under another trial's protocol.toml.


@pytest.fixture
def other(tmp_path) -> Path:
    """Another trial of the same design and dates, with its own allocation."""
    folder = tmp_path / "other"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=2)
    return folder


@pytest.fixture
def recorded(trial) -> Path:
    """The blinded trial of ``conftest`` with its first day recorded."""
    record_day(trial, START, {"pain": 5}, today=START)
    return trial


def test_a_symlinked_protocol_is_not_followed(recorded, other, tmp_path, freeze_today):
    freeze_today(START + timedelta(days=1))
    path = recorded / "protocol.toml"
    path.unlink()
    path.symlink_to(other / "protocol.toml")
    before = snapshot(other)
    t = str(recorded)
    day = START + timedelta(days=1)
    for args in (
        ["record", "--trial", t, "--date", day, "--pain", "5"],
        ["import", "--trial", t, _csv(tmp_path / "in.csv", [day])],
        ["status", "--trial", t],
        ["history", "--trial", t, "--date", START],
        ["export", "--trial", t, tmp_path / "e.csv"],
        ["analyze", "--trial", t],
        ["report", "--trial", t, "--out", tmp_path / "r.html"],
        ["protocol", "show", "--trial", t],
    ):
        line = refused(recorded, *args)
        assert line == (
            f"Error: {path} is a symbolic link; nof1 reads only a protocol file itself, never "
            "a link (put the file it points to in its place)"
        ), args
    assert path.is_symlink() and snapshot(other) == before


def _created(folder: Path) -> str:
    return tomllib.loads((folder / "protocol.toml").read_text(encoding="utf-8"))["nof1"]["created"]


def test_another_trials_protocol_is_refused_by_record_and_status(recorded, other, tmp_path,
                                                                 freeze_today):  # fmt: skip
    freeze_today(START + timedelta(days=1))
    changed = "blinding.commitment, blinding.helper_key, blinding.sealed_sha256"
    created = [_created(folder) for folder in (recorded, other)]  # to the second
    changed += ", nof1.created" if created[0] != created[1] else ""
    shutil.copy2(other / "protocol.toml", recorded / "protocol.toml")
    t = str(recorded)
    day = START + timedelta(days=1)
    for args, action in (
        (["record", "--trial", t, "--date", day, "--pain", "5"], "record in this diary"),
        (["record", "--trial", t, "--date", START, "--pain", "4", "--correct"],
         "record in this diary"),
        (["import", "--trial", t, _csv(tmp_path / "in.csv", [day])], "import into this diary"),
        (["status", "--trial", t], "show the status"),
        (["status", "--trial", t, "--json"], "show the status"),
    ):  # fmt: skip
        line = refused(recorded, *args)
        assert line == (
            f"Error: nof1 will not {action}: protocol.toml is not the one the diary was "
            f"started with (changed: {changed}); put back the protocol.toml the diary was "
            "started with"
        ), args

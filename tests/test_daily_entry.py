"""The daily entry (issue 22): interactive corrections keep what Enter keeps, guesses by a
treatment's name, partial adherence from the diary to the pooled file, the new passphrase.

The bad-input cases of the same area (one ``Error:`` line, nothing changed) are in
``tests/test_tracebacks.py``, section "issue 22: the daily entry".
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import PASS, START, dump

from nof1.analysis.series import trial_table
from nof1.cli import cli
from nof1.diary.entries import Entry, parse_adherence, parse_guess
from nof1.diary.schema import DIARY_FILE, SCHEMA_VERSION
from nof1.diary.store import open_diary
from nof1.errors import DiaryError
from nof1.plan.protocol import load_protocol
from nof1.plan.sealing import open_allocation
from nof1.report.build import _completeness
from nof1.research.anonymise import anonymise_trial, export_anonymised
from nof1.research.pool import read_anonymised
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.integrity import check_trial
from nof1.trial.writes import import_diary, record_day, unblind_trial

#: The diary commands' today in these tests: generic-ab's first period, day 4.
TODAY = date(2026, 1, 8)
DAY = "2026-01-06"


@pytest.fixture(autouse=True)
def _today(freeze_today):
    freeze_today(TODAY)


def run(*args: object, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


# ------------------------------------------------------------------ interactive entry


def test_a_yes_no_question_has_no_default_and_asks_again_on_enter(trial):
    # pain 6; side effects: Enter, Enter (asked again each time), then yes; guess b;
    # adherence 0.5; a note
    answers = "6\n\n\nyes\nb\n0.5\nfelt ok\n"
    result = run("record", "--trial", trial, "--date", DAY, input=answers)
    assert result.exit_code == 0, result.output
    assert result.output.count("Did you notice any side effect today? (yes/no): ") == 3
    assert result.output.endswith(
        f"Recorded for {DAY}: pain=6 side_effects=yes guess=B adherence=0.5 note='felt ok'\n"
    )


def test_an_interactive_correction_shows_each_value_and_enter_keeps_it(trial):
    answers = "6\nyes\nb\n3/4\nfelt ok\n"
    assert run("record", "--trial", trial, "--date", DAY, input=answers).exit_code == 0
    before = dump(trial)
    result = run("record", "--trial", trial, "--date", DAY, "--correct", input="\n" * 5)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: Nothing changed: the entry for {DAY} already holds these values.\n"
    )
    for shown in (
        "(0-10) [6]: ",
        "(yes/no) [yes]: ",
        "or unsure? [B]: ",
        "1/2) [0.75]: ",
        "Note [felt ok]: ",
    ):
        assert shown in result.stdout, shown
    assert dump(trial) == before  # not stored: the diary is as it was
    # Enter keeps every value but the one retyped.
    result = run("record", "--trial", trial, "--date", DAY, "--correct", input="7\n" + "\n" * 4)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"Correction recorded for {DAY}: pain=7 side_effects=yes guess=B adherence=0.75 "
        "note='felt ok'"
    )


def test_after_unblinding_a_correction_does_not_ask_the_guess_and_keeps_it(trial):
    answers = "6\nyes\nb\n1\n\n"
    assert run("record", "--trial", trial, "--date", DAY, input=answers).exit_code == 0
    unblind_trial(trial, PASS, early=True, reason="a flare", today=TODAY)
    # pain 7, then Enter on the side effects, the adherence and the note: no guess asked.
    result = run(
        "record", "--trial", trial, "--date", DAY, "--correct", "--after-unblinding",
        "--reason", "misread the scale", input="7\n\n\n\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unsure?" not in result.stdout  # the patient now knows: a guess would mean nothing
    assert result.stdout.splitlines()[-1] == (
        f"Correction recorded for {DAY}: pain=7 side_effects=yes guess=B adherence=yes"
    )


def test_an_interactive_correction_keeps_what_was_not_answered(trial):
    assert run("record", "--trial", trial, "--date", DAY, "--pain", "5").exit_code == 0
    before = dump(trial)
    result = run("record", "--trial", trial, "--date", DAY, "--correct", input="\n" * 5)
    assert result.stderr == (
        f"Error: Nothing changed: the entry for {DAY} already holds these values.\n"
    )
    assert "(yes/no, Enter to skip): " in result.stdout  # nothing to keep, and never 'no'
    assert dump(trial) == before
    result = run("record", "--trial", trial, "--date", DAY, "--correct", input="\nno\n\n\n\n")
    assert result.stdout.splitlines()[-1] == (
        f"Correction recorded for {DAY}: pain=5 side_effects=no"
    )


def test_a_correction_that_changes_nothing_is_not_stored_by_the_library(trial):
    record_day(trial, DAY, {"pain": "5"}, guess="A", adherence="yes")
    before = dump(trial)
    with pytest.raises(DiaryError, match=f"^Nothing changed: the entry for {DAY} already"):
        record_day(trial, DAY, {"pain": "5.0"}, guess="a", adherence="1", correct=True)
    assert dump(trial) == before


def test_an_import_with_correct_stores_only_the_rows_that_change(trial, tmp_path):
    csv = tmp_path / "days.csv"
    csv.write_text("date,pain,guess\n2026-01-05,4,A\n2026-01-06,5,\n")
    import_diary(trial, csv)
    csv.write_text("date,pain,guess\n2026-01-05,4,A\n2026-01-06,6,\n")
    result = run("import", "--trial", trial, "--correct", csv)
    assert result.output == f"Imported 1 entries from {csv}.\n"
    with open_diary(trial) as diary:
        assert len(diary.history("2026-01-05")) == 1 and len(diary.history(DAY)) == 2


# ------------------------------------------------------------------ guesses


def _kit_one_on(arm: str, tmp_path: Path) -> Path:
    """A blinded magnesium-crps trial whose first kit holds ``arm`` (drawn until it does)."""
    for i in range(40):
        folder = tmp_path / f"{arm}{i}"
        create_trial(folder, "magnesium-crps", passphrase=PASS, start=START, seed=i,
                     run_in_days=0, blocks=2)  # fmt: skip
        if open_allocation(folder, PASS).arms[0] == arm:
            return folder
    raise AssertionError(f"no allocation with kit 1 on {arm}")  # 2**-40


def test_a_guess_may_name_a_treatment_and_says_nothing_of_the_allocation(tmp_path):
    outputs = []
    for arm in ("A", "B"):
        folder = _kit_one_on(arm, tmp_path)
        said = [
            run("record", "--trial", folder, "--date", START, "--pain", "5",
                "--outcome", "diarrhoea=no", "--guess", "MAGNESIUM").output,
            run("record", "--trial", folder, "--date", START + timedelta(days=1),
                input="5\n\n\nno\nplacebo\nyes\n\n").output,
            run("history", "--trial", folder, "--date", START).output.split("]", 1)[1],
            run("status", "--trial", folder, "--date", TODAY).output,
        ]  # fmt: skip
        outputs.append([text.replace(str(folder), "TRIAL") for text in said])
        entries = [r.entry for r in open_trial(folder).diary.current_entries()]
        assert [e.guess for e in entries] == ["A", "B"]  # the belief, by public arm
    assert outputs[0] == outputs[1]  # whichever arm kit 1 really holds
    assert outputs[0][0] == f"Recorded for {START}: diarrhoea=no pain=5 guess=A\n"
    assert outputs[0][1].endswith(
        f"Recorded for {START + timedelta(days=1)}: diarrhoea=no pain=5 guess=B adherence=yes\n"
    )


def test_guess_names_are_case_insensitive_and_only_with_the_protocol(trial):
    protocol = load_protocol(trial)
    assert parse_guess(" control b ", protocol) == "B"
    assert parse_guess("TREATMENT A", protocol) == "A"
    with pytest.raises(DiaryError, match="^guess 'Treatment A' must be A, B or unsure$"):
        parse_guess("Treatment A")
    with pytest.raises(DiaryError, match=r"or a treatment's name: 'Treatment A', 'Control B'\)$"):
        parse_guess("magnesium", protocol)


# ------------------------------------------------------------------ partial adherence


@pytest.mark.parametrize(
    ("text", "share"),
    [("yes", 1.0), ("No", 0.0), ("0.5", 0.5), (".25", 0.25), ("3/4", 0.75), ("1/2", 0.5),
     ("50%", 0.5), ("100%", 1.0), ("0/2", 0.0), ("1", 1.0), (True, 1.0), ("", None)],
)  # fmt: skip
def test_adherence_may_be_partial(text, share):
    assert parse_adherence(text) == share


def test_partial_adherence_goes_through_diary_export_import_and_report(trial, tmp_path):
    record_day(trial, "2026-01-05", {"pain": "5"}, adherence="3/4")
    record_day(trial, DAY, {"pain": "4"}, adherence="no")
    record_day(trial, "2026-01-07", {"pain": "4"}, adherence="yes")
    out = tmp_path / "out.csv"
    assert run("export", "--trial", trial, out).exit_code == 0
    exported = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(exported["adherence"]) == ["0.75", "no", "yes"]
    history = run("history", "--trial", trial, "--date", "2026-01-05").output
    assert history.rstrip().endswith("pain=5 adherence=0.75")
    # The exported file imports back into a fresh trial unchanged.
    other = tmp_path / "other"
    create_trial(other, "generic-ab", passphrase=PASS, start=START, seed=1)
    import_diary(other, out)
    assert [r.entry.adherence for r in open_trial(other).diary.current_entries()] == [0.75, 0, 1]
    table = trial_table(trial)
    assert str(table["adherence"].dtype) == "Float64"
    assert list(table["adherence"].iloc[:3]) == [0.75, 0.0, 1.0]
    # The report counts the partial day with the missed one (washout days are not counted).
    table = table.assign(washout=False, arm="A")
    (row, _) = _completeness(table, "pain", {"A": "Treatment A", "B": "Control B"})
    assert row["missed_dose"] == 2 and row["dose_unknown"] == len(table) - 3


def test_partial_adherence_is_anonymised_and_pooled_as_a_share(tmp_path):
    folder = tmp_path / "t"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=1, blocks=2,
                 period_days=7, washout_days=0, reproducible=True)  # fmt: skip
    lines = ["date,pain,adherence"] + [
        f"{START + timedelta(days=i)},{i % 5},{('1/2', 'yes', 'no', '')[i % 4]}" for i in range(28)
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    import_diary(folder, tmp_path / "d.csv")
    unblind_trial(folder, PASS, today=date(2026, 3, 1))
    out = tmp_path / "anon.csv"
    export_anonymised(folder, out)
    body = pd.read_csv(out, comment="#", dtype=str, keep_default_na=False)
    assert list(body["adherence"].iloc[:4]) == ["0.5", "1", "0", ""]
    frame, _ = read_anonymised(out)
    assert np.allclose(frame["adherence"].to_numpy()[:3], [0.5, 1, 0])
    assert np.isnan(frame["adherence"].to_numpy()[3])


# ------------------------------------------------------------------ kit answers on run-in days


def test_an_older_diarys_run_in_guess_never_reaches_the_anonymised_export(tmp_path):
    folder = tmp_path / "t"
    p = create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=1, blocks=2,
                     period_days=7, washout_days=0, run_in_days=3)  # fmt: skip
    record_day(folder, START + timedelta(days=3), {"pain": "5"}, guess="A", adherence="yes")
    with open_diary(folder, p) as diary, diary._write():  # as an older nof1 let it be stored
        diary._insert(Entry(START, {"pain": 4.0}, "B", 1.0), correct=False)
    unblind_trial(folder, PASS, today=date(2026, 3, 1))
    frame = anonymise_trial(folder)
    assert list(frame["guess"].iloc[:4]) == ["", "", "", "A"]
    assert frame["adherence"].iloc[:3].isna().all() and frame["adherence"].iloc[3] == 1


# ------------------------------------------------------------------ schema 5


def test_an_older_diary_is_migrated_to_partial_adherence_and_still_verifies(tmp_path):
    folder = tmp_path / "demo"
    legacy = Path(__file__).parent / "data" / "legacy" / "demo-trial"
    shutil.copytree(legacy, folder)
    folder.chmod(0o700)
    for f in folder.iterdir():
        f.chmod(0o600)
    before = open_trial(folder).diary.records  # read as it is (schema 3), not migrated
    con = sqlite3.connect(folder / DIARY_FILE)
    sequence = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
    con.close()
    with open_diary(folder):
        pass  # a writable open migrates
    con = sqlite3.connect(folder / DIARY_FILE)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone() == (
        sequence
    )
    for statement in (
        "UPDATE entries SET note = 'x' WHERE id = 1",
        "DELETE FROM entries WHERE id = 1",
        "INSERT INTO entries (date, outcomes, adherence, recorded_at) VALUES"
        " ('2026-01-01', '{}', 1.5, 'now')",
    ):
        with pytest.raises(sqlite3.DatabaseError):
            con.execute(statement)
    con.close()
    check = check_trial(folder)
    assert check.problems == () and check.chain.ok
    assert open_trial(folder).diary.records == before


# ------------------------------------------------------------------ the new passphrase


def test_a_weak_typed_passphrase_is_asked_again_before_it_is_repeated(tmp_path):
    folder = tmp_path / "t"
    answers = f"12345678\naaaaaaaa\n{PASS}\n{PASS}\n"
    result = run("protocol", "new", "--template", "generic-ab", "--trial", folder, input=answers)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Repeat for confirmation") == 1  # only the good one
    assert "Not accepted: the passphrase must not be only digits" in result.stderr
    assert "Not accepted: the passphrase has only 1 different characters" in result.stderr
    assert open_allocation(folder, PASS).arms

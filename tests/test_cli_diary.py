"""The diary commands: record, status, history, import, export, unblind."""

from __future__ import annotations

import json
import re
import stat
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import PASS, dump

from nof1.analysis.series import trial_table
from nof1.cli import cli
from nof1.diary.schema import DIARY_FILE
from nof1.plan.sealing import open_allocation
from nof1.trial.create import create_trial


@pytest.fixture
def passfile(tmp_path) -> Path:
    p = tmp_path / "pass.txt"
    p.write_text(PASS + "\n")
    return p


#: The CLI's "today" in these tests, unless a test sets another (``today`` fixture).
TODAY = date(2026, 1, 8)


@pytest.fixture(autouse=True)
def today(freeze_today):
    """The diary commands' today is ``TODAY``; the fixture sets another day."""
    freeze_today(TODAY)
    return freeze_today


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"


@pytest.fixture
def diary(trial) -> Path:
    """The trial with one recorded day (2026-01-05), so 'unchanged' means something."""
    assert run("record", "--trial", trial, "--date", "2026-01-05", "--pain", "5").exit_code == 0
    return trial


# ------------------------------------------------------------------ bad input, nothing written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pain", "11"], "pain score 11 is outside 0-10"),
        (["--pain", "abc"], "pain score 'abc' is not a number"),
        (
            ["--pain", "3", "--outcome", "mood=2"],
            "unknown outcome 'mood'; this protocol records: pain, side_effects",
        ),
        (["--pain", "3", "--outcome", "mood"], "--outcome 'mood' must look like NAME=VALUE"),
        (["--pain", "3", "--outcome", "side_effects=2"], "side_effects must be yes or no, not '2'"),
        (
            ["--pain", "3", "--guess", "C"],
            "guess 'C' must be A, B or unsure (or a treatment's name: 'Treatment A', 'Control B')",
        ),
        (
            ["--pain", "3", "--adherence", "mostly"],
            "adherence 'mostly' must be yes, no, a share of the planned doses (0.5 or 50%) or "
            "doses taken/planned (1/2)",
        ),
        (
            ["--date", "2027-03-01", "--pain", "3"],
            "date 2027-03-01 is after the trial's last day 2026-04-26",
        ),
        (
            ["--date", "2025-12-31", "--pain", "3"],
            "date 2025-12-31 is before the trial's first day 2026-01-05",
        ),
        (
            ["--date", "2026-13-01", "--pain", "3"],
            "date '2026-13-01' is not a valid date; use YYYY-MM-DD",
        ),
        (
            ["--date", "2026-01-05", "--pain", "3"],
            "2026-01-05 already has an entry; use --correct to record a correction",
        ),
        (
            ["--date", "2026-01-07", "--pain", "3", "--correct"],
            "2026-01-07 has no entry to correct; record it without --correct",
        ),
    ],
)
def test_bad_record_is_refused_and_the_diary_unchanged(diary, args, message):
    before = dump(diary)
    if "--date" not in args:
        args = ["--date", "2026-01-06", *args]
    assert_refused(run("record", "--trial", diary, *args), message)
    assert dump(diary) == before


def test_bad_record_on_a_fresh_trial_creates_no_diary(trial):
    assert_refused(
        run("record", "--trial", trial, "--date", "2026-01-06", "--pain", "12"),
        "pain score 12 is outside 0-10",
    )
    assert not (trial / DIARY_FILE).exists()


def test_missing_trial_folder(tmp_path):
    nope = tmp_path / "nope"
    for args in (
        ["record", "--pain", "3"],
        ["status"],
        ["export", tmp_path / "x.csv"],
        ["import", tmp_path / "x.csv"],
    ):
        result = run(*args, "--trial", nope)
        assert_refused(result, f"no trial folder at {nope}: create one with `nof1 protocol new`")
    assert not nope.exists() and not (tmp_path / "x.csv").exists()


def test_status_with_a_malformed_date(diary):
    assert_refused(
        run("status", "--trial", diary, "--date", "5 Jan"),
        "date '5 Jan' is not a valid date; use YYYY-MM-DD",
    )


def test_export_without_a_diary_writes_nothing(trial, tmp_path):
    assert_refused(
        run("export", "--trial", trial, tmp_path / "out.csv"),
        f"no diary in {trial} yet: record a day first",
    )
    assert not (tmp_path / "out.csv").exists() and not (trial / DIARY_FILE).exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["when,pain", "2026-01-06,3"], "line 1: no 'date' column in the header"),
        (
            ["date,pain,mood", "2026-01-06,3,2"],
            "line 1: unknown column 'mood'; expected date, pain, side_effects, guess, adherence, note",
        ),
        (
            ["date,pain", "2026-01-06,3", "2026-01-07,x", "2026-01-08,4"],
            "line 3: pain score 'x' is not a number",
        ),
        (
            ["date,pain", "2026-01-06,3", "2026-01-07,4", "2026-01-05,4"],
            "line 4: 2026-01-05 already has an entry; use --correct to record a correction",
        ),
    ],
)
def test_malformed_csv_imports_nothing(diary, tmp_path, lines, message):
    csv = tmp_path / "in.csv"
    csv.write_text("\n".join(lines) + "\n")
    before = dump(diary)
    assert_refused(run("import", "--trial", diary, csv), f"{csv} {message}")
    assert dump(diary) == before


def test_import_then_export(diary, tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text(
        "date,pain,side_effects,guess,adherence,note\n2026-01-06,4,yes,unsure,yes,ok\n2026-01-07,3,,,,\n"
    )
    result = run("import", "--trial", diary, csv)
    assert result.exit_code == 0 and result.output == f"Imported 2 entries from {csv}.\n"
    result = run("export", "--trial", diary, tmp_path / "out.csv")
    assert result.exit_code == 0 and "Exported 3 records" in result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["pain"].tolist() == [5.0, 4.0, 3.0]


# ------------------------------------------------------------------ unblinding


def test_unblinding_early_is_refused(tmp_path, passfile, today):
    today(date.today())
    trial = tmp_path / "now"
    create_trial(trial, "generic-ab", passphrase=PASS, start=date.today(), seed=2)
    assert run("record", "--trial", trial, "--pain", "4").exit_code == 0
    before = dump(trial)
    end = trial_table(trial)["date"].max().date()
    assert_refused(
        run("unblind", "--trial", trial, "--passphrase-file", passfile),
        f"the last period ends on {end}; unblinding before then needs --early and a --reason",
    )
    assert_refused(
        run("unblind", "--trial", trial, "--passphrase-file", passfile, "--early"),
        "early unblinding needs a --reason (it is kept in the diary)",
    )
    assert dump(trial) == before
    result = run(
        "unblind", "--trial", trial, "--passphrase-file", passfile, "--early", "--reason", "rash"
    )
    assert result.exit_code == 0 and result.output.startswith("Unblinded (early, ")


def test_unblinding_with_a_wrong_passphrase_is_refused(diary, tmp_path, today):
    today(date.today())
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    before = dump(diary)
    assert_refused(
        run("unblind", "--trial", diary, "--passphrase-file", wrong),
        "cannot open allocation.sealed: wrong passphrase, or the file was altered",
    )
    assert dump(diary) == before


def test_unblind_prints_every_period_and_arms_appear_only_then(diary, passfile, today):
    today(date.today())
    assert trial_table(diary)["arm"].isna().all()
    result = run("unblind", "--trial", diary, "--passphrase-file", passfile)
    assert result.exit_code == 0, result.output
    arms = open_allocation(diary, PASS).arms
    lines = result.output.splitlines()
    assert lines[0].startswith("Unblinded (2") and lines[0].endswith("allocation verified.")
    assert lines[1] == f"Period 1 (block 1, 2026-01-05 to 2026-01-18) Kit 1: {arms[0]} = " + (
        "Treatment A" if arms[0] == "A" else "Control B"
    )
    assert len(lines) == 1 + len(arms) + 1
    # The last line is the unblinding code, for the clinician (tests/test_signed.py).
    assert re.fullmatch(r"Unblinding code: [A-Z2-7]{4}(-[A-Z2-7]{4}){3}\. The helper .*", lines[-1])
    assert tuple(trial_table(diary).groupby("period")["arm"].first()) == arms
    code = lines[-1].split()[2].rstrip(".")
    assert_refused(
        run("unblind", "--trial", diary, "--passphrase-file", passfile),
        f"the trial was already unblinded on {date.today().isoformat()} (code {code}): a "
        "trial is unblinded once; `nof1 analyze` and `nof1 report` use that unblinding",
    )


# ------------------------------------------------------------------ what the patient sees


def test_status_and_export_before_unblinding_show_no_arm(trial, tmp_path, today):
    for d, pain in (("2026-01-05", "5"), ("2026-01-06", "4"), ("2026-01-20", "3")):
        today(date.fromisoformat(d))
        assert (
            run(
                "record", "--trial", trial, "--date", d, "--pain", pain, "--guess", "unsure"
            ).exit_code
            == 0
        )
    text = run("status", "--trial", trial, "--date", "2026-01-20")
    assert text.exit_code == 0
    assert (
        "Take: Kit 2." in text.output
        and "First days of the kit (not analysed): keep to the plan" in text.output
    )
    assert "Recorded 3 of 16 days so far" in text.output
    assert "Next switch: 2026-02-02, to Kit 3." in text.output
    as_json = json.loads(run("status", "--trial", trial, "--date", "2026-01-20", "--json").output)
    assert as_json["kit"] == "Kit 2" and as_json["days_missing"] == 13 and "arm" not in as_json
    assert run("export", "--trial", trial, tmp_path / "out.csv").exit_code == 0
    exported = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert "arm" not in exported.columns
    for output in (text.output, json.dumps(as_json), (tmp_path / "out.csv").read_text()):
        assert "Treatment A" not in output and "Control B" not in output
    cells = set(exported.to_numpy().ravel())
    assert not cells & {"A", "B"}


def test_record_refuses_a_bad_date_before_asking(trial):
    result = run("record", "--trial", trial, "--date", "2027-01-01", input="5\n")
    assert_refused(result, "date 2027-01-01 is after the trial's last day 2026-04-26")
    assert result.stdout == ""
    assert not (trial / DIARY_FILE).exists()


def test_status_before_the_start(trial):
    result = run("status", "--trial", trial, "--date", "2026-01-01")
    assert result.output == (
        "2026-01-01: the trial has not started (first day 2026-01-05).\n"
        f"Next: from 2026-01-05, record every day: nof1 record --trial {trial}\n"
    )


def test_record_asks_when_no_value_is_given(trial):
    answers = "eleven\n6\nmaybe\nyes\nb\n\nfelt ok\n"  # two bad answers, asked again
    result = run("record", "--trial", trial, "--date", "2026-01-06", input=answers)
    assert result.exit_code == 0, result.output
    assert "pain score 'eleven' is not a number" in result.output
    assert "side_effects must be yes or no, not 'maybe'" in result.output
    assert result.output.endswith(
        "Recorded for 2026-01-06: pain=6 side_effects=yes guess=B note='felt ok'\n"
    )


def test_history_shows_the_correction_and_the_file_is_private(diary):
    assert (
        run(
            "record", "--trial", diary, "--date", "2026-01-05", "--pain", "6", "--correct"
        ).exit_code
        == 0
    )
    result = run("history", "--trial", diary, "--date", "2026-01-05")
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "[superseded, recall] pain=5" in lines[0] and "[current] pain=6" in lines[1]
    rows = json.loads(run("history", "--trial", diary, "--date", "2026-01-05", "--json").output)
    assert [(r["values"]["pain"], r["supersedes"], r["current"]) for r in rows] == [
        (5.0, None, False),
        (6.0, rows[0]["id"], True),
    ]
    # The marks the human lines show, in the machine output too.
    assert [(r["recall"], r["late"]) for r in rows] == [(True, False), (False, False)]
    assert stat.S_IMODE((diary / DIARY_FILE).stat().st_mode) == 0o600


def test_correction_changes_only_what_it_restates(tmp_path):
    from datetime import date as _date

    from nof1.diary.store import open_diary
    from nof1.trial.create import create_trial

    trial = tmp_path / "t"
    create_trial(
        trial, "magnesium-crps", passphrase="correct horse battery", start=_date(2026, 1, 5), seed=1
    )
    runner = CliRunner()
    first = runner.invoke(
        cli,
        [
            "record",
            "--trial",
            str(trial),
            "--date",
            "2026-01-06",
            "--pain",
            "6",
            "--outcome",
            "sleep=5",
            "--outcome",
            "diarrhoea=no",
        ],
    )
    assert first.exit_code == 0, first.output
    assert "diarrhoea=no" in first.output
    res = runner.invoke(
        cli, ["record", "--trial", str(trial), "--date", "2026-01-06", "--pain", "7", "--correct"]
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "Correction recorded for 2026-01-06: diarrhoea=no pain=7 sleep=5"
    with open_diary(trial, create=False) as diary:
        old, new = diary.history(_date(2026, 1, 6))
    assert (
        dict(old.entry.values) == {"pain": 6.0, "sleep": 5.0, "diarrhoea": 0.0} and not old.current
    )
    assert dict(new.entry.values) == {"pain": 7.0, "sleep": 5.0, "diarrhoea": 0.0} and new.current

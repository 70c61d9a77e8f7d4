"""A patient's six months, walked through as a new patient would: setup, daily entries,
corrections, missed days, the end of the trial (issue: no surprises from day 1 to the report).
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import PASS, dump

from nof1.analysis.series import trial_table
from nof1.cli import cli
from nof1.diary.schema import _SCHEMA_V1, DIARY_FILE
from nof1.diary.store import open_diary
from nof1.plan.protocol import load_protocol
from nof1.report import trial_report
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, record_day, unblind_trial

#: The patient's today in these tests (the diary commands' clock is fixed to it).
TODAY = date(2027, 3, 10)


def run(*args: object, input: str | None = None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"


@pytest.fixture
def mg(tmp_path, freeze_today) -> Path:
    """A blinded magnesium-crps trial whose 7-day run-in started two days before TODAY."""
    freeze_today(TODAY)
    folder = tmp_path / "mg"
    create_trial(folder, "magnesium-crps", passphrase=PASS, start=TODAY - timedelta(days=2), seed=3)
    return folder


# ------------------------------------------------------------------ corrections


def test_a_correction_may_restate_only_a_note_or_a_guess(mg, freeze_today):
    day = TODAY + timedelta(days=5)  # period 1, Kit 1, day 1 (a run-in day takes no guess)
    freeze_today(day + timedelta(days=1))
    assert run("record", "--trial", mg, "--date", day, "--pain", "5").exit_code == 0
    result = run("record", "--trial", mg, "--date", day, "--note", "typo: meant 4", "--correct")
    assert result.exit_code == 0, result.output
    assert result.output == f"Correction recorded for {day}: pain=5 note='typo: meant 4'\n"
    result = run("record", "--trial", mg, "--date", day, "--guess", "B", "--correct")
    assert result.output == f"Correction recorded for {day}: pain=5 guess=B note='typo: meant 4'\n"
    before = dump(mg)
    assert_refused(
        run("record", "--trial", mg, "--date", day, "--note", "  ", "--correct"),
        f"the correction for {day} changes nothing; give a value, --guess, --adherence or --note",
    )
    assert dump(mg) == before


# ------------------------------------------------------------------ dates


def test_a_future_day_is_refused_and_nothing_written(mg):
    tomorrow = TODAY + timedelta(days=1)
    assert_refused(
        run("record", "--trial", mg, "--date", tomorrow, "--pain", "5"),
        f"date {tomorrow} is in the future (today is {TODAY})",
    )
    assert dump(mg) is None


def test_a_missed_day_is_a_recall_entry_up_to_three_days_back(mg, freeze_today):
    now = TODAY + timedelta(days=4)  # the run-in began 6 days ago
    freeze_today(now)
    old = TODAY - timedelta(days=2)
    assert_refused(
        run("record", "--trial", mg, "--date", old, "--pain", "5"),
        f"date {old} is 6 days ago: a missed day can be recorded up to 3 days back "
        "(as a recall entry); older days stay missing",
    )
    status = run("status", "--trial", mg, "--date", now).output
    assert "Missed days up to 3 days back can still be recorded from memory" in status
    assert f"nof1 record --trial {mg} --date {now - timedelta(days=1)}" in status
    assert "Older days stay missing" in status
    recalled = now - timedelta(days=3)
    assert run("record", "--trial", mg, "--date", recalled, "--pain", "5").exit_code == 0
    assert run("record", "--trial", mg, "--pain", "4").exit_code == 0
    assert "[current, recall] pain=5" in run("history", "--trial", mg, "--date", recalled).output
    assert "recall" not in run("history", "--trial", mg, "--date", now).output
    with open_diary(mg) as diary:
        assert diary.recall_days() == {recalled}
    status = run("status", "--trial", mg, "--date", now).output
    assert "Recorded 2 of 7 days so far, 1 of them recall entries." in status
    assert "[" + " " * 21 + "...r..#]" in status


def test_a_diary_of_schema_1_gains_the_recall_mark(trial):
    con = sqlite3.connect(trial / DIARY_FILE)
    for statement in _SCHEMA_V1:
        con.execute(statement)
    con.execute(
        "INSERT INTO entries (date, outcomes, recorded_at) VALUES ('2026-01-05', '{\"pain\": 5}',"
        " '2026-01-05T20:00:00+00:00')"
    )
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    os.chmod(trial / DIARY_FILE, 0o600)
    with open_diary(trial) as diary:
        (record,) = diary.current_entries()
        assert record.entry.values == {"pain": 5} and not record.recall
        assert diary.recall_days() == set()


def test_protocol_new_refuses_a_start_whose_days_can_no_longer_be_recorded(tmp_path):
    start = date.today() - timedelta(days=10)
    result = run(
        "protocol", "new", "--template", "magnesium-open", "--trial", tmp_path / "t",
        "--start", start,
    )  # fmt: skip
    assert_refused(
        result,
        f"start date {start} is 10 days ago: a day can be recorded at most 3 days back, so the "
        "trial would begin with days that stay missing; start today or later",
    )
    assert not (tmp_path / "t").exists()


# ------------------------------------------------------------------ setup


def test_protocol_new_prints_the_safety_notes_and_the_passphrase_rule_first(tmp_path):
    start = date.today() + timedelta(days=7)
    result = run(
        "protocol", "new", "--template", "magnesium-crps", "--trial", tmp_path / "t",
        "--start", start, input=f"{PASS}\n{PASS}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.index("at least 8 characters") < result.stderr.index("passphrase:")
    out = result.stdout
    assert "Safety (read these with your clinician before you start):" in out
    assert "kidney disease" in out and "bisphosphonates" in out


def test_unblind_refuses_on_the_date_before_asking_for_the_passphrase(mg):
    result = run("unblind", "--trial", mg, input="")
    end = date.fromisoformat(
        run("status", "--trial", mg, "--json").output.split('"last_day": "')[1][:10]
    )
    assert_refused(
        result,
        f"the last period ends on {end}; unblinding before then needs --early and a --reason",
    )
    assert "passphrase" not in result.output


def test_open_label_status_names_the_treatment(tmp_path, freeze_today):
    freeze_today(TODAY)
    folder = tmp_path / "open"
    p = create_trial(folder, "magnesium-open", passphrase=None, start=TODAY, seed=3)
    for period in p.periods[:2]:
        name = p.treatments[p.open_allocation[period.index - 1]].name
        out = run("status", "--trial", folder, "--date", period.start).output
        if name == "No magnesium":
            assert "day 1 of 28. On: No magnesium: nothing to take." in out
        else:
            assert f"day 1 of 28. On: Magnesium ({period.kit})." in out
        assert "Take:" not in out


# ------------------------------------------------------------------ interactive record


def test_interactive_record_shows_the_day_and_asks_no_kit_question_on_run_in(mg):
    answers = "6\n\n\n\nno\n\n"  # pain, allodynia, sleep skipped, diarrhoea no, no note
    result = run("record", "--trial", mg, input=answers)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Diary for {TODAY:%a} {TODAY}: run-in (baseline), no kit.\n")
    assert "kit" not in result.output.split("\n", 1)[1].lower().replace("no kit", "")
    assert "dose" not in result.output
    with open_diary(mg) as diary:
        (entry,) = [r.entry for r in diary.current_entries()]
    assert entry.adherence is None and entry.guess is None


def test_interactive_record_on_a_kit_day_names_the_kit_and_enter_stores_no_dose(mg, freeze_today):
    day = TODAY + timedelta(days=5)  # run-in is TODAY-2 .. TODAY+4: period 1, Kit 1, day 1
    freeze_today(day)
    answers = "6\n\n\nno\n\n\n\n"  # ... guess Enter (unsure), adherence Enter, no note
    result = run("record", "--trial", mg, input=answers)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == f"Diary for {day:%a} {day}: period 1 of 6, Kit 1, day 1 of 28, first days of the kit (not analysed)."
    )
    assert "What do you think Kit 1 holds: A (Magnesium), B (Placebo) or unsure?" in result.output
    assert (
        "Did you take today's doses of Kit 1? (yes, no, or a part: 0.5 or taken/planned, 1/2; "
        "Enter to skip)" in result.output
    )
    assert lines[-1] == f"Recorded for {day}: diarrhoea=no pain=6 guess=unsure"


# ------------------------------------------------------------------ the end of the trial


def test_after_the_last_day_status_says_to_unblind_then_to_analyse(mg, freeze_today, tmp_path):
    end = load_protocol(mg).end
    freeze_today(end + timedelta(days=1))
    out = run("status", "--trial", mg, "--date", end + timedelta(days=1)).output
    assert out.startswith(f"{end + timedelta(days=1)}: the trial is over (last day {end}).\n")
    assert out.splitlines()[-1] == (
        f"Next: the helper unblinds with the passphrase: nof1 unblind --trial {mg}; "
        f"then nof1 analyze --trial {mg} and nof1 report --trial {mg} --out report.html"
    )
    passfile = tmp_path / "pass.txt"
    passfile.write_text(PASS + "\n")
    unblind_trial(mg, PASS, today=end + timedelta(days=1))
    out = run("status", "--trial", mg, "--date", end + timedelta(days=1)).output
    on = datetime.now(UTC).date()
    assert out.startswith(
        f"{end + timedelta(days=1)}: the trial was unblinded on {on}; it is over."
    )
    assert out.splitlines()[-1] == (
        f"Next: nof1 analyze --trial {mg}, then nof1 report --trial {mg} --out report.html"
    )
    assert "nof1 unblind" not in out


@pytest.fixture
def finished_open_trial(tmp_path) -> Path:
    """An open-label trial over, every day recorded; one analysed day of A a recall entry."""
    trial = tmp_path / "open"
    p = create_trial(trial, "magnesium-open", passphrase=None, start=date(2026, 1, 5), seed=5)
    table = trial_table(trial)
    rng = np.random.default_rng(0)
    recall_day = p.periods[p.open_allocation.index("A")].end
    lines = ["date,pain"]
    for d, arm in zip(table["date"].dt.date, table["arm"], strict=True):
        if d != recall_day:
            pain = np.clip(round(6 - 2 * (arm == "A") + rng.normal(0, 1)), 0, 10)
            lines.append(f"{d},{int(pain)}")
    (tmp_path / "diary.csv").write_text("\n".join(lines) + "\n")
    import_diary(trial, tmp_path / "diary.csv")
    record_day(trial, recall_day, {"pain": 4}, today=recall_day + timedelta(days=2))
    return trial


def test_the_report_counts_recall_entries_and_analyze_names_the_treatments(finished_open_trial):
    html = trial_report(finished_open_trial)
    assert '<th class="n">of them recall</th>' in html
    rows = re.findall(
        r'<span class="chip [AB]">[AB]</span>[^<]*</td>((?:<td class="n">\d+</td>){6})', html
    )
    recall_cells = [re.findall(r"\d+", row)[2] for row in rows]
    assert recall_cells == ["1", "0"]
    out = run("analyze", "--trial", finished_open_trial).output
    assert out.splitlines()[1] == "A is Magnesium, B is No magnesium."
    status = run("status", "--trial", finished_open_trial).output
    assert status.splitlines()[-1] == (
        f"Next: nof1 analyze --trial {finished_open_trial}, "
        f"then nof1 report --trial {finished_open_trial} --out report.html"
    )


def test_interactive_record_open_label_asks_no_guess_and_no_dose_on_no_supplement(
    tmp_path, freeze_today
):
    folder = tmp_path / "open"
    p = create_trial(folder, "magnesium-open", passphrase=None, start=TODAY, seed=3)
    for period in p.periods[:2]:
        freeze_today(period.start)
        name = p.treatments[p.open_allocation[period.index - 1]].name
        result = run("record", "--trial", folder, input="6\n\n\nno\n\n\n")
        assert result.exit_code == 0, result.output
        assert result.output.startswith(
            f"Diary for {period.start:%a} {period.start}: period {period.index} of 6, "
            f"{period.kit}, day 1 of 28 ({name}), first days of the kit (not analysed).\n"
        )
        assert "What do you think" not in result.output
        assert ("Did you take today's doses" in result.output) == (name == "Magnesium")


def test_status_is_one_screen_of_where_the_patient_stands(mg, freeze_today):
    day = TODAY + timedelta(days=7)  # period 1, day 3
    freeze_today(day)
    for back in (3, 1):
        d = day - timedelta(days=back)
        assert run("record", "--trial", mg, "--date", d, "--pain", "5").exit_code == 0
    out = run("status", "--trial", mg, "--date", day).output.splitlines()
    assert out[0] == f"{day}: period 1 (block 1), day 3 of 28. Take: Kit 1."
    assert out[1].startswith("First days of the kit (not analysed): keep to the plan and record")
    assert out[2] == "Recorded 2 of 10 days so far, 2 of them recall entries."
    assert (
        out[3] == f"Last 28 days: [{' ' * 18}......r.r?] (# recorded, r recall, . missing, ? today)"
    )
    assert out[-2] == f"Today: not yet recorded. Next: nof1 record --trial {mg}"
    assert out[-1] == f"Next switch: {day + timedelta(days=26)}, to Kit 2."
    assert not any(word in " ".join(out) for word in ("Magnesium", "Placebo", " arm"))

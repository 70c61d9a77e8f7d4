"""What issue 22's audit found still wrong once the contract held: values accepted but stored
or shown wrongly, and reports that crashed on valid input."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from click.testing import CliRunner

from nof1.cli import cli
from nof1.diary.cells import parse_number


def test_a_score_of_minus_zero_is_stored_and_shown_as_zero(trial, freeze_today):
    freeze_today(date(2026, 1, 6))
    res = CliRunner().invoke(
        cli, ["record", "--trial", str(trial), "--date", "2026-01-06", "--pain", "-0"]
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "Recorded for 2026-01-06: pain=0"
    con = sqlite3.connect(trial / "diary.sqlite")
    (outcomes,) = con.execute("SELECT outcomes FROM entries").fetchone()
    con.close()
    assert json.loads(outcomes) == {"pain": 0.0} and "-" not in outcomes
    assert str(parse_number("-0,0", "pain", decimal_comma=True)) == "0.0"


def test_report_csv_of_a_yes_no_outcome_is_written(tmp_path):
    # A yes/no outcome draws no predictive check: the template's figures.ppc was undefined.
    days = "".join(f"{d},{'A' if (d - 1) // 7 % 2 == 0 else 'B'},{d % 2}\n" for d in range(1, 29))
    src = tmp_path / "days.csv"
    src.write_text("day,arm,flare\n" + days)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        cli,
        ["report", "--csv", str(src), "--outcome", "flare", "--treatment", "arm"]
        + ["--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "percentage points" in out.read_text()


def test_the_entry_of_yesterday_says_1_day_ago(trial, freeze_today):
    freeze_today(date(2026, 1, 7))
    res = CliRunner().invoke(
        cli, ["record", "--trial", str(trial), "--date", "2026-01-06"], input="5\n\n\n\n\n"
    )
    assert "(1 day ago: a recall entry)" in res.output, res.output


def test_a_template_saved_with_a_byte_order_mark_is_read(tmp_path):
    from importlib import resources

    from nof1.plan.templates import read_template

    text = (resources.files("nof1") / "templates" / "generic-ab.toml").read_bytes()
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text)
    assert read_template(path)["_source"] == "bom"

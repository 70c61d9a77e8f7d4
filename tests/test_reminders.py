"""``nof1 calendar``: the .ics file parses, falls on the protocol's dates in the patient's
time zone, and reveals nothing about the allocation."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from click.testing import CliRunner
from conftest import PASS
from dateutil.rrule import rrulestr

from nof1.cli import cli
from nof1.plan.reminders import trial_calendar
from nof1.plan.sealing import open_allocation
from nof1.trial.create import create_trial

START = date(2027, 3, 1)
STAMP = datetime(2027, 2, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mg(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cal") / "mg"
    return folder, create_trial(folder, "magnesium-crps", passphrase=PASS, start=START, seed=3)


def events(ics: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(ics)
    return {str(e["uid"]).split("-", 1)[1].split("@")[0]: e for e in cal.walk("VEVENT")}


def test_cli_writes_an_ics_that_parses_with_events_on_the_protocol_dates(mg, tmp_path):
    folder, p = mg
    out = tmp_path / "trial.ics"
    args = ["calendar", "--trial", folder, "--out", out, "--time", "07:30", "--tz", "Europe/Berlin"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {out}: a daily diary reminder at 07:30 (Europe/Berlin)")
    ev = events(out.read_bytes())
    berlin = ZoneInfo("Europe/Berlin")
    daily = ev["daily"]
    first = daily.decoded("dtstart")
    assert first == datetime.combine(p.start, time(7, 30), tzinfo=berlin)
    assert first.tzinfo.key == "Europe/Berlin"
    days = list(rrulestr(daily["rrule"].to_ical().decode(), dtstart=first))
    assert len(days) == p.n_days
    assert days[-1].date() == p.end
    # 07:30 in Berlin on every day, across the change to summer time (2027-03-28)
    assert {d.astimezone(berlin).time() for d in days} == {time(7, 30)}
    assert daily.walk("VALARM")
    assert ev["run-in"].decoded("dtstart") == p.start
    assert ev["run-in"].decoded("dtend") == p.periods[0].start  # exclusive end
    for q in p.periods:
        kit = ev[f"kit-{q.index}"]
        assert kit.decoded("dtstart") == q.start and str(kit["summary"]) == f"Start {q.kit}"
        wash = ev[f"washout-{q.index}"]
        assert (wash.decoded("dtstart"), wash.decoded("dtend")) == (q.start, q.analysis_start)
    assert ev["unblind"].decoded("dtstart") == p.end + timedelta(days=1)
    assert len(ev) == 2 + 2 * len(p.periods) + 1
    assert "calendar" in CliRunner().invoke(cli, ["--help"]).output


def test_without_a_time_zone_the_reminder_follows_the_device(mg):
    _, p = mg
    daily = events(trial_calendar(p, tz=None, stamp=STAMP))["daily"]
    assert daily.decoded("dtstart") == datetime.combine(p.start, time(20, 0))  # floating


def test_the_calendar_reveals_nothing_about_the_allocation(mg, tmp_path):
    folder, p = mg
    text = trial_calendar(p, tz=ZoneInfo("Europe/Berlin"), stamp=STAMP).decode()
    unfolded = text.replace("\r\n ", "").lower()
    for t in p.treatments.values():
        for word in (t.name, t.description, *re.findall(r"[a-z]{5,}", t.description.lower())):
            assert word.lower() not in unfolded, word
    assert not re.search(r"\b(arm|active|control)\b", unfolded)
    # Two trials with different allocations give the same calendar, but for the UIDs.
    arms = open_allocation(folder, PASS).arms
    for seed in range(4, 40):
        other = create_trial(
            tmp_path / f"s{seed}", "magnesium-crps", passphrase=PASS, start=START, seed=seed
        )
        if open_allocation(tmp_path / f"s{seed}", PASS).arms != arms:
            break
    else:
        pytest.fail("no seed gave another allocation")
    other_text = trial_calendar(other, tz=ZoneInfo("Europe/Berlin"), stamp=STAMP).decode()

    def strip(s):
        return re.sub(r"UID:.*", "", s)

    assert strip(other_text) == strip(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time", "25:00"], "reminder time '25:00' is not a time of day; use HH:MM"),
        (["--time", "8pm"], "reminder time '8pm' is not a time of day; use HH:MM"),
        (["--tz", "Mars/Olympus"], "time zone 'Mars/Olympus' is unknown; give an IANA name such as Europe/Berlin"),
    ],
)  # fmt: skip
def test_bad_options_are_one_error_line_and_nothing_written(mg, tmp_path, args, message):
    folder, _ = mg
    out = tmp_path / "trial.ics"
    result = CliRunner().invoke(cli, ["calendar", "--trial", str(folder), "--out", str(out), *args])
    assert result.exit_code == 1 and result.stderr == f"Error: {message}\n"
    assert not out.exists()


# --------------------------------------------- alarms, no folder path, the kit's first days


def _text(e: icalendar.Event) -> str:
    """Everything a calendar app shows of an event: its summary, description and alarms."""
    parts = [str(e.get("summary", "")), str(e.get("description", ""))]
    parts += [str(a.get("description", "")) for a in e.walk("VALARM")]
    return " ".join(parts)


def test_every_kit_switch_look_and_unblinding_has_an_alarm_the_evening_before(tmp_path):
    from nof1.plan.stopping import SequentialRule

    p = create_trial(
        tmp_path / "seq", "magnesium-open", passphrase=None, start=START,
        sequential=SequentialRule((2, 3), (0.9, 0.8), (0.2,)),
    )  # fmt: skip
    ev = events(trial_calendar(p, reminder=time(7, 30), tz=None, stamp=STAMP))
    due = [f"kit-{q.index}" for q in p.periods] + ["look-1", "look-2", "unblind"]
    for key in due:
        (alarm,) = ev[key].walk("VALARM")
        assert str(alarm["action"]) == "DISPLAY"
        # The event starts at midnight: 16:30 before it is 07:30 on the day before.
        assert alarm.decoded("trigger") == -timedelta(hours=16, minutes=30), key
        assert str(alarm["description"]).startswith("Tomorrow: "), key
    assert str(ev["kit-3"].walk("VALARM")[0]["description"]) == "Tomorrow: start Kit 3"
    assert "interim look 1" in str(ev["look-1"].walk("VALARM")[0]["description"])
    assert ev["daily"].walk("VALARM")[0].decoded("trigger") == timedelta(0)
    # The milestones that ask nothing of anyone have no alarm.
    quiet = [k for k in ev if k not in due and k != "daily"]
    assert quiet and all(not ev[k].walk("VALARM") for k in quiet)


def test_no_event_names_the_trial_folder_or_the_home_folder(mg, tmp_path, monkeypatch):
    folder, _ = mg
    monkeypatch.setenv("HOME", str(folder.parent))
    out = tmp_path / "trial.ics"
    result = CliRunner().invoke(cli, ["calendar", "--trial", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cal = icalendar.Calendar.from_ical(out.read_bytes())
    shown = " ".join(_text(e) for e in cal.walk("VEVENT"))
    raw = out.read_bytes().decode().replace("\r\n ", "")
    for text in (shown, raw):
        assert str(folder) not in text and folder.name not in text
        assert str(folder.parent) not in text and "--trial" not in text
    assert "nof1 record, in the trial's folder" in str(
        events(out.read_bytes())["daily"]["description"]
    )


def test_the_first_days_of_a_kit_are_not_called_a_washout(mg):
    _, p = mg
    ev = events(trial_calendar(p, tz=None, stamp=STAMP))
    for q in p.periods:
        first = ev[f"washout-{q.index}"]  # the UID keeps its name: newer files update older
        assert str(first["summary"]) == f"First days of {q.kit} (not analysed)"
        assert str(first["description"]).startswith(
            f"Take {q.kit} and record as usual. Its first {q.washout_days} days are not analysed"
        )
        assert (first.decoded("dtstart"), first.decoded("dtend")) == (q.start, q.analysis_start)
    assert not any("washout" in _text(e).lower() for e in ev.values())


def test_no_first_days_event_when_the_analysis_includes_them(mg):
    import dataclasses

    _, p = mg
    included = dataclasses.replace(
        p, analysis=dataclasses.replace(p.analysis, exclude_washout=False)
    )
    ev = events(trial_calendar(included, tz=None, stamp=STAMP))
    assert not [k for k in ev if k.startswith("washout-")]
    assert not any("not analysed" in _text(e) for e in ev.values())
    assert len(ev) == 2 + len(p.periods) + 1

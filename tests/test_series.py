"""The series stage: the Series hand-off, and the day table / series of a trial folder."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from nof1.analysis.series import Series, series_from_trial, trial_table
from nof1.diary.schema import DIARY_FILE
from nof1.errors import BlindingError, DataError, ProtocolError
from nof1.plan.sealing import Allocation, open_allocation
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, record_day, unblind_trial

PASS = "correct horse battery"
START = date(2026, 1, 5)  # magnesium templates: 7 run-in days, then 6 periods of 28 days


@pytest.fixture(scope="module")
def _templates(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("templates")
    create_trial(root / "blinded", "magnesium-crps", passphrase=PASS, start=START, seed=5)
    create_trial(root / "open", "magnesium-open", passphrase=None, start=START, seed=5)
    return {"blinded": root / "blinded", "open": root / "open"}


@pytest.fixture
def blinded(tmp_path, _templates) -> Path:
    shutil.copytree(_templates["blinded"], tmp_path / "blinded")
    return tmp_path / "blinded"


@pytest.fixture
def open_label(tmp_path, _templates) -> Path:
    shutil.copytree(_templates["open"], tmp_path / "open")
    return tmp_path / "open"


def fill(trial: Path, tmp_path: Path) -> list[date]:
    """Score every trial day but the 10th, with pain = day % 7; a blinded trial's kit days
    (from day 7, after the run-in) have a guess cycling A/B/unsure/-."""
    n_days = len(trial_table(trial))
    days = [START + timedelta(days=i) for i in range(n_days) if i != 10]
    guesses = ["A", "B", "unsure", ""]
    blinded = "blinded" in trial.name
    lines = ["date,pain,sleep,guess"] if blinded else ["date,pain"]
    for d in days:
        i = (d - START).days
        tail = f",{(i + 3) % 11},{guesses[i % 4] if i >= 7 else ''}" if blinded else ""
        lines.append(f"{d},{i % 7}{tail}")
    csv = tmp_path / f"{trial.name}.csv"
    csv.write_text("\n".join(lines) + "\n")
    import_diary(trial, csv)
    return days


# ------------------------------------------------------------------ the Series hand-off


def test_series_checks_its_columns():
    with pytest.raises(DataError, match="series column 'active' has 2 rows, y has 3"):
        Series(
            y=np.zeros(3), active=np.zeros(2), day=np.arange(3), block=np.ones(3), period=np.ones(3)
        )
    with pytest.raises(DataError, match="strictly increasing"):
        Series(y=np.zeros(2), active=np.zeros(2), day=[1, 1], block=[1, 1], period=[1, 1])


# ------------------------------------------------------------------ trial_table


def test_trial_table_before_unblinding(blinded, tmp_path):
    fill(blinded, tmp_path)
    record_day(blinded, START + timedelta(days=20), {"pain": "9"}, correct=True)
    t = trial_table(blinded)
    outcomes = ["pain", "allodynia", "sleep", "diarrhoea"]
    assert list(t.columns) == [
        "date", "day", "block", "period", "kit", "arm", "washout", "run_in", *outcomes, "guess", "adherence",
    ]  # fmt: skip
    assert len(t) == 7 + 6 * 28 and t["day"].tolist() == list(range(len(t)))
    run_in = t[t["run_in"]]
    assert len(run_in) == 7 and (run_in["arm"] == "run-in").all()
    assert run_in["period"].isna().all() and run_in["kit"].isna().all()
    assert t.loc[~t["run_in"], "arm"].isna().all()  # still blinded
    assert t.loc[7, "kit"] == "Kit 1" and t.loc[7 + 28, "kit"] == "Kit 2"
    assert t["washout"].sum() == 6 * 7 and t.loc[7:13, "washout"].all() and not t.loc[14, "washout"]
    assert np.isnan(t.loc[10, "pain"]) and t.loc[11, "pain"] == 11 % 7
    assert t.loc[20, "pain"] == 9  # the correction, not the original
    assert t.loc[8, "guess"] == "A" and t.loc[9, "guess"] == "B" and t.loc[11, "guess"] is not None
    assert t["allodynia"].isna().all()


def test_trial_table_without_a_diary_does_not_create_one(blinded):
    t = trial_table(blinded)
    assert t["pain"].isna().all()
    assert not (blinded / DIARY_FILE).exists()


def test_trial_table_refuses_a_forged_allocation(blinded):
    real = open_allocation(blinded, PASS)
    forged = Allocation(tuple(reversed(real.arms)), real.salt)
    if forged.arms == real.arms:
        forged = Allocation(tuple("A" if a == "B" else "B" for a in real.arms), real.salt)
    with pytest.raises(BlindingError, match="does not match the commitment"):
        trial_table(blinded, allocation=forged)
    t = trial_table(blinded, allocation=real)
    assert tuple(t.dropna(subset=["period"]).groupby("period")["arm"].first()) == real.arms


def test_missing_trial(tmp_path):
    with pytest.raises(ProtocolError, match="no trial folder at"):
        trial_table(tmp_path / "nope")


# ------------------------------------------------------------------ series_from_trial


def test_series_needs_unblinding(blinded, tmp_path):
    fill(blinded, tmp_path)
    with pytest.raises(
        BlindingError, match=r"^the trial is still blinded: run `nof1 unblind` first$"
    ):
        series_from_trial(blinded)


def test_series_after_unblinding(blinded, tmp_path):
    fill(blinded, tmp_path)
    unblind_trial(blinded, PASS)
    arms = open_allocation(blinded, PASS).arms
    s = series_from_trial(blinded)
    assert (s.outcome, s.lower_is_better, s.low, s.high, s.scheme) == (
        "pain",
        True,
        0.0,
        10.0,
        "block",
    )
    assert len(s.y) == 6 * 21  # run-in and washout days left out
    assert s.day[0] == 7 + 7 and np.all(np.diff(s.day) > 0)
    periods, blocks, active = s.period_arms()
    assert periods.tolist() == [1, 2, 3, 4, 5, 6] and blocks.tolist() == [1, 1, 2, 2, 3, 3]
    assert active.tolist() == [int(a == "A") for a in arms]
    np.testing.assert_array_equal(s.y, s.day % 7)
    expected_belief = np.array([{0: 1.0, 1: 0.0, 2: 0.5, 3: np.nan}[d % 4] for d in s.day])
    np.testing.assert_array_equal(s.belief, expected_belief)

    sleep = series_from_trial(blinded, outcome="sleep", washout="include")
    assert (sleep.outcome, sleep.lower_is_better) == ("sleep", False)
    assert len(sleep.y) == 6 * 28
    expected_sleep = np.where(sleep.day == 10, np.nan, (sleep.day + 3) % 11)  # day 10: no entry
    np.testing.assert_array_equal(sleep.y, expected_sleep)
    with pytest.raises(ProtocolError, match="unknown outcome 'mood'"):
        series_from_trial(blinded, outcome="mood")


def test_open_label_series_needs_no_unblinding_and_can_keep_the_run_in(open_label, tmp_path):
    days = fill(open_label, tmp_path)
    assert len(days) == 7 + 6 * 28 - 1
    s = series_from_trial(open_label, include_run_in=True)
    assert len(s.y) == 7 + 6 * 21
    assert s.day[:7].tolist() == list(range(7))
    assert s.active[:7].tolist() == [0] * 7 and s.block[:7].tolist() == [0] * 7
    assert s.period[:7].tolist() == [0] * 7
    arms = trial_table(open_label).dropna(subset=["period"]).groupby("period")["arm"].first()
    assert set(arms) == {"A", "B"}
    assert s.period_arms()[2][1:].tolist() == [int(a == "A") for a in arms]

"""Fixtures shared by the diary tests: a blinded generic-ab trial, copied fresh per test."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from nof1.diary.schema import DIARY_FILE
from nof1.trial.create import create_trial

#: The helper's passphrase of the shared trial.
PASS = "correct horse battery"
#: Its start: generic-ab runs 8 periods of 14 days (3 washout days); the last is 2026-04-26.
START = date(2026, 1, 5)


@pytest.fixture(scope="session")
def _template_trial(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("template") / "trial"
    create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=1)
    return folder


@pytest.fixture
def trial(tmp_path, _template_trial) -> Path:
    """A fresh copy of a blinded generic-ab trial (creating one costs a scrypt run)."""
    folder = tmp_path / "trial"
    shutil.copytree(_template_trial, folder)
    return folder


def dump(trial: Path) -> list[str] | None:
    """Every statement of the trial's diary (SQLite iterdump), None when there is no diary."""
    if not (trial / DIARY_FILE).exists():
        return None
    con = sqlite3.connect(trial / DIARY_FILE)
    try:
        return list(con.iterdump())
    finally:
        con.close()


@pytest.fixture
def freeze_today(monkeypatch):
    """Fix the day the diary commands (``nof1.cli.diary_cmds``) take as today.

    Call it with a date; call it again to move the clock. Library functions that take a
    ``today`` argument are given one explicitly instead.
    """
    current = [date.today()]

    class FixedDate(date):
        @classmethod
        def today(cls) -> date:
            return current[0]

    monkeypatch.setattr("nof1.cli.diary_cmds.date", FixedDate)
    return lambda day: current.__setitem__(0, day)

"""The Trial handle: a command reads protocol.toml once and opens diary.sqlite once, and
what the integrity check verified is exactly what the analysis analyses."""

from __future__ import annotations

import builtins
import io
import shutil
import sqlite3
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

import nof1
from nof1.analysis.analyze import analyze_trial
from nof1.cli import cli
from nof1.errors import IntegrityError
from nof1.trial.handle import Trial, open_trial
from nof1.trial.integrity import check_trial

LEGACY = Path(__file__).parent / "data" / "legacy"


@pytest.fixture(params=["demo-trial", "sequential-trial"])
def finished(request, tmp_path) -> Path:
    """An unblinded magnesium trial (a plain one and a sequential one that stopped)."""
    folder = tmp_path / "trial"
    shutil.copytree(LEGACY / request.param, folder)
    folder.chmod(0o700)
    for f in folder.iterdir():
        f.chmod(0o600)
    return folder


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """Counts, by file name, every open() of a trial file, every TOML parse of a
    protocol, and every SQLite connection to a diary."""
    count: Counter = Counter()
    real_open, real_loads, real_connect = builtins.open, tomllib.loads, sqlite3.connect

    def counting_open(file, *args, **kwargs):
        name = Path(str(file)).name if isinstance(file, str | Path) else ""
        if name in ("protocol.toml", "diary.sqlite", "allocation.sealed"):
            count[f"open {name}"] += 1
        return real_open(file, *args, **kwargs)

    def counting_loads(text, *args, **kwargs):
        if "[commitment]" in text:
            count["parse protocol.toml"] += 1
        return real_loads(text, *args, **kwargs)

    def counting_connect(database, *args, **kwargs):
        if "diary.sqlite" in str(database):
            count["connect diary.sqlite"] += 1
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(tomllib, "loads", counting_loads)
    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    return count


@pytest.mark.parametrize(
    "command",
    [
        ["analyze", "--json"],
        ["report", "--out", "{out}/report.html"],
        ["report", "--for", "patient", "--out", "{out}/summary.html"],
        ["status"],
        ["export", "--anonymise", "{out}/anonymised.csv"],
    ],
    ids=["analyze", "report", "patient-page", "status", "export-anonymise"],
)
def test_a_command_reads_protocol_and_diary_once(finished, reads, tmp_path, command):
    args = [a.format(out=tmp_path) for a in command] + ["--trial", str(finished)]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert reads["open protocol.toml"] == 1
    assert reads["parse protocol.toml"] == 1
    assert reads["connect diary.sqlite"] == 1
    assert reads["open allocation.sealed"] <= 1


def test_what_was_verified_is_what_is_analysed(finished):
    """A diary rewritten on disk after the handle was opened changes nothing the handle
    says; opened afresh, the rewritten diary is refused."""
    trial = open_trial(finished)
    assert check_trial(trial).ok
    before = analyze_trial(trial).summary
    con = sqlite3.connect(finished / "diary.sqlite")
    con.execute("DROP TRIGGER entries_no_update")
    con.execute("""UPDATE entries SET outcomes = '{"pain": 0}'""")
    con.commit()
    con.close()
    after = analyze_trial(trial).summary
    assert (after.mean, after.sd, after.p_mcid) == (before.mean, before.sd, before.p_mcid)
    assert check_trial(trial).ok
    with pytest.raises(IntegrityError, match="changed after it was recorded"):
        analyze_trial(finished)


def test_every_stage_takes_the_handle_or_a_folder(finished):
    trial = nof1.open_trial(finished)
    assert isinstance(trial, Trial) and trial.protocol == nof1.load_protocol(finished)
    by_handle, by_folder = nof1.analyze_trial(trial), nof1.analyze_trial(finished)
    assert by_handle.summary.mean == by_folder.summary.mean
    assert nof1.trial_status(trial).to_dict() == nof1.trial_status(finished).to_dict()
    assert nof1.trial_table(trial).equals(nof1.trial_table(finished))


def test_a_handle_is_a_snapshot_and_never_creates_a_diary(tmp_path):
    folder = tmp_path / "t"
    nof1.create_trial(folder, "generic-ab", passphrase="correct horse battery", start=_today())
    trial = open_trial(folder)
    assert trial.diary is None and not (folder / "diary.sqlite").exists()
    nof1.record_day(trial, _today(), {"pain": 5})
    assert trial.diary is None  # read once, before the write
    assert len(open_trial(folder).diary.current_entries()) == 1


def _today():
    from datetime import date

    return date.today()

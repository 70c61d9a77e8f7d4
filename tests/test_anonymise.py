"""Anonymised export: nothing identifying leaves, only after unblinding, allow-list enforced."""

from __future__ import annotations

import csv
import sqlite3
import stat
from datetime import date, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from nof1.analysis.series import series_from_trial
from nof1.cli import cli
from nof1.errors import BlindingError, DataError
from nof1.plan.protocol import load_protocol
from nof1.research.anonymise import anonymise_trial, export_anonymised, to_csv_text
from nof1.research.pool import read_anonymised
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, unblind_trial

PASS = "correct horse battery staple"
NOTE_MARKER = "NOTEMARKER7f3a9"
PATH_MARKER = "PATHMARKERq8z2"


def _trial(tmp_path, unblind=True):
    trial = tmp_path / f"trial_{PATH_MARKER}"
    start = date.today() - timedelta(days=120)
    protocol = create_trial(
        trial,
        "magnesium-crps",
        passphrase=PASS,
        start=start,
        seed=7,
        blocks=2,
        period_days=14,
        washout_days=3,
        run_in_days=4,
    )
    rng = np.random.default_rng(1)
    diary_csv = tmp_path / "diary.csv"
    with diary_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "pain", "sleep", "guess", "adherence", "note"])
        for i in range(protocol.n_days):
            if i == 25:
                continue  # a missing day stays a row with an empty score
            w.writerow(
                [
                    (start + timedelta(days=i)).isoformat(),
                    int(rng.integers(2, 9)),
                    int(rng.integers(0, 11)),
                    # A run-in day (the first 4) has no kit: no guess, no adherence.
                    ("A", "B", "unsure")[i % 3] if i >= 4 else "",
                    ("yes" if i % 5 else "no") if i >= 4 else "",
                    f"{NOTE_MARKER} day {i}: saw Dr Smith in Leipzig",
                ]
            )
    import_diary(trial, diary_csv)
    if unblind:
        unblind_trial(trial, PASS)
    return trial


def test_export_holds_no_notes_dates_kits_paths_or_treatments(tmp_path):
    trial = _trial(tmp_path)
    out = tmp_path / "anon.csv"
    n = export_anonymised(trial, out)
    protocol = load_protocol(trial)
    assert n == protocol.n_days
    data = out.read_bytes()
    text = data.decode()
    assert NOTE_MARKER.encode() not in data
    assert b"Leipzig" not in data and b"Smith" not in data
    assert PATH_MARKER.encode() not in data
    for i in range(protocol.n_days):  # no calendar date, in any of the usual spellings
        d = protocol.start + timedelta(days=i)
        assert d.isoformat().encode() not in data
        assert d.strftime("%d.%m.%Y").encode() not in data
    assert str(date.today().year).encode() not in data  # no timestamp or year either
    for p in protocol.periods:
        assert p.kit.encode() not in data
    for t in protocol.treatments.values():
        assert t.name.encode() not in data
        assert t.description[:30].encode() not in data
    assert "Pain (0-10)" not in text and "question" not in text  # labels, free text


def test_file_mode_0600_and_random_series_id(tmp_path):
    trial = _trial(tmp_path)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    export_anonymised(trial, a)
    export_anonymised(trial, b)
    assert stat.S_IMODE(a.stat().st_mode) == 0o600
    ids_a = set(read_anonymised(a)[0]["series_id"])
    ids_b = set(read_anonymised(b)[0]["series_id"])
    assert len(ids_a) == len(ids_b) == 1
    assert ids_a != ids_b  # drawn afresh, not derived from the trial
    (sid,) = ids_a
    assert len(sid) == 16 and int(sid, 16) >= 0


def test_round_trip_gives_the_trials_series(tmp_path):
    trial = _trial(tmp_path)
    out = tmp_path / "anon.csv"
    export_anonymised(trial, out)
    from nof1.research.pool import load_pool

    pooled = load_pool([out]).members[0].series
    own = series_from_trial(trial)
    np.testing.assert_array_equal(pooled.day, own.day)
    np.testing.assert_array_equal(pooled.active, own.active)
    np.testing.assert_array_equal(pooled.y, own.y)  # NaN where missing, in the same place
    assert np.isnan(pooled.y).sum() == 1
    assert (pooled.low, pooled.high, pooled.lower_is_better) == (0.0, 10.0, True)


def test_header_carries_outcome_scale_and_direction(tmp_path):
    trial = _trial(tmp_path)
    text = to_csv_text(anonymise_trial(trial))
    lines = text.splitlines()
    assert lines[0] == "# format: nof1-anonymised"
    assert lines[1] == "# format_version: 1"
    assert (
        "# outcome: sleep kind=scale low=0 high=10 lower_is_better=0 primary=0 role=efficacy"
        in lines
    )
    assert (
        "# outcome: pain kind=scale low=0 high=10 lower_is_better=1 primary=1 role=efficacy"
        in lines
    )


def test_refuses_before_unblinding(tmp_path):
    trial = _trial(tmp_path, unblind=False)
    out = tmp_path / "anon.csv"
    with pytest.raises(BlindingError, match="still blinded"):
        export_anonymised(trial, out)
    assert not out.exists()
    result = CliRunner().invoke(cli, ["export", "--trial", str(trial), "--anonymise", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the trial is still blinded: run `nof1 unblind` before an anonymised export"
    ]
    assert not out.exists()


def test_unknown_diary_column_is_refused_by_name(tmp_path):
    trial = _trial(tmp_path)
    with sqlite3.connect(trial / "diary.sqlite") as con:
        con.execute("ALTER TABLE entries ADD COLUMN location TEXT")
    out = tmp_path / "anon.csv"
    with pytest.raises(DataError, match="'location'"):
        export_anonymised(trial, out)
    assert not out.exists()


def test_unknown_diary_table_is_refused_by_name(tmp_path):
    trial = _trial(tmp_path)
    with sqlite3.connect(trial / "diary.sqlite") as con:
        con.execute("CREATE TABLE contacts (name TEXT)")
    with pytest.raises(DataError, match="table 'contacts'"):
        anonymise_trial(trial)


def test_cli_export_anonymise(tmp_path):
    trial = _trial(tmp_path)
    out = tmp_path / "anon.csv"
    result = CliRunner().invoke(cli, ["export", "--trial", str(trial), "--anonymise", str(out)])
    assert result.exit_code == 0, result.output
    assert "anonymised" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert NOTE_MARKER.encode() not in out.read_bytes()


def test_a_trial_stopped_at_an_interim_look_exports_the_blocks_it_ran(tmp_path):
    """A sequential trial: its [sequential] section (no personal data) is not exported, and
    its series ends with the block its STOP looked at, as its final analysis does."""
    from nof1.interim import interim_look
    from nof1.plan.stopping import STOP_EFFICACY, SequentialRule

    passphrase = "correct horse battery"
    start = date(2026, 1, 5)
    rule = SequentialRule((2, 3, 4), (0.8, 0.8, 0.8), (0.5, 0.5))
    trial = tmp_path / "trial"
    protocol = create_trial(trial, "generic-ab", passphrase=passphrase, start=start, seed=2,
                            sequential=rule, period_days=7, washout_days=0)  # fmt: skip
    from nof1.plan.sealing import open_allocation

    arms = open_allocation(trial, passphrase).arms
    rng = np.random.default_rng(1)
    rows = ["date,pain"]
    for i in range(protocol.n_days):
        day = start + timedelta(days=i)
        period = protocol.day_info(day).period
        if period is not None and period.block <= 2:
            pain = 5.5 - 2.5 * (arms[period.index - 1] == "A") + rng.normal(0, 1)
            rows.append(f"{day},{np.clip(np.round(pain), 0, 10):g}")
    diary_csv = tmp_path / "diary.csv"
    diary_csv.write_text("\n".join(rows) + "\n")
    import_diary(trial, diary_csv)
    after_block_2 = date(2026, 2, 2)
    assert interim_look(trial, passphrase, today=after_block_2).decision == STOP_EFFICACY
    unblind_trial(trial, passphrase, today=after_block_2)
    frame = anonymise_trial(trial)
    assert set(frame["block"]) == {1, 2} and len(frame) == 28
    text = to_csv_text(frame)
    assert "efficacy" not in text.replace("role=efficacy", "") and "look" not in text

"""The Python API: ``import nof1`` exposes the main entry points; DataFrames and open files
are read like CSV files; ``examples/api.py`` runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nof1
from nof1.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests" / "data" / "peer" / "nof1ins_readme_example.csv"


def test_import_nof1_is_light_and_exposes_every_entry_point():
    code = (
        "import sys, nof1\n"
        "assert not {'pandas', 'scipy', 'pymc'} & set(sys.modules), 'heavy import'\n"
        "nof1.analyze_frame\n"
        "missing = [n for n in nof1.__all__ if not hasattr(nof1, n)]\n"
        "assert not missing, missing\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {"analyze_frame", "analyze_trial", "create_trial", "Nof1Error"} <= set(nof1.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nof1.nope  # noqa: B018


def test_csv_readers_take_a_path_or_an_open_file():
    args = ("Y", "Treat")
    options = dict(active="2", time="Day", block="Block")
    from_path = nof1.series_from_csv(PEER, *args, **options)
    from_file = nof1.series_from_csv(io.StringIO(PEER.read_text()), *args, **options)
    np.testing.assert_array_equal(from_path.y, from_file.y)
    np.testing.assert_array_equal(from_path.period, from_file.period)
    with PEER.open() as fh:
        a = nof1.analyze_csv(fh, *args, **options, seed=1).summary
    b = nof1.analyze_csv(PEER, *args, **options, seed=1).summary
    assert (a.mean, a.hdi_low, a.p_benefit) == (b.mean, b.hdi_low, b.p_benefit)
    with pytest.raises(DataError, match="outcome column 'pain' is not in the data; its columns"):
        nof1.series_from_csv(io.StringIO("Y,Treat\n1,A\n"), "pain", "Treat")


def test_analyze_frame_equals_the_csv_analysis_and_leaves_the_frame_alone():
    df = pd.read_csv(PEER)
    df["Date"] = pd.Timestamp("2026-01-05") + pd.to_timedelta(df["Day"] - 1, unit="D")
    before = df.copy()
    options = dict(active="2", block="Block", seed=1)
    a = nof1.analyze_frame(df, outcome="Y", treatment="Treat", time="Date", **options)
    b = nof1.analyze_csv(PEER, "Y", "Treat", time="Day", **options)
    assert a.summary.mean == pytest.approx(b.summary.mean)
    assert a.summary.n_observed == b.summary.n_observed
    assert a.options["source"] == "DataFrame"
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(DataError, match="treatment column 'arm' is not in the DataFrame"):
        nof1.analyze_frame(df, outcome="Y", treatment="arm")


def test_the_api_tour_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "api.py"), str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("DataFrame: effect -")
    assert lines[1] == "CSV: 84 days, 6 periods"
    assert lines[-1] == f"Report: {tmp_path / 'report.html'}"
    assert (tmp_path / "report.html").stat().st_size > 50_000


@pytest.mark.parametrize("entry", ["analyze_trial", "analyze_csv", "analyze_frame"])
def test_every_analysis_option_is_a_named_parameter(entry):
    import inspect

    # What the data source says rather than an analysis option: the trial folder supplies
    # the blinding assessment, whether it was open label, whether the criterion is the
    # pre-registered one (and the note saying how), and the treatments' names.
    source = {"series", "blinding", "open_label", "preregistered", "registration_note", "names"}
    options = set(inspect.signature(nof1.analyze).parameters) - source
    params = inspect.signature(getattr(nof1, entry)).parameters
    assert options <= set(params), options - set(params)
    assert all(p.kind is not p.VAR_KEYWORD for p in params.values())
    assert all(params[name].default is None for name in options)  # None: not given

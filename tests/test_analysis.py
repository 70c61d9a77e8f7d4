"""analyze(): engines, options, prior sensitivity, randomization test; CSV series input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mcerror import SEED_SHIFT, assert_same_posterior

from nof1.analysis.analyze import analyze, analyze_csv, analyze_trial
from nof1.analysis.csv_input import series_from_csv
from nof1.analysis.models.priors import PRIOR_NAMES
from nof1.errors import DataError, ModelError, ProtocolError

PEER = Path(__file__).parent / "data" / "peer"
README = PEER / "nof1ins_readme_example.csv"


@pytest.fixture(scope="module")
def readme():
    return series_from_csv(README, "Y", "Treat", active="2", time="Day", block="Block")


# --- CSV input --------------------------------------------------------------------------


def test_readme_csv_structure(readme):
    assert readme.active.tolist() == [0] * 7 + [1] * 7 + [0] * 7 + [1] * 7
    assert readme.period.tolist() == list(np.repeat([1, 2, 3, 4], 7))
    assert readme.block.tolist() == list(np.repeat([1, 2], 14))
    assert np.isnan(readme.y).sum() == 2 and np.isnan(readme.y[[22, 26]]).all()
    assert readme.day.tolist() == list(range(1, 29))


def test_laughter_csv_without_day_or_block_columns():
    s = series_from_csv(PEER / "laughter.csv", "Y", "Treat", lower_is_better=False)
    # "Usual Routine" names a control, so "Laughter" is the active arm.
    assert s.active.tolist() == [0, 0, 0, 1, 1, 1] * 3
    assert s.period.tolist() == list(np.repeat([1, 2, 3, 4, 5, 6], 3))
    assert s.block.tolist() == list(np.repeat([1, 2, 3], 6))
    assert not s.lower_is_better


def test_csv_dates_unsorted_rows_and_gaps(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text(
        "date,pain,arm\n2024-01-03,5,A\n2024-01-01,6,B\n2024-01-02,6,B\n"
        "2024-01-06,4,A\n2024-01-07,7,B\n2024-01-08,3,A\n"
    )
    s = series_from_csv(f, "pain", "arm", time="date")
    assert s.day.tolist() == [1, 2, 3, 6, 7, 8]
    assert s.y.tolist() == [6, 6, 5, 4, 7, 3]
    assert s.active.tolist() == [0, 0, 1, 1, 0, 1]
    assert s.period.tolist() == [1, 1, 2, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("t,y\n1,5\n", {}, "outcome column 'pain' is not in d.csv; its columns are: 't', 'y'"),
        ("pain,arm\n5,A\nx7,B\n", {}, "row 2: outcome 'pain' value 'x7' is not a number"),
        (
            "pain,arm\n5,A\n6,A\n",
            {},
            "treatment column 'arm' must have exactly 2 values, it has 1: 'A'",
        ),
        ("pain,arm\n5,A\n6,B\n", {"active": "C"}, "--active value 'C' does not occur"),
        (
            "pain,arm,day\n5,A,1\n6,B,1\n",
            {"time": "day"},
            "time column 'day' has the value '1' more than once",
        ),
        (
            "pain,arm\n5,x\n6,y\n",
            {},
            "cannot tell which value of treatment column 'arm' is the active arm",
        ),
    ],
)
def test_csv_errors_name_the_bad_value(tmp_path, text, kwargs, message):
    f = tmp_path / "d.csv"
    f.write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        series_from_csv(f, "pain", "arm", **kwargs)


def test_missing_csv_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        series_from_csv(tmp_path / "nope.csv", "pain", "arm")


# --- analyze ----------------------------------------------------------------------------


def test_analyze_readme_exact(readme):
    r = analyze(readme, prior="vague", seed=1)
    assert r.summary.mean == pytest.approx(-1.17, abs=0.1)
    assert r.randomization_test.p_value == pytest.approx(0.25)
    assert r.sensitivity is None
    assert len(r.fit.draws["effect"]) == 4000  # draws * chains
    d = r.to_dict()
    assert d["effect"]["mean"] == pytest.approx(r.summary.mean)
    assert d["randomization_test"]["p_value"] == pytest.approx(0.25)
    assert d["options"]["engine"] == "exact" and d["options"]["prior"] == "vague"


def test_prior_sensitivity_covers_every_prior(readme):
    r = analyze(readme, prior="neutral", prior_sensitivity=True, seed=1)
    assert tuple(r.sensitivity) == PRIOR_NAMES
    assert r.sensitivity["neutral"] is r.summary
    # The sceptical prior pulls the effect toward zero.
    assert abs(r.sensitivity["sceptical"].mean) < abs(r.sensitivity["vague"].mean)
    assert set(r.to_dict()["sensitivity"]) == set(PRIOR_NAMES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"likelihood": "student"},
            "the exact engine fits only the normal and binomial likelihoods, not 'student'; use --engine mcmc",
        ),
        (
            {"likelihood": "ordinal"},
            "the exact engine fits only the normal and binomial likelihoods, not 'ordinal'; use --engine mcmc",
        ),
        ({"engine": "gibbs"}, "unknown engine 'gibbs'; use one of exact, mcmc"),
        ({"prior": "flat"}, "unknown prior 'flat'; use one of vague, neutral, sceptical"),
        ({"trend": "cubic"}, "unknown trend 'cubic'"),
    ],
)
def test_options_the_engine_cannot_do_are_refused(readme, kwargs, message):
    with pytest.raises(ModelError, match=message.replace("(", r"\(")):
        analyze(readme, **kwargs)


def test_unanalysable_series_is_refused(readme):
    one_block = readme.subset(readme.block == 1)
    with pytest.raises(DataError, match=r"only 1 block\(s\) with scores; at least 2 are needed"):
        analyze(one_block)


def test_randomization_test_absent_with_reason(tmp_path):
    f = tmp_path / "d.csv"
    # 5 periods: the Bayesian analysis works, the randomization test does not apply.
    rows = zip([5, 6, 5, 3, 4, 3, 6, 5, 6, 4, 3, 2, 6, 7], "BBBAAABBBAAABB", strict=True)
    f.write_text("pain,arm\n" + "".join(f"{v},{a}\n" for v, a in rows))
    r = analyze_csv(f, "pain", "arm", active="A", seed=0)
    assert r.randomization_test is None
    assert "two periods per block" in r.options["randomization_note"]
    assert r.to_dict()["randomization_test"]["p_value"] is None


def test_analyze_trial_needs_a_trial(tmp_path):
    with pytest.raises(ProtocolError):
        analyze_trial(tmp_path / "none")


def test_exact_path_never_imports_pymc():
    code = (
        "import sys\n"
        "from nof1.analysis.analyze import analyze_csv\n"
        f"analyze_csv({str(README)!r}, 'Y', 'Treat', active='2', prior_sensitivity=True)\n"
        "bad = [m for m in ('pymc', 'pytensor', 'arviz', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_mcmc_engine_agrees_with_the_exact_engine(readme):
    pytest.importorskip("nof1.analysis.models.personal")
    seed = 2 + SEED_SHIFT
    exact = analyze(readme, prior="neutral", seed=seed)
    mcmc = analyze(readme, engine="mcmc", prior="neutral", seed=seed, draws=500, chains=2)
    assert mcmc.summary.engine == "mcmc"
    # Quantiles and means within Monte Carlo error (tests/mcerror.py).
    names = ("effect", "intercept", "rho", "sigma")
    assert_same_posterior(mcmc.fit.draws, exact.fit.draws, names, chains_a=2)

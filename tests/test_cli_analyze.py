"""``nof1 analyze`` on CSV files: output, JSON keys, and one Error line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nof1.cli import cli

PEER = Path(__file__).parent / "data" / "peer"
README_ARGS = [
    "--csv", str(PEER / "nof1ins_readme_example.csv"), "--outcome", "Y", "--treatment", "Treat",
    "--active", "2", "--time", "Day", "--block", "Block",
]  # fmt: skip


def _run(tmp_path, args):
    """Run in an empty working folder; return the result, tmp_path's files before, and
    whatever appeared in the working folder."""
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(cli, ["analyze", *args], catch_exceptions=False)
    written = sorted(p.name for p in cwd.iterdir())
    cwd.rmdir()
    return result, before, written


def test_human_output_has_table_and_verdict(tmp_path):
    result, _, _ = _run(tmp_path, [*README_ARGS, "--prior", "vague", "--seed", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Effect, A minus B" in out and "-1.17" in out  # nof1ins: -1.17
    assert "P(A helps at all)           96%" in out
    assert "Randomization test          p = 0.25" in out
    assert "Conclusion: A very probably helps" in out


def test_json_output_keys(tmp_path):
    result, _, _ = _run(tmp_path, [*README_ARGS, "--prior", "vague", "--no-ar1", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["effect"]["mean"] == pytest.approx(-2.0, abs=0.1)
    for key in ("mean", "sd", "hdi_low", "hdi_high"):
        assert key in d["effect"]
    for key in ("p_benefit", "p_mcid", "p_rope", "diagnostics", "engine", "prior"):
        assert key in d
    assert d["rho"]["mean"] is None  # --no-ar1
    assert d["randomization_test"]["p_value"] == pytest.approx(0.25)
    assert (d["engine"], d["prior"]) == ("exact", "vague")


def test_prior_sensitivity_and_mcid(tmp_path):
    args = [*README_ARGS, "--prior-sensitivity", "--mcid", "2", "--json"]
    result, _, _ = _run(tmp_path, args)
    d = json.loads(result.output)
    assert d["mcid"] == 2.0
    assert set(d["sensitivity"]) == {"vague", "neutral", "sceptical"}


def _csv(tmp_path, text, name="d.csv"):
    f = tmp_path / name
    f.write_text(text)
    return str(f)


BLOCKS = "".join(f"{v},{a}\n" for v, a in zip([5, 6, 4, 3, 6, 7, 3, 2], "BBAABBAA", strict=True))


@pytest.mark.parametrize(
    ("text", "extra", "error"),
    [
        (
            "pain,arm\n"
            + BLOCKS.replace("3,A", "NA,A").replace("4,A", "NA,A").replace("2,A", "NA,A"),
            [],
            "Error: outcome 'pain' has no scores on the active (A) arm",
        ),
        (
            "pain,arm\n" + "".join(f"4,{a}\n" for a in "BBAABBAA"),
            [],
            "Error: outcome 'pain' is constant (4 on every day): no effect can be estimated",
        ),
        (
            "pain,arm\n" + BLOCKS.replace("6,B", "six,B", 1),
            [],
            "Error: row 2: outcome 'pain' value 'six' is not a number",
        ),
        (
            "pain,arm\n5,B\n6,B\n3,A\n2,A\n",
            [],
            "Error: only 1 block(s) with scores; at least 2 are needed to separate the effect from chance",
        ),
        (
            "score,arm\n" + BLOCKS,
            [],
            "Error: outcome column 'pain' is not in d.csv; its columns are: 'score', 'arm'",
        ),
        (
            "pain,arm\n" + BLOCKS,
            ["--active", "C"],
            "Error: --active value 'C' does not occur in treatment column 'arm'; its values are 'A' and 'B'",
        ),
        (
            "pain,arm\n" + BLOCKS,
            ["--engine", "exact", "--likelihood", "student"],
            "Error: the exact engine fits only the normal and binomial likelihoods, not 'student'; use --engine mcmc",
        ),
    ],
)
def test_bad_csv_gives_one_error_line_and_writes_nothing(tmp_path, text, extra, error):
    path = _csv(tmp_path, text)
    result, before, written = _run(
        tmp_path, ["--csv", path, "--outcome", "pain", "--treatment", "arm", *extra]
    )
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [error]
    assert result.stdout == ""
    assert written == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["d.csv"]
    assert before == sorted(p.name for p in tmp_path.iterdir() if p.name in before)


def test_missing_csv_file(tmp_path):
    result, _, written = _run(
        tmp_path, ["--csv", str(tmp_path / "no.csv"), "--outcome", "pain", "--treatment", "arm"]
    )
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: CSV file '{tmp_path / 'no.csv'}' does not exist"
    ]
    assert written == []


def test_csv_without_treatment_column_option(tmp_path):
    path = _csv(tmp_path, "pain,arm\n" + BLOCKS)
    result, _, _ = _run(tmp_path, ["--csv", path, "--outcome", "pain"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: --csv needs --treatment COLUMN"]


def test_csv_options_without_csv(tmp_path):
    result, _, _ = _run(tmp_path, ["--treatment", "arm"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: --treatment applies only with --csv FILE"]


def test_trial_folder_without_a_trial(tmp_path):
    result, _, written = _run(tmp_path, ["--trial", str(tmp_path / "absent")])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no trial folder at")
    assert written == []


def test_trial_folder_uses_the_preregistered_analysis(tmp_path):
    """An open-label trial (nothing to unblind): pain 2 points lower on A."""
    from datetime import date

    import numpy as np

    from nof1.analysis.series import trial_table
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary

    trial = tmp_path / "open"
    create_trial(trial, "magnesium-open", passphrase=None, start=date(2026, 1, 5), seed=5)
    table = trial_table(trial)
    rng = np.random.default_rng(0)
    lines = ["date,pain"]
    for d, arm in zip(table["date"], table["arm"], strict=True):
        pain = np.clip(round(6 - 2 * (arm == "A") + rng.normal(0, 1)), 0, 10)
        lines.append(f"{str(d)[:10]},{int(pain)}")
    (tmp_path / "diary.csv").write_text("\n".join(lines) + "\n")
    import_diary(trial, tmp_path / "diary.csv")
    result, _, written = _run(tmp_path, ["--trial", str(trial), "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["outcome"] == "pain"
    assert (d["prior"], d["mcid"], d["engine"]) == ("neutral", 1.0, "exact")
    assert d["options"]["preregistered"]["exclude_washout"] is True
    assert d["effect"]["mean"] == pytest.approx(-2.0, abs=0.4)
    assert d["p_benefit"] > 0.99
    assert d["randomization_test"]["min_p"] == pytest.approx(1 / 8)  # 3 blocks
    assert written == []
    # An explicit option overrides the pre-registered one.
    result, _, _ = _run(tmp_path, ["--trial", str(trial), "--json", "--prior", "sceptical"])
    assert json.loads(result.output)["prior"] == "sceptical"


def test_slow_onset_trial_is_analysed_with_the_onset_model_by_default(tmp_path):
    """magnesium-open pre-registers the onset model: the effect (-2 at full exposure)
    builds up with a 10-day time constant from each kit's first day."""
    from datetime import date

    import numpy as np

    from nof1.analysis.models.exposure import exposure
    from nof1.analysis.series import trial_table
    from nof1.trial.create import create_trial
    from nof1.trial.writes import import_diary

    trial = tmp_path / "open"
    create_trial(trial, "magnesium-open", passphrase=None, start=date(2026, 1, 5), seed=5)
    table = trial_table(trial)
    on_a = (table["arm"] == "A").to_numpy(dtype=int)
    pain = 6 - 2 * exposure(on_a, table["day"].to_numpy(), 10.0)
    pain += np.random.default_rng(1).normal(0, 0.8, len(pain))
    lines = ["date,pain"] + [
        f"{str(d)[:10]},{v:.1f}" for d, v in zip(table["date"], np.clip(pain, 0, 10), strict=True)
    ]
    (tmp_path / "diary.csv").write_text("\n".join(lines) + "\n")
    import_diary(trial, tmp_path / "diary.csv")

    result, _, _ = _run(tmp_path, ["--trial", str(trial), "--seed", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "onset/carryover modelled from each kit's first day (42 washout days entered" in out
    assert f"{6 * 21} of {6 * 21} days with a score" in out
    assert "Effect, A minus B (full onset)" in out and "Onset time constant" in out
    result, _, _ = _run(tmp_path, ["--trial", str(trial), "--seed", "1", "--json"])
    d = json.loads(result.output)
    assert d["options"]["carryover"] is True and d["options"]["washout"] == "unobserved"
    assert d["options"]["preregistered"]["carryover"] is True
    assert (d["n_days"], d["n_observed"]) == (6 * 28, 6 * 21)  # washout rows, unscored
    assert d["options"]["washout_rows"] == 6 * 7
    assert d["effect"]["mean"] == pytest.approx(-2.0, abs=3 * d["effect"]["sd"])
    assert d["tau"]["low"] < 10 < d["tau"]["high"]

    # The old default, on request: washout days dropped, an instant effect.
    result, _, _ = _run(tmp_path, ["--trial", str(trial), "--no-carryover", "--json"])
    plain = json.loads(result.output)
    assert plain["options"]["carryover"] is False and plain["options"]["washout"] == "exclude"
    assert plain["n_days"] == 6 * 21 and plain["tau"] is None
    assert plain["effect"]["mean"] > d["effect"]["mean"]  # shrunk towards 0


def test_mcmc_bad_input_is_still_one_error_line(tmp_path):
    """The "Sampling with PyMC..." notice comes only after the data passed every check."""
    path = _csv(tmp_path, "pain,arm\n" + "".join(f"4,{a}\n" for a in "BBAABBAA"))
    result, _, _ = _run(
        tmp_path, ["--csv", path, "--outcome", "pain", "--treatment", "arm", "--engine", "mcmc"]
    )
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [
        "Error: outcome 'pain' is constant (4 on every day): no effect can be estimated"
    ]


def test_exact_engine_never_announces_sampling():
    from nof1.analysis.analyze import analyze
    from nof1.analysis.csv_input import series_from_csv

    messages: list[str] = []
    series = series_from_csv(
        PEER / "nof1ins_readme_example.csv", "Y", "Treat", active="2", time="Day", block="Block"
    )
    analyze(series, engine="exact", announce=messages.append, seed=1)
    assert messages == []


def _failing_mcmc(monkeypatch):
    """Every PyMC fit fails its checks, as the README series with a trend did (118 divergences)."""
    import dataclasses

    from nof1.analysis.models import personal
    from nof1.analysis.models.base import Diagnostics
    from nof1.analysis.models.exact import fit_exact

    failed = Diagnostics(
        ok=False,
        rhat_max=1.096,
        ess_bulk_min=32.0,
        ess_tail_min=16.0,
        divergences=118,
        messages=("118 divergent transition(s); there must be none",),
    )

    def fit_mcmc(series, prior, *, likelihood, ar1, trend, carryover, seed, **_):
        fit = fit_exact(series, prior, ar1=ar1, trend=trend, carryover=carryover, seed=seed)
        return dataclasses.replace(
            fit, engine="mcmc", likelihood=likelihood, exact=None, diagnostics=failed,
            options={**fit.options, "tune": 500},
        )  # fmt: skip

    monkeypatch.setattr(personal, "fit_mcmc", fit_mcmc)


@pytest.mark.parametrize(
    ("likelihood", "advice"),
    [
        ("normal", "The exact engine fits this same model without sampling and always gives "
         "an answer: run the analysis again with --engine exact."),
        ("student", "The exact engine gives an answer without sampling under the normal "
         "likelihood (a simpler model than the student one): run the analysis again with "
         "--engine exact --likelihood normal."),
    ],
)  # fmt: skip
def test_failed_fit_exits_3_with_advice_that_works(tmp_path, monkeypatch, likelihood, advice):
    _failing_mcmc(monkeypatch)
    args = [*README_ARGS, "--trend", "linear", "--seed", "1"]
    result, _, written = _run(tmp_path, [*args, "--engine", "mcmc", "--likelihood", likelihood])
    assert result.exit_code == 3, result.output
    assert "Verdict (no-verdict)" in result.output
    assert result.output.rstrip().endswith(advice.split()[-1])
    assert advice in " ".join(result.output.split())  # the paragraph is wrapped
    assert written == []
    as_json, _, _ = _run(tmp_path, [*args, "--engine", "mcmc", "--likelihood", likelihood, "--json"])  # fmt: skip
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["advice"] == advice
    # The advice works: the options it names give an answer.
    advised = advice.rsplit(" with ", 1)[1].rstrip(".").split()
    again, _, _ = _run(tmp_path, [*args, "--likelihood", likelihood, *advised])
    assert again.exit_code == 0, again.output
    assert "Verdict (no-verdict)" not in again.output
    assert "Verdict (" in again.output

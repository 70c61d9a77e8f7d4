"""The tiered verdict: the pre-registered decision line first, the blinding beside a benefit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nof1.analysis.analyze import analyze, analyze_trial
from nof1.analysis.blinding_assessment import assess_blinding
from nof1.analysis.csv_input import series_from_csv
from nof1.analysis.models.base import Diagnostics
from nof1.analysis.verdict import Criterion, make_verdict
from nof1.cli import cli
from nof1.cli.demo import run_demo

PEER = Path(__file__).parent / "data" / "peer"


@pytest.fixture(scope="module")
def readme():
    s = series_from_csv(
        PEER / "nof1ins_readme_example.csv", "Y", "Treat", active="2", time="Day", block="Block"
    )
    return analyze(s, prior="vague", seed=1).summary  # P(benefit) 0.97, P(>= 1) 0.61


@pytest.fixture(scope="module")
def trial(tmp_path_factory) -> Path:
    """An unblinded demo trial (magnesium; diarrhoea on magnesium now and then)."""
    return run_demo(tmp_path_factory.mktemp("demo") / "out", seed=1).trial_dir


def _blinding(guesses):
    period = np.repeat(np.arange(1, 7), 5)
    return assess_blinding(period, list(np.repeat(list("ABABAB"), 5)),
                           [g for g in guesses for _ in range(5)])  # fmt: skip


def test_criterion_line_says_met_or_not_with_the_probability():
    c = Criterion(mcid=1.0, threshold=0.8, unit="points", p=0.75, preregistered=True)
    assert c.line() == "Pre-registered criterion P(benefit >= 1 point) > 0.80: not met (0.75)"
    assert c.met is False
    c = dataclasses.replace(c, p=0.999, preregistered=False, mcid=2.0)
    assert c.line() == (
        "Decision criterion P(benefit >= 2 points) > 0.80: met (>0.99) (not pre-registered)"
    )
    c = dataclasses.replace(c, judged=False)
    assert c.met is None and "not judged" in c.line()


def test_benefit_with_blinding_that_cannot_be_judged(readme):
    v = make_verdict(readme, threshold=0.8, preregistered=True,
                     blinding=_blinding(["A", "unsure", "B", "B", "unsure", "A"]))  # fmt: skip
    assert v.tier == "benefit"
    assert v.blinding == "cannot-tell"
    assert v.lines[0] == "Pre-registered criterion P(benefit >= 1 point) > 0.80: not met (0.61)"
    assert v.headline.startswith("Benefit: A very probably helps, but possibly by less than")
    assert "Whether blinding held cannot be told: there is no clear sign" in v.headline
    assert "(P(guesses better than chance) " in v.headline and "95% needed" in v.headline
    assert v.lines[-1] == readme.verdict


def test_benefit_when_the_patient_could_tell_says_how(readme):
    v = make_verdict(readme, threshold=0.8, preregistered=True, blinding=_blinding(list("ABABAB")))
    assert v.tier == "benefit-unblinded"
    assert v.headline.startswith(
        "Benefit, but the patient could tell the arms apart (guesses right in 6 of 6 periods "
        "and on 30 of 30 days (P(guesses better than chance) >99%)): part or all of the "
        "benefit may be expectation."
    )
    assert v.to_dict()["blinding"]["how"] == [
        "guesses right in 6 of 6 periods and on 30 of 30 days (P(guesses better than chance) >99%)"
    ]


def test_open_label_benefit_is_never_a_plain_benefit(readme):
    v = make_verdict(readme, threshold=0.8, preregistered=True, blinding=None, open_label=True)
    assert v.tier == "benefit-unblinded"
    assert "open label" in v.headline


def test_other_tiers(readme):
    none = make_verdict(readme, threshold=0.8, preregistered=True, blinding=None)
    assert none.tier == "benefit" and "Blinding was not assessed" in none.headline
    flat = dataclasses.replace(readme, p_benefit=0.6, p_mcid=0.1, p_rope=0.85)
    assert make_verdict(flat, threshold=0.8, preregistered=True, blinding=None).tier == (
        "no-practical-difference"
    )
    unclear = dataclasses.replace(readme, p_benefit=0.7, p_mcid=0.3, p_rope=0.4)
    v = make_verdict(unclear, threshold=0.8, preregistered=True, blinding=None)
    assert v.tier == "no-clear-benefit" and v.headline.startswith("No clear benefit")
    worse = dataclasses.replace(readme, p_benefit=0.01, p_mcid=0.0, p_rope=0.1)
    assert make_verdict(worse, threshold=0.8, preregistered=True, blinding=None).tier == "harm"
    failed = dataclasses.replace(readme, diagnostics=Diagnostics(ok=False))
    v = make_verdict(failed, threshold=0.8, preregistered=True, blinding=None)
    assert v.tier == "no-verdict" and v.criterion_met is None
    assert v.lines[0].endswith("not judged (the model fit failed its convergence checks)")


def test_expectation_bound_removes_what_belief_could_explain(trial):
    res = analyze_trial(trial, seed=1)
    b = res.verdict.bound
    assert b.expectation_max == 1.0
    assert 0 < b.belief_gap <= 1
    # The bound shifts the effect towards no benefit by exactly what it removes.
    assert b.mean == pytest.approx(res.summary.mean + b.explained, abs=0.05)
    assert b.p_benefit < res.summary.p_benefit
    none = analyze_trial(trial, seed=1, expectation_max=0)
    assert none.verdict.bound is None


def test_trial_analysis_is_pre_registered_and_carries_the_blinding(trial):
    res = analyze_trial(trial, seed=1)
    assert res.verdict.criterion.preregistered
    assert res.blinding.status == res.verdict.blinding
    assert [se.name for se in res.blinding.side_effects] == ["diarrhoea"]
    other = analyze_trial(trial, seed=1, mcid=2.0)
    assert not other.verdict.criterion.preregistered


def test_cli_prints_the_decision_line_and_the_blinding(trial):
    result = CliRunner().invoke(cli, ["analyze", "--trial", str(trial), "--seed", "1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[3].startswith("Pre-registered criterion P(benefit >= 1 point) > 0.80: ")
    assert lines[4].startswith("Verdict (benefit")
    out = result.output
    assert "  Blinding  " in out or "  Blinding" in out
    for label in ("P(guesses better than chance)", "Right guesses on A", "Bang index (descriptive)",
                  "diarrhoea "):  # fmt: skip
        assert label in out
    assert "P(could tell" not in out
    assert "Expectation bound: if believing one is on Magnesium changes pain by up to 1 point" in (
        " ".join(out.split())
    )


def test_cli_json_has_tier_criterion_and_blinding_intervals(trial):
    result = CliRunner().invoke(cli, ["analyze", "--trial", str(trial), "--seed", "1", "--json"])
    d = json.loads(result.output)
    assert d["verdict"]["tier"] in ("benefit", "benefit-unblinded")
    assert d["verdict"]["criterion_met"] is False
    assert d["verdict"]["criterion"]["line"].startswith("Pre-registered criterion")
    assert d["verdict"]["blinding"]["status"] == d["blinding"]["status"]
    share = d["blinding"]["daily_guesses"]["share_correct"]["B"]
    assert share["low"] <= share["mean"] <= share["high"]
    rate = d["blinding"]["side_effects"][0]["rates"]["A"]
    assert rate["low"] <= rate["mean"] <= rate["high"]
    assert d["effect_text"].startswith("On Magnesium (A) your pain was on average")


def test_cli_analyses_a_side_effect_as_rates(trial):
    result = CliRunner().invoke(
        cli, ["analyze", "--trial", str(trial), "--outcome", "diarrhoea", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "binomial likelihood" in out
    assert "Rate on A" in out and "Rate on B" in out and "Rate ratio A/B" in out
    assert "P(benefit >= 10 percentage points)" in out
    assert "points lower" not in out.replace("percentage points lower", "")


def test_retired_expectation_option_points_to_the_new_analysis(trial):
    result = CliRunner().invoke(cli, ["analyze", "--trial", str(trial), "--expectation"])
    assert result.exit_code != 0
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: --expectation was retired: the guesses are recorded after")
    assert "--expectation-max" in line and "docs/validation.md" in line

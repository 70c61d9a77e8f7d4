"""Design study (issue 7): power and false positives by simulation, and ``nof1 design``."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner
from mcerror import SEED_SHIFT, record

from nof1.analysis.models.exact import fit_exact
from nof1.analysis.series import Series
from nof1.cli import cli
from nof1.design import (
    DesignResult,
    analyse_batch,
    evaluate_designs,
    protocol_command,
    recommend,
)
from nof1.design.simulate import Layout, simulate_batch
from nof1.errors import ProtocolError

ACCEPT = {"effect": -1.5, "sd": 1.5, "rho": 0.5, "mcid": 1.0, "threshold": 0.8}


def _brute_force_power(sims: int, seed: int) -> float:
    """Power from individual ``fit_exact`` fits of the very trials evaluate_designs simulates.

    ``evaluate_designs`` draws the assumed-effect batch first from ``default_rng(seed)``, so
    the same call here reproduces the same simulated data: the comparison is exact up to the
    engines' rho grids (400 points here, 200 in the batch path).
    """
    layout = Layout(blocks=4, period_days=14)
    batch = simulate_batch(
        layout, None, sims, effect=ACCEPT["effect"], sd=ACCEPT["sd"], rho=ACCEPT["rho"],
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    hits = 0
    for y, a in zip(batch.Y, batch.active, strict=True):
        s = Series(y=y, active=a, day=batch.day, block=batch.block, period=batch.period)
        fit = fit_exact(s, "neutral", ar1=True)
        hits += fit.exact.cdf(-ACCEPT["mcid"]) > ACCEPT["threshold"]
    return hits / sims


def test_power_matches_brute_force_fits():
    sims, seed = 300, 11 + SEED_SHIFT
    (res,) = evaluate_designs(blocks=(4,), period_days=(14,), sims=sims, seed=seed, **ACCEPT)
    brute = _brute_force_power(sims, seed)
    record(power=res.power, brute_force=brute)
    assert abs(res.power - brute) <= 0.03
    assert 0.35 < res.power < 0.8  # an informative design, neither hopeless nor certain
    assert res.false_positive <= 0.06
    assert res.trial_days == 112 and res.min_p == 1 / 16


def test_strict_power_matches_brute_force_fits():
    """power_strict: the share of trials with P(benefit) > 0.95, from the same fits."""
    sims, seed = 200, 3
    (res,) = evaluate_designs(blocks=(4,), period_days=(14,), sims=sims, seed=seed, **ACCEPT)
    layout = Layout(blocks=4, period_days=14)
    batch = simulate_batch(
        layout, None, sims, effect=ACCEPT["effect"], sd=ACCEPT["sd"], rho=ACCEPT["rho"],
        rng=np.random.default_rng(seed),
    )  # fmt: skip
    strict = 0
    for y, a in zip(batch.Y, batch.active, strict=True):
        s = Series(y=y, active=a, day=batch.day, block=batch.block, period=batch.period)
        strict += fit_exact(s, "neutral", ar1=True).exact.cdf(0.0) > 0.95
    assert abs(res.power_strict - strict / sims) <= 0.03
    assert res.power_strict > res.power  # any benefit is easier to show than >= 1 point


@pytest.mark.slow
def test_power_matches_brute_force_fits_large():
    sims, seed = 1000, 5 + SEED_SHIFT
    (res,) = evaluate_designs(blocks=(4,), period_days=(14,), sims=sims, seed=seed, **ACCEPT)
    brute = _brute_force_power(sims, seed)
    record(power=res.power, brute_force=brute)
    assert abs(res.power - brute) <= 0.01


def test_false_positive_rate_under_no_effect():
    # With effect 0 the power column *is* a false-positive rate: check both scenarios.
    (res,) = evaluate_designs(
        blocks=(4,), period_days=(14,), sims=1000, seed=3, **{**ACCEPT, "effect": 0.0}
    )
    assert res.power <= 0.06
    assert res.false_positive <= 0.06


def test_more_blocks_more_power_and_narrower_intervals():
    res = evaluate_designs(blocks=(2, 6), period_days=(14,), sims=600, seed=2)
    short, long = res
    assert (short.blocks, long.blocks) == (2, 6)
    assert long.power > short.power + 0.15
    assert long.interval_width < short.interval_width
    assert (short.min_p, long.min_p) == (0.25, 1 / 64)


def test_reproducible_and_progress_called():
    calls = []
    a = evaluate_designs(blocks=(2, 3), period_days=(7,), sims=100, seed=9, progress=calls.append)
    b = evaluate_designs(blocks=(2, 3), period_days=(7,), sims=100, seed=9)
    assert a == b
    assert calls == [1, 1]


def test_scheme_sets_min_p_and_command():
    (res,) = evaluate_designs(blocks=(3,), period_days=(7,), sims=50, scheme="random-pairs")
    assert res.min_p == 1 / 20  # comb(6, 3) allocations
    assert protocol_command(res).endswith("--washout-days 0 --scheme random-pairs")


def test_carryover_costs_power():
    kw = {"blocks": (4,), "period_days": (7,), "sims": 800, "seed": 4}
    (instant,) = evaluate_designs(**kw)
    (slow,) = evaluate_designs(tau=7.0, **kw)
    assert slow.power < instant.power - 0.1
    assert instant.mean_estimate == pytest.approx(-1.5, abs=0.2)  # the prior shrinks a little
    assert slow.mean_estimate > instant.mean_estimate + 0.3  # shrunk towards 0


def test_washout_days_shorten_the_analysed_days_not_the_trial():
    (res,) = evaluate_designs(blocks=(3,), period_days=(14,), washout_days=4, sims=100, seed=0)
    assert res.trial_days == 84 and res.washout_days == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blocks": (0,)}, "blocks must be 2 or more, got 0"),
        ({"period_days": (7,), "washout_days": 7}, r"washout-days \(7\) must be shorter"),
        ({"threshold": 1.2}, "threshold must be in 0.5-1, got 1.2"),
        ({"sims": 5}, "sims must be at least 10, got 5"),
    ],
)
def test_evaluate_designs_rejects_bad_input(kwargs, message):
    with pytest.raises(ProtocolError, match=message):
        evaluate_designs(**{"sims": 50, **kwargs})


def _result(blocks, days, power, fp):
    return DesignResult(
        blocks, days, 0, 2 * blocks * days, power, power, fp, 1.0, -1.5, 2.0**-blocks, 100
    )


def test_recommend_shortest_adequate_design():
    results = [
        _result(2, 14, 0.7, 0.01),
        _result(3, 14, 0.82, 0.08),  # too many false positives
        _result(4, 14, 0.85, 0.02),
        _result(6, 14, 0.95, 0.01),
    ]
    assert recommend(results) == results[2]
    assert recommend(results[:2]) is None
    assert protocol_command(results[2], "magnesium-crps") == (
        "nof1 protocol new --template magnesium-crps --blocks 4 --period-days 14 --washout-days 0"
    )


def test_designs_are_analysed_with_the_templates_onset_model():
    """With slow onset (tau 10 days) the plain analysis underestimates the effect; the
    magnesium template pre-registers the onset model, and the design study analyses with it
    (as `nof1 design --sequential` does), so its estimates sit much closer to the truth."""
    from nof1.plan.templates import protocol_from_template, read_template

    onset = protocol_from_template(read_template("magnesium-crps"), start=date(2030, 1, 7)).analysis
    assert onset.carryover
    kw = dict(effect=-1.5, tau=10.0, sims=300, seed=5)
    (plain,) = evaluate_designs((3,), (28,), 7, **kw)
    (modelled,) = evaluate_designs((3,), (28,), 7, analysis=onset, **kw)
    # Issue 13's onset study (2,000 trials): bias +0.50 plain, +0.18 with the onset model;
    # the mean of 300 estimates has a standard error of about 0.04.
    assert plain.mean_estimate - (-1.5) > 0.35
    assert modelled.mean_estimate - (-1.5) < plain.mean_estimate - (-1.5) - 0.15


# --- CLI ----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(args):
        result = CliRunner().invoke(cli, ["design", *args])
        return result, list(tmp_path.iterdir())

    return invoke


def test_cli_without_options_evaluates_the_magnesium_template_for_a_patient(run):
    result, written = run(["--sims", "100"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert lines[0].startswith("What a trial of Magnesium can show (magnesium-crps;")
    assert "analysed as pre-registered (with the onset model" in lines[1]
    assert "the rule: benefit if P(benefit >= 1) > 0.8." in lines[1]
    header = next(i for i, line in enumerate(lines) if "finds benefit" in line)
    assert lines[header].split() == [
        "blocks", "period", "washout", "weeks", "finds", "benefit", "P(benefit)>0.95",
        "false", "alarm", "interval", "smallest", "p",
    ]  # fmt: skip
    first = lines[header + 1]
    assert first.startswith("*") and first.endswith("(the template's design)")
    assert first.split()[1:5] == ["3", "28", "7", "25"]
    for head, text in (
        ("finds benefit", "chance that the pre-registered rule concludes benefit"),
        ("P(benefit)>0.95", "chance that P(any benefit) exceeds 0.95"),
        ("interval", "expected width of the 95% interval of the effect"),
        ("smallest p", "smallest p-value the randomization test can reach"),
    ):
        assert any(line.split(head, 1)[-1].strip().startswith(text) for line in lines), head
    assert "What the template's design (3 blocks of 28-day periods, 25 weeks) can show:" in out
    assert "If Magnesium lowers your pain by 1.5 points, this design concludes benefit" in out
    assert lines[-4] == "To create it, with the template's treatments, outcomes and analysis:"
    assert lines[-3].startswith("  nof1 protocol new --template magnesium-crps --blocks ")
    assert lines[-2:] == [
        "Or keep the template's own design:",
        "  nof1 protocol new --template magnesium-crps --blocks 3 --period-days 28 --washout-days 7",
    ]
    assert "generic-ab" not in out
    assert written == []


def test_cli_recommends_the_shortest_adequate_design_of_the_chosen_template(run):
    args = ["--template", "generic-ab", "--blocks", "2,6", "--period-days", "14"]
    # -2.2: the template's 4 blocks find it in 90% of trials, 2 blocks in 76%.
    result, _ = run([*args, "--effect", "-2.2", "--sims", "200"])
    assert result.exit_code == 0, result.output
    assert "Recommended: keep the template's design (it reaches 80%" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "  nof1 protocol new --template generic-ab --blocks 4 --period-days 14 --washout-days 3"
    )
    result, _ = run([*args, "--effect", "-4", "--sims", "200"])  # 2 blocks are enough now
    assert "Recommended: 2 blocks of 14-day periods (8 weeks), the shortest design" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-3:] == [
        "  nof1 protocol new --template generic-ab --blocks 2 --period-days 14 --washout-days 3",
        "Or keep the template's own design:",
        "  nof1 protocol new --template generic-ab --blocks 4 --period-days 14 --washout-days 3",
    ]


def test_cli_json(run):
    result, _ = run(["--blocks", "2,3", "--period-days", "14", "--sims", "100", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["template"] == "magnesium-crps"
    assert (data["designs"][0]["blocks"], data["designs"][0]["period_days"]) == (3, 28)
    assert data["designs"][0] == data["template_design"]
    assert [(d["blocks"], d["period_days"]) for d in data["designs"][1:]] == [(2, 14), (3, 14)]
    assert set(data["designs"][0]) >= {
        "power", "power_strict", "false_positive", "interval_width", "min_p",
    }  # fmt: skip
    assert data["command"].startswith("nof1 protocol new --template magnesium-crps")
    assert data["can_show"].startswith("If Magnesium lowers your pain by 1.5 points")
    assert data["assumptions"]["sims"] == 100


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--blocks", "2,x"], "Error: --blocks '2,x': 'x' is not a whole number (give e.g. 2,3,4)"),
        (
            ["--blocks", "0"],
            "Error: blocks must be 2 or more, got 0: one A/B pair cannot separate an effect "
            "from chance",
        ),
        (
            ["--period-days", "7", "--washout-days", "7"],
            "Error: washout-days (7) must be shorter than period-days (7): no day of a period "
            "would be analysed",
        ),
    ],
)
def test_cli_bad_input_one_error_line(run, args, line):
    result, written = run([*args, "--sims", "50"])
    assert result.exit_code != 0
    err_lines = [x for x in result.stderr.splitlines() if x.startswith("Error")]
    assert err_lines == [line]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert written == []


def test_analyse_batch_keeps_each_trials_own_allocation():
    layout = Layout(blocks=3, period_days=7, washout_days=1)
    batch = simulate_batch(layout, None, 40, effect=-1.0, sd=1.0, rho=0.3, rng=8)
    res = analyse_batch(batch, trend="linear", thresholds=(0.0, -1.0))
    assert res.p_below.shape == (40, 2) and res.mean.shape == (40,)
    for i in (0, 17, 39):
        s = Series(
            y=batch.Y[i], active=batch.active[i], day=batch.day, block=batch.block,
            period=batch.period,
        )  # fmt: skip
        fit = fit_exact(s, "neutral", trend="linear", grid_size=200)
        assert res.mean[i] == pytest.approx(fit.exact.mean, abs=1e-3)
        assert res.p_below[i, 1] == pytest.approx(fit.exact.cdf(-1.0), abs=1e-3)

"""The report and the analysis of a sequential trial (issue 16): its looks, where it stopped,
the final posterior of the blocks run, and the bias of stopping early."""

from __future__ import annotations

import csv
import html as html_lib
import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner

from nof1.analysis.analyze import analyze_trial
from nof1.cli import cli
from nof1.cli.demo import DEMO_PASSPHRASE, DEMO_START, simulate_diary
from nof1.diary.store import open_diary
from nof1.plan.sealing import open_allocation
from nof1.plan.stopping import CONTINUE, STOP_EFFICACY, STOP_FUTILITY, SequentialRule
from nof1.report import trial_report
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.monitoring import read_monitoring
from nof1.trial.writes import import_diary, unblind_trial

#: What ``nof1 design --sequential`` records with a rule (made-up numbers, plain values).
SIMULATED = {
    "sims": 2000, "seed": 16, "effect": -1.5, "sd": 1.2, "rho": 0.5, "tau": 0.0,
    "calibration_rhos": [0.0, 0.5, 0.8], "false_positive": 0.041, "power": 0.71,
    "fixed_blocks": 3, "fixed_power": 0.62,
    "expected_days_no_effect": 180.0, "expected_days_effect": 150.0, "fixed_days": 231,
    "stops_efficacy": [700, 312, 120], "bias_efficacy": [-0.62, -0.45, -0.1],
    "stops_futility": [90, 60, 0], "bias_futility": [0.71, 0.52, 0.0],
}  # fmt: skip
RULE = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4), "custom", 0.05, SIMULATED)
BARE = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))
DESIGN = {"period_days": 14, "washout_days": 3, "run_in_days": 7}


def _trial(folder, rule, looks, through_block, extra_days=0):
    """A sequential magnesium trial, its diary recorded through ``through_block`` (and
    ``extra_days`` more), its looks recorded, then unblinded the day after."""
    p = create_trial(folder, "magnesium-crps", passphrase=DEMO_PASSPHRASE, start=DEMO_START,
                     seed=4, sequential=rule, reproducible=True, **DESIGN)  # fmt: skip
    arms = open_allocation(folder, DEMO_PASSPHRASE).arms
    rows, _ = simulate_diary(p, arms, seed=4)
    last = max(q.end for q in p.periods if q.block == through_block) + timedelta(extra_days)
    rows = [r for r in rows if r["date"] <= last.isoformat()]
    diary_csv = folder.parent / f"{folder.name}.csv"
    with diary_csv.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import_diary(folder, diary_csv)
    # Signed with the helper's key, as `nof1 interim` signs them.
    key = open_trial(folder).open_secrets(DEMO_PASSPHRASE).signing_key
    with open_diary(folder, p) as diary:
        recorded = [diary.record_look(*look, signing_key=key) for look in looks]
    unblind_trial(folder, DEMO_PASSPHRASE, today=min(last, p.end) + timedelta(days=1))
    return p, recorded


def _section(page: str) -> str:
    start = page.index('<section id="interim">')
    return page[start : page.index("</section>", start)]


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)))


@pytest.fixture(scope="module")
def efficacy_stop(tmp_path_factory):
    """Looks after block 2 (run twice: CONTINUE) and block 3 (STOP: efficacy), with two
    days of block 4's washout recorded before the stop was known."""
    folder = tmp_path_factory.mktemp("seq") / "efficacy"
    looks = [(1, 2, CONTINUE), (1, 2, CONTINUE), (2, 3, STOP_EFFICACY)]
    p, recorded = _trial(folder, RULE, looks, through_block=3, extra_days=2)
    result = analyze_trial(folder, seed=1, prior_sensitivity=True)
    return p, recorded, result, trial_report(folder, result=result, seed=1)


@pytest.fixture(scope="module")
def ran_to_end(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq") / "end"
    looks = [(1, 2, CONTINUE), (2, 3, CONTINUE), (3, 4, STOP_FUTILITY)]
    p, recorded = _trial(folder, RULE, looks, through_block=4)
    return folder, p, recorded, trial_report(folder, seed=1)


def test_the_section_lists_every_look_with_its_date_and_decision(efficacy_stop):
    p, recorded, _, page = efficacy_stop
    section = _section(page)
    rows = re.findall(r'<tr data-decision="([^"]+)">(.*?)</tr>', section, flags=re.S)
    assert [d for d, _ in rows] == [CONTINUE, CONTINUE, STOP_EFFICACY]
    for (_, cells), look in zip(rows, recorded, strict=True):
        text = _text(cells)
        assert look.at.strftime("%Y-%m-%d %H:%M") in text
        block_end = max(q.end for q in p.periods if q.block == look.after_block)
        assert f"{look.after_block} ({block_end})" in text
        assert f"1–{look.after_block}" in text
    assert "(repeated)" in _text(rows[1][1]) and "(repeated)" not in _text(rows[0][1])
    text = _text(section)
    assert RULE.describe(1.0) in text
    assert "The trial stopped early at look 2, after block 3 of 4 (STOP: efficacy)" in text
    assert "block 4 was not run." in text


def test_an_efficacy_stop_warns_with_the_simulated_bias_at_its_look(efficacy_stop):
    text = _text(_section(efficacy_stop[3]))
    assert "Stopping early for benefit tends to overestimate the effect" in text
    assert "Bassler et al., JAMA 2010" in text
    # Look 2: bias -0.45 on a lower-is-better scale = the benefit overestimated by 0.45.
    assert (
        "In the design's simulation, trials that stopped here for efficacy overestimated the "
        "benefit by 0.45 points on average (312 of 2,000 simulated trials, true effect -1.5 "
        "points)." in text
    )
    assert (
        "false-positive rate over all looks) was 0.041, the largest over autocorrelations 0, "
        "0.5, 0.8 (target at most 0.05)" in text
    )
    assert "the power was 0.71 (the fixed design of 3 blocks: 0.62)" in text
    assert "180 days with no effect and 150 days with that effect, against 231 days" in text
    summary = _text(efficacy_stop[3].split('id="summary"')[1].split('id="interim"')[0])
    assert "stopped early at look 2, after block 3 (STOP: efficacy)" in summary


def test_the_final_analysis_uses_the_blocks_run_and_says_so(efficacy_stop):
    p, _, result, page = efficacy_stop
    assert set(result.series.block[result.series.block > 0]) == {1, 2, 3}
    # The randomization test runs over the three blocks run, not the planned four.
    assert result.randomization_test.n_allocations == 8
    assert result.options["washout_rows"] == 3 * 2 * DESIGN["washout_days"]
    text = _text(_section(page))
    assert f"uses every day recorded: blocks 1–3 ({result.summary.n_observed} analysed" in text
    assert "(stopped early at an interim look; planned to" in _text(page)


def test_a_trial_that_ran_to_its_end_has_no_warning(ran_to_end):
    _, p, recorded, page = ran_to_end
    section = _section(page)
    assert re.findall(r'<tr data-decision="([^"]+)">', section) == [
        CONTINUE, CONTINUE, STOP_FUTILITY,
    ]  # fmt: skip
    text = _text(section)
    assert "The trial ran to its planned end" in text
    assert "in all 4 blocks" in text
    assert 'id="interim-bias"' not in section and "tends to overestimate" not in page
    assert "simulated trials, true effect" not in page


def test_a_futility_stop_says_it_tends_to_underestimate(tmp_path):
    looks = [(1, 2, STOP_FUTILITY)]
    _trial(tmp_path / "f", RULE, looks, through_block=2)
    text = _text(_section(trial_report(tmp_path / "f", seed=1)))
    assert "Stopping early for futility tends to underestimate the effect" in text
    assert (
        "trials that stopped here for futility underestimated the benefit by 0.71 points on "
        "average (90 of 2,000 simulated trials" in text
    )


def test_a_hand_made_rule_says_its_simulation_is_not_on_record(tmp_path):
    _trial(tmp_path / "b", BARE, [(1, 2, STOP_EFFICACY)], through_block=2)
    text = _text(_section(trial_report(tmp_path / "b", seed=1)))
    assert "The design's simulation is not on record in the protocol" in text
    assert "how large this bias is for this design is not known" in text
    assert "Stopping early for benefit tends to overestimate the effect" in text


def test_analyze_mentions_the_looks_and_json_has_the_sequential_object(efficacy_stop, tmp_path):
    folder = tmp_path / "e"
    looks = [(1, 2, CONTINUE), (2, 3, STOP_EFFICACY)]
    _trial(folder, RULE, looks, through_block=3)
    res = CliRunner().invoke(cli, ["analyze", "--trial", str(folder), "--seed", "1"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert (
        "Sequential trial: 2 interim looks recorded (look 1 after block 2: CONTINUE; look 2 "
        "after block 3: STOP: efficacy)." in out
    )
    assert (
        "Stopped early at look 2 after block 3 of 4 (STOP: efficacy); this analysis uses blocks 1-3."
        in out
    )
    res = CliRunner().invoke(cli, ["analyze", "--trial", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    seq = json.loads(res.stdout)["sequential"]
    assert seq["rule"]["looks"] == [2, 3, 4] and seq["rule"]["efficacy"] == [0.9, 0.85, 0.8]
    assert [(x["look"], x["after_block"], x["decision"]) for x in seq["looks"]] == [
        (1, 2, CONTINUE), (2, 3, STOP_EFFICACY),
    ]  # fmt: skip
    assert seq["stopped_at"]["look"] == 2 and seq["stopped_at"]["decision"] == STOP_EFFICACY
    assert seq["stopped_early"] and seq["blocks_analysed"] == 3 and seq["max_blocks"] == 4
    assert seq["simulated_bias"] == {
        "reason": "efficacy", "overestimate": 0.45, "stopped": 312, "sims": 2000, "effect": -1.5,
    }  # fmt: skip


def test_a_last_look_is_the_planned_end_not_an_early_stop(ran_to_end):
    folder = ran_to_end[0]
    monitoring = read_monitoring(folder)
    assert monitoring.stopped.decision == STOP_FUTILITY and not monitoring.stopped_early
    assert monitoring.blocks_analysed == 4 and monitoring.simulated_bias() is None
    assert monitoring.missed() == ()


def test_a_look_not_taken_is_named_and_repeats_are_marked():
    from datetime import UTC, date, datetime

    from nof1.diary.records import Look
    from nof1.trial.monitoring import Monitoring

    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    ends = (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1))
    # The look after block 2 was never taken; the one after block 3 twice, then STOP.
    looks = (Look(2, 3, CONTINUE, at), Look(2, 3, CONTINUE, at), Look(3, 4, STOP_FUTILITY, at))
    m = Monitoring(RULE, looks, 4, ends)
    assert m.missed() == (2,) and m.repeats() == (False, True, False)
    assert not m.stopped_early and m.simulated_bias() is None
    assert Monitoring(RULE, (), 4, ends).summary_lines() == [
        "Sequential trial: 0 interim looks recorded.",
        "No look said STOP: the trial ran its 4 blocks; this analysis uses all of them.",
    ]

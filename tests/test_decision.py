"""Issue 24: the patient's pre-registered trade-off ([decision]) and the net benefit.

Parsing and checking the section, the formula on hand-made draws, the decision rule's
edges, ``protocol new`` asking the question, ``nof1 analyze`` stating the result, the
commitment covering the section, and (slow) a spot check of ``bench/decision.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from nof1.analysis.decision import DECISIONS, NetBenefit, TradeOff, decide, net_benefit
from nof1.cli import cli
from nof1.errors import DataError, ProtocolError
from nof1.plan.checks import Fields
from nof1.plan.protocol import load_protocol, protocol_to_toml
from nof1.plan.sealing import open_allocation
from nof1.plan.sections import Outcome, parse_decision
from nof1.plan.templates import protocol_from_template, read_template
from nof1.trial.create import create_trial
from nof1.trial.writes import import_diary, unblind_trial

PASS = "correct horse battery"
START = date(2026, 1, 5)
DESIGN = {"blocks": 3, "period_days": 7, "washout_days": 0}
OUTCOMES = (
    Outcome("pain", "Pain", "?", primary=True),
    Outcome("sleep", "Sleep", "?", lower_is_better=False),
    Outcome("diarrhoea", "Diarrhoea", "?", kind="binary", low=0, high=1, role="side-effect"),
)


def _parse(section):
    return parse_decision(section, Fields("protocol.toml"), OUTCOMES, 0.8)


# ------------------------------------------------------------------------- the section


def test_a_protocol_without_decision_keeps_the_pain_only_rule(trial):
    assert load_protocol(trial).decision is None
    assert "decision" not in protocol_to_toml(load_protocol(trial))


def test_the_section_is_read_with_the_analysis_threshold_as_default():
    assert _parse({"days_per_point": {"diarrhoea": 2}}) == TradeOff({"diarrhoea": 2.0}, 0.8)
    assert _parse({"days_per_point": {"diarrhoea": 0.5}, "threshold": 0.9}).threshold == 0.9
    assert _parse(None) is None


@pytest.mark.parametrize(
    "section, message",
    [
        ({}, "decision.days_per_point is missing"),
        ({"days_per_point": {}}, "decision.days_per_point is empty"),
        ({"days_per_point": {"diarrhoea": 2}, "thresold": 0.9}, "unknown key 'thresold'"),
        ({"days_per_point": 2}, "decision.days_per_point must be a table of keys, not 2"),
        (
            {"days_per_point": {"diarrhoea": 0}},
            "must be above 0 and at most 7 (days a week), not 0",
        ),
        ({"days_per_point": {"diarrhoea": -1}}, "not -1"),
        ({"days_per_point": {"diarrhoea": 8}}, "at most 7 (days a week), not 8"),
        ({"days_per_point": {"diarrhoea": float("nan")}}, "must be a finite number, not nan"),
        ({"days_per_point": {"diarrhoea": float("inf")}}, "must be a finite number, not inf"),
        ({"days_per_point": {"diarrhoea": "2"}}, "must be a finite number, not '2'"),
        ({"days_per_point": {"diarrhoea": True}}, "must be a finite number, not true"),
        ({"days_per_point": {"sleep": 2}}, "names 'sleep', not a yes/no outcome of this protocol"),
        ({"days_per_point": {"nausea": 2}}, "names 'nausea', not a yes/no outcome"),
        ({"days_per_point": {"Bad Name": 2}}, "decision.days_per_point names 'Bad Name'"),
        ({"days_per_point": {"diarrhoea": 2}, "threshold": 1}, "must be below 1, not 1"),
        ({"days_per_point": {"diarrhoea": 2}, "threshold": 0.3}, "not 0.3"),
        ("yes", "decision must be a table of keys, not 'yes'"),
    ],
)
def test_a_bad_section_is_refused_naming_the_value(section, message):
    with pytest.raises(ProtocolError) as err:
        _parse(section)
    assert "protocol.toml" in str(err.value)  # the document is named
    assert message in str(err.value)


def test_the_trade_off_is_written_read_back_and_sealed_by_the_commitment(tmp_path):
    p = create_trial(tmp_path / "t", "magnesium-crps", passphrase=PASS, start=date.today(),
                     trade_off={"diarrhoea": 2})  # fmt: skip
    assert p.decision == TradeOff({"diarrhoea": 2.0}, 0.8)
    text = (tmp_path / "t" / "protocol.toml").read_text()
    assert "[decision]\nthreshold = 0.8\n\n[decision.days_per_point]\ndiarrhoea = 2.0\n" in text
    assert load_protocol(tmp_path / "t") == p
    other = create_trial(tmp_path / "u", "magnesium-crps", passphrase=PASS, start=date.today(),
                         trade_off={"diarrhoea": 3})  # fmt: skip
    document = tomllib.loads((tmp_path / "u" / "protocol.toml").read_text())
    assert document["decision"]["days_per_point"] == {"diarrhoea": 3.0}
    assert other.registration != p.registration


def test_the_magnesium_template_explains_the_question_and_decides_nothing_itself():
    text = (
        read_template("magnesium-crps")["_source"]
        and (Path(__file__).parents[1] / "protocols" / "magnesium-crps.toml").read_text()
    )
    assert '"1 point less pain is worth diarrhoea\n# on up to how many more days a week?"' in text
    assert "press Enter there to skip, and pain alone decides" in text
    assert "decision" not in read_template("magnesium-crps")


def test_a_template_with_the_section_uncommented_registers_it(tmp_path):
    text = (Path(__file__).parents[1] / "protocols" / "magnesium-crps.toml").read_text()
    text = re.sub(
        r"^# (\[decision\]$|\[decision\.days_per_point\]$|threshold = 0\.8 |diarrhoea = 2 )",
        r"\1",
        text,
        flags=re.M,
    )
    path = tmp_path / "mine.toml"
    path.write_text(text)
    p = protocol_from_template(read_template(path), start=date.today())
    assert p.decision == TradeOff({"diarrhoea": 2.0}, 0.8)
    # What the patient answers (or --trade-off) replaces the template's days.
    p = protocol_from_template(read_template(path), start=date.today(), trade_off={"diarrhoea": 1})
    assert p.decision == TradeOff({"diarrhoea": 1.0}, 0.8)


# ------------------------------------------------------------------------- the formula


def test_the_net_benefit_is_the_gain_less_the_extra_days_at_the_patients_rate():
    n = 1000
    gain = np.linspace(0.5, 2.5, n)  # mean 1.5
    rates = {"diarrhoea": (np.full(n, 0.20), np.full(n, 0.05))}
    nb = net_benefit(TradeOff({"diarrhoea": 2.0}, 0.8), gain, rates, pain_only_met=False,
                     pain_only_p=0.64)  # fmt: skip
    # 7 * 0.15 = 1.05 more days a week, at 2 days a point: 0.525 points.
    assert nb.mean == pytest.approx(1.5 - 0.525)
    assert nb.gain == pytest.approx(1.5)
    assert nb.side_effects == {"diarrhoea": {"extra_days": pytest.approx(1.05),
                                             "cost": pytest.approx(0.525)}}  # fmt: skip
    assert nb.p_positive == pytest.approx(np.mean(gain > 0.525))
    assert nb.hdi_low == pytest.approx(0.5 - 0.525, abs=0.01)
    assert nb.hdi_high == pytest.approx(0.5 + 0.95 * 2 - 0.525, abs=0.01)
    assert nb.decision == "worth continuing"
    assert nb.sentence() == (
        "Net benefit: +1.0 points (95% interval -0.0 to +1.9), P(worth it) 0.99: worth "
        "continuing; pain alone: criterion not met (0.64)"
    )


def test_two_side_effects_each_cost_at_their_own_rate():
    n = 10
    rates = {"a": (np.full(n, 0.3), np.full(n, 0.3)), "b": (np.full(n, 0.5), np.zeros(n))}
    nb = net_benefit(TradeOff({"a": 1.0, "b": 7.0}, 0.8), np.full(n, 0.2), rates,
                     pain_only_met=True)  # fmt: skip
    assert nb.mean == pytest.approx(0.2 - 0.0 - 3.5 / 7)
    assert nb.decision == "not worth it"


def test_draws_that_do_not_match_are_refused():
    t = TradeOff({"diarrhoea": 2.0}, 0.8)
    with pytest.raises(DataError, match="no draws of side effect 'diarrhoea'"):
        net_benefit(t, np.ones(4), {}, pain_only_met=True)
    with pytest.raises(DataError, match="has 3 and 4 draws, the gain 4"):
        net_benefit(t, np.ones(4), {"diarrhoea": (np.ones(3), np.ones(4))}, pain_only_met=True)


@pytest.mark.parametrize(
    "p, expected",
    [
        (0.8001, "worth continuing"),
        (0.8, "cannot tell"),  # P must exceed the threshold
        (0.5, "cannot tell"),
        (0.2, "cannot tell"),  # and fall below one minus it
        (0.1999, "not worth it"),
        (1.0, "worth continuing"),
        (0.0, "not worth it"),
    ],
)
def test_the_decision_rule_at_its_edges(p, expected):
    assert decide(p, 0.8) == expected
    assert expected in DECISIONS


# --------------------------------------------------------------- protocol new asks


@pytest.fixture
def phrase(tmp_path) -> Path:
    path = tmp_path / "phrase.txt"
    path.write_text(PASS + "\n")
    return path


def _new(tmp_path, phrase, *extra, answers=None):
    args = ["protocol", "new", "--template", "magnesium-crps", "--trial", str(tmp_path / "t"),
            "--passphrase-file", str(phrase), *extra]  # fmt: skip
    return CliRunner().invoke(cli, args, input=answers)


QUESTION = (
    "1 point less pain is worth diarrhoea on up to how many more days a week? "
    "(Enter to skip: pain alone decides)"
)


def test_protocol_new_asks_the_patient_at_a_terminal(tmp_path, phrase, monkeypatch):
    monkeypatch.setattr("nof1.cli.protocol_cmds._interactive", lambda: True)
    res = _new(tmp_path, phrase, answers="two\n2\n")
    assert res.exit_code == 0, res.output
    assert res.stdout.count(QUESTION) == 2
    assert "'two' is not a number of days from more than 0 to 7" in res.stdout
    assert "  1 point less pain is worth diarrhoea on up to 2 more days a week." in res.stdout
    assert load_protocol(tmp_path / "t").decision == TradeOff({"diarrhoea": 2.0}, 0.8)


def test_enter_at_the_question_keeps_the_pain_only_rule(tmp_path, phrase, monkeypatch):
    monkeypatch.setattr("nof1.cli.protocol_cmds._interactive", lambda: True)
    res = _new(tmp_path, phrase, answers="\n")
    assert res.exit_code == 0, res.output
    assert QUESTION in res.stdout
    assert load_protocol(tmp_path / "t").decision is None
    assert "[decision]" not in (tmp_path / "t" / "protocol.toml").read_text()


def test_a_script_is_not_asked_and_gives_the_trade_off_as_an_option(tmp_path, phrase):
    res = _new(tmp_path, phrase)
    assert res.exit_code == 0 and QUESTION not in res.output
    assert load_protocol(tmp_path / "t").decision is None
    res = _new(tmp_path, phrase, "--trade-off", "diarrhoea=1.5", "--force")
    assert res.exit_code == 0, res.output
    assert load_protocol(tmp_path / "t").decision == TradeOff({"diarrhoea": 1.5}, 0.8)


# ------------------------------------------------------------ analyze after unblinding


def _finished_trial(folder: Path, seed: int = 3) -> None:
    """A finished, unblinded generic-ab trial whose patient gave a trade-off: pain about
    1.5 points lower on A, side effects on about 40% of A days and 5% of B days."""
    p = create_trial(folder, "generic-ab", passphrase=PASS, start=START, seed=seed,
                     trade_off={"side_effects": 2}, **DESIGN)  # fmt: skip
    arms = open_allocation(folder, PASS).arms
    rng = np.random.default_rng(seed)
    lines = ["date,pain,side_effects"]
    for i in range(p.n_days):
        day = p.start + timedelta(days=i)
        on_a = arms[p.day_info(day).period.index - 1] == "A"
        pain = np.clip(np.round(5.5 - 1.5 * on_a + rng.normal(0, 1)), 0, 10)
        side = rng.random() < (0.4 if on_a else 0.05)
        lines.append(f"{day},{pain:g},{'yes' if side else 'no'}")
    diary = folder.parent / f"{folder.name}-diary.csv"
    diary.write_text("\n".join(lines) + "\n")
    import_diary(folder, diary)
    unblind_trial(folder, PASS, today=p.end + timedelta(days=1))


@pytest.fixture(scope="module")
def _finished(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("decision") / "trial"
    _finished_trial(folder)
    return folder


@pytest.fixture
def finished(tmp_path, _finished) -> Path:
    folder = tmp_path / "finished"
    shutil.copytree(_finished, folder)
    return folder


def _run(*args) -> str:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.stdout


def test_analyze_states_the_trade_off_and_the_net_benefit(finished):
    text = _run("analyze", "--trial", finished)
    lines = " ".join(text.split())
    assert (
        "Pre-registered trade-off: 1 point less pain is worth side effects on up to 2 more "
        "days a week."
    ) in lines
    m = re.search(
        r"Net benefit: ([+-][0-9.]+) points \(95% interval ([+-][0-9.]+) to ([+-][0-9.]+)\), "
        r"P\(worth it\) ([0-9.]+): (worth continuing|not worth it|cannot tell); pain alone: "
        r"criterion (met|not met) \(([0-9.]+)\)",
        lines,
    )
    assert m, text
    d = json.loads(_run("analyze", "--trial", finished, "--json"))["decision"]
    assert set(d) == set(NetBenefit.__dataclass_fields__) - {"trade_off"} | {
        "days_per_point", "threshold"
    }  # fmt: skip
    assert d["days_per_point"] == {"side_effects": 2.0} and d["threshold"] == 0.8
    assert m.group(1) == f"{d['mean']:+.1f}" and m.group(4) == f"{d['p_positive']:.2f}"
    assert m.group(5) == d["decision"] == decide(d["p_positive"], 0.8)
    assert d["mean"] == pytest.approx(d["gain"] - d["side_effects"]["side_effects"]["cost"])
    assert d["side_effects"]["side_effects"]["cost"] == pytest.approx(
        d["side_effects"]["side_effects"]["extra_days"] / 2
    )
    assert d["hdi_low"] < d["mean"] < d["hdi_high"]
    assert d["gain"] > 0.5  # pain about 1.5 points lower on A
    # The draws are seeded by the decision itself: the same numbers with any --seed.
    again = json.loads(_run("analyze", "--trial", finished, "--json", "--seed", "7"))["decision"]
    assert again["side_effects"] == d["side_effects"]


def test_a_secondary_outcome_has_no_decision(finished):
    d = json.loads(_run("analyze", "--trial", finished, "--outcome", "side_effects", "--json"))
    assert d["decision"] is None
    assert "Net benefit" not in _run("analyze", "--trial", finished, "--outcome", "side_effects")


def test_the_report_has_the_decision_section(finished):
    out = finished.parent / "report.html"
    _run("report", "--trial", finished, "--out", out)
    page = out.read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert 'id="decision"' in page and 'id="summary-decision"' in page
    assert "1 point less pain is worth side effects on up to 2 more days a week." in text
    d = json.loads(_run("analyze", "--trial", finished, "--json"))["decision"]
    assert f'data-decision="{d["decision"]}"' in page
    assert f"Net benefit {d['mean']:+.1f} points" in text


# ------------------------------------------------------------------ the commitment


def _edit_decision(trial: Path, days: float) -> None:
    path = trial / "protocol.toml"
    document = tomllib.loads(path.read_text())
    document["decision"]["days_per_point"]["side_effects"] = days
    path.write_text(tomli_w.dumps(document))


def test_editing_the_trade_off_after_the_start_is_refused_and_shown_in_red(finished):
    _edit_decision(finished, 7.0)
    before = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()}
    res = CliRunner().invoke(cli, ["analyze", "--trial", str(finished)])
    assert res.exit_code == 1
    assert res.output.startswith("Error: nof1 will not analyse this trial: ")
    assert "protocol.toml was changed after the trial was created" in res.output
    assert {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()} == before
    out = finished.parent / "report.html"
    _run("report", "--trial", finished, "--out", out)
    page = out.read_text()
    banner = re.search(r'<div class="banner" id="integrity-banner">(.*?)</div>', page, re.S)
    assert banner and "decision.days_per_point.side_effects" in banner.group(1)
    # The report weighs the trade-off as registered, not as edited.
    assert "on up to 2 more days a week" in page and "up to 7 more days" not in page


# ----------------------------------------------------------------- the simulation


@pytest.mark.slow
def test_the_simulation_spot_check():
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    try:
        import decision as bench
    finally:
        sys.path.pop(0)
    rows = {r.label: r for r in bench.run(trials=40, seed=5)}
    assert rows["worth it"].truth > 0.5 and rows["not worth it"].truth < -0.5
    assert abs(rows["neutral"].truth) < 1e-9
    for r in rows.values():
        # 40 trials: a coverage of 0.95 gives 0.85 or more with probability 0.99.
        assert r.coverage >= 0.85, r
        assert abs(r.mean - r.truth) < 0.3, r
    assert rows["not worth it"].rates["worth continuing"] <= 0.05
    assert rows["worth it"].rates["not worth it"] <= 0.05


def test_protocol_show_states_the_trade_off(finished, trial):
    text = " ".join(_run("protocol", "show", "--trial", finished).split())
    assert (
        "Pre-registered trade-off: 1 point less pain is worth side effects on up to 2 more "
        "days a week. Worth continuing if P(net benefit > 0) > 0.8."
    ) in text
    shown = json.loads(_run("protocol", "show", "--trial", finished, "--json"))
    assert shown["decision"] == {"days_per_point": {"side_effects": 2.0}, "threshold": 0.8}
    assert json.loads(_run("protocol", "show", "--trial", trial, "--json"))["decision"] is None
    assert "trade-off" not in _run("protocol", "show", "--trial", trial)


@pytest.mark.parametrize(
    "decision, blinding, caveat",
    [
        ("worth continuing", "could-tell", True),
        ("cannot tell", "could-tell", True),
        ("not worth it", "could-tell", False),  # nothing to discount
        ("worth continuing", "held", False),
        ("worth continuing", "not-assessed", False),
    ],
)
def test_the_net_benefit_carries_the_verdicts_caveat_when_the_kits_could_be_told_apart(
    decision, blinding, caveat
):
    from nof1.analysis.decision import EXPECTATION_CAVEAT, stated

    nb = NetBenefit(
        trade_off=TradeOff({"diarrhoea": 2.0}, 0.8), mean=0.8, hdi_low=-0.5, hdi_high=2.0,
        p_positive=0.9, decision=decision, gain=1.2, side_effects={}, pain_only_met=False,
    )  # fmt: skip
    line = stated(nb, blinding)
    assert line.startswith(nb.sentence())
    assert line.endswith(EXPECTATION_CAVEAT) is caveat

"""What the verdict, the blinding line, the criterion line and ``status`` say matches the
numbers beside them (issue 22): one rule for benefit and harm, one wording of the blinding
status, "pre-registered" judged against the registration, the treatments named only once
unblinded, and a status that knows the trial is unblinded."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASS
from scipy.stats import norm

from nof1.analysis.analyze import _against_registration, analyze_trial
from nof1.analysis.blinding_assessment import (
    GuessModel,
    SideEffect,
    _classify,
    assess_blinding,
    blinding_headline,
    probability_beside,
)
from nof1.analysis.models.base import Diagnostics
from nof1.analysis.models.binary import rate_interval
from nof1.analysis.summary import EffectSummary, effect_conclusion, effect_kind, signed
from nof1.analysis.verdict import Criterion, make_verdict
from nof1.cli import cli
from nof1.cli.demo import DEMO_PASSPHRASE, run_demo
from nof1.diary.store import open_diary
from nof1.errors import IntegrityError
from nof1.plan.protocol import Analysis, load_protocol
from nof1.plan.stopping import STOP_EFFICACY, SequentialRule
from nof1.report import trial_report
from nof1.trial.create import create_trial
from nof1.trial.handle import open_trial
from nof1.trial.writes import unblind_trial


def _summary(mean: float, sd: float, mcid: float = 1.0) -> EffectSummary:
    """A pain summary (lower is better) whose effect has the posterior Normal(mean, sd)."""
    d = norm(mean, sd)
    return EffectSummary(
        outcome="pain", engine="exact", prior="neutral", likelihood="normal",
        lower_is_better=True, mcid=mcid, mean=mean, median=mean, sd=sd,
        hdi_low=mean - 1.96 * sd, hdi_high=mean + 1.96 * sd, p_benefit=float(d.cdf(0)),
        p_mcid=float(d.cdf(-mcid)), p_large=float(d.cdf(-2)),
        p_rope=float(d.cdf(mcid / 2) - d.cdf(-mcid / 2)), p_harm_mcid=float(d.sf(mcid)),
        standardized=None, rho_mean=None, rho_sd=None, sigma_mean=None, n_days=84,
        n_observed=80, diagnostics=Diagnostics(ok=True), verdict="",
    )  # fmt: skip


def _verdict(s: EffectSummary):
    return make_verdict(s, threshold=0.8, preregistered=True, blinding=None)


# ------------------------------------------------------------------ benefit and harm


def test_a_harm_below_the_mcid_is_said_to_be_so():
    # The case: +0.51 (95% interval -0.02 to +1.04), 49% no practical difference.
    s = _summary(0.51, 0.27)
    assert s.p_rope == pytest.approx(0.49, abs=0.01) and 1 - s.p_benefit > 0.95
    v = _verdict(s)
    assert v.tier == "harm"
    assert v.headline == (
        "Harm: A very probably makes your pain worse, but possibly by less than the minimal "
        "important difference: a small harm, and no benefit to weigh it against."
    )


MIRROR = {"benefit": "harm", "no-practical-difference": "no-practical-difference",
          "no-clear-benefit": "no-clear-benefit"}  # fmt: skip


@pytest.mark.parametrize("size", [0.1, 0.3, 0.51, 0.8, 1.2, 2.0, 3.5])
@pytest.mark.parametrize("sd", [0.1, 0.27, 0.6, 1.5])
def test_benefit_and_harm_are_worded_by_one_rule(size, sd):
    better, worse = _summary(-size, sd), _summary(size, sd)
    assert effect_kind(worse, 0.8) == (
        {"benefit": "harm"}.get(effect_kind(better, 0.8)[0], effect_kind(better, 0.8)[0]),
        effect_kind(better, 0.8)[1],
    )
    vb, vh = _verdict(better), _verdict(worse)
    assert vh.tier == MIRROR[vb.tier]
    cb = effect_conclusion(better, 0.8, "pain")
    ch = effect_conclusion(worse, 0.8, "pain")
    if vb.tier == "benefit":
        word = re.match(r"A (very probably|probably|more likely than not) helps", cb)
        assert word and ch.startswith(f"A {word.group(1)} makes your pain worse")
        for qualifier in ("by an amount that matters", "possibly by less than the minimal"):
            assert (qualifier in cb) == (qualifier in ch)
        assert ("by an amount that matters" in cb) != ("possibly by less than" in cb)
    elif vb.tier == "no-practical-difference":
        assert ch == cb.replace("small benefit", "small harm")
    else:
        assert ch == cb


# ------------------------------------------------------------------ the blinding line


def _guesses() -> GuessModel:
    period = [p for p in range(1, 7) for _ in range(5)]
    arms = [a for a in "ABABAB" for _ in range(5)]
    return assess_blinding(period, arms, ["A", "B", "unsure", "A", "B"] * 6).daily


def _side_effect(p_higher_on_a: float) -> SideEffect:
    counts = {"A": (10, 70), "B": (2, 70)}
    return SideEffect(
        "diarrhoea", "Diarrhoea (yes/no)", counts,
        {arm: rate_interval(*c) for arm, c in counts.items()},
        {"A": (3, 3), "B": (1, 3)}, p_higher_on_a,
    )  # fmt: skip


def _shown(label: str, text: str) -> list[float]:
    """Every percentage shown after ``label`` in ``text`` (>99% as 99.5, <1% as 0.5)."""
    out = []
    for m in re.finditer(re.escape(label) + r" (>|<)?(\d+)%", text):
        out.append(float(m.group(2)) + {">": 0.5, "<": -0.5, None: 0.0}[m.group(1)])
    return out


@pytest.mark.parametrize("p_tell", [0.3, 0.5, 0.62, 0.9, 0.9496, 0.95, 0.999])
@pytest.mark.parametrize("p_held", [0.05, 0.4, 0.7996, 0.8, 0.9])
@pytest.mark.parametrize("side", [None, 0.5, 0.99])
def test_the_blinding_words_and_their_number_never_contradict(p_tell, p_held, side):
    g = GuessModel(**{**_guesses().__dict__, "p_tell": p_tell, "p_held": p_held})
    a = _classify(None, g, None, () if side is None else (_side_effect(side),))
    text = a.headline
    assert text == a.text.split(". Guesses: ")[0] + "."  # the report's paragraph leads with it
    tell = _shown("P(guesses better than chance)", text)
    held = _shown("P(guesses within ±0.2 of chance)", text)
    assert tell or held, text  # the number the status rests on is always beside it
    if a.status == "could-tell" and "guesses right in" in text:
        assert tell == [pytest.approx(round(100 * p_tell), abs=0.5)] and tell[0] >= 95
    elif a.status == "could-tell":
        assert "diarrhoea more often on A" in text
        assert "the guesses alone did not show it" in text and tell[0] < 95
    elif a.status == "held":
        assert held[0] >= 80 and "could tell the arms apart" not in text
    else:
        assert a.status == "cannot-tell"
        assert tell[0] < 95 and held[0] < 80, text
    assert probability_beside(0.9496, 0.95) == "94%" and probability_beside(0.95, 0.95) == "95%"


def test_without_guesses_or_side_effects_the_blinding_says_not_assessed():
    assert blinding_headline("not-assessed", None, ()) == (
        "Blinding was not assessed: no guesses and no side effects were recorded."
    )


# ------------------------------------------------------------------ an unblinded demo trial


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo") / "out", seed=1)


def test_after_unblinding_the_verdict_names_the_treatments(demo):
    v = demo.result.verdict
    assert "Magnesium very probably helps, but possibly by less than" in v.headline
    assert demo.result.summary.verdict.startswith("On Magnesium (A) your pain was on average")
    assert "than on Placebo (B)" in demo.result.summary.verdict
    assert "believing one is on Magnesium" in v.bound_text
    assert not re.search(r"\bA (very probably|probably|helps)", v.text)
    out = CliRunner().invoke(cli, ["analyze", "--trial", str(demo.trial_dir)]).output
    assert "Magnesium very probably helps" in " ".join(out.split())
    assert " ".join(demo.result.blinding.headline.split()) in " ".join(out.split())
    # The interval's upper end rounds to zero: it reads 0.00, not "-0.00".
    assert f"{demo.result.summary.hdi_high:+.2f}" == "-0.00"
    assert "-0.00" not in out and "(95% interval -2.33 to 0.00)" in out
    assert (signed(-0.004), signed(0.004), signed(-1.234)) == ("0.00", "0.00", "-1.23")


def test_the_report_header_says_unblinded(demo):
    page = demo.report.read_text()
    header = page[page.index('<header id="header">') : page.index("</header>")]
    on = open_trial(demo.trial_dir).diary.unblinding().unblinded_at.date()
    assert f"· blinded trial, unblinded on {on}</p>" in header


def test_a_threshold_edited_after_the_start_is_not_called_pre_registered(demo, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(demo.trial_dir, folder)
    toml = folder / "protocol.toml"
    toml.write_text(toml.read_text().replace("threshold = 0.8\n", "threshold = 0.6\n", 1))
    assert load_protocol(folder).analysis.threshold == 0.6
    with pytest.raises(IntegrityError, match="no longer matches its own commitment"):
        analyze_trial(folder, seed=1)
    criterion = analyze_trial(folder, seed=1, verify=False).verdict.criterion
    assert not criterion.preregistered
    assert criterion.line() == (
        "Decision criterion P(benefit >= 1 point) > 0.60: met (0.64) (not pre-registered: "
        "threshold 0.60, registered 0.80)"
    )
    page = trial_report(folder, seed=1)
    assert "Pre-registered criterion" not in page
    assert "(not pre-registered: threshold 0.60, registered 0.80)" in page
    assert "benefit concluded when P(benefit ≥ MCID) &gt; 0.80" in page  # the registered one


def test_another_engine_is_still_the_pre_registered_analysis():
    registered = Analysis()
    chosen = {"engine": "mcmc", "prior": "neutral", "ar1": True, "trend": "none",
              "carryover": False, "mcid": 1.0, "threshold": 0.8}  # fmt: skip
    assert _against_registration(chosen, registered, True) == (True, "MCMC engine")
    assert _against_registration({**chosen, "prior": "vague"}, registered, True) == (
        False,
        "prior vague, registered neutral",
    )
    assert _against_registration({**chosen, "likelihood": "student"}, registered, True) == (
        False,
        "likelihood student, registered normal",
    )
    assert _against_registration(chosen, None, True)[0] is False
    c = Criterion(1.0, 0.8, "points", 0.93, preregistered=True, note="MCMC engine")
    assert c.line() == (
        "Pre-registered criterion P(benefit >= 1 point) > 0.80: met (0.93) (pre-registered "
        "analysis, MCMC engine)"
    )


@pytest.mark.slow
def test_analyze_on_the_mcmc_engine_says_pre_registered_analysis(demo):
    res = CliRunner().invoke(
        cli, ["analyze", "--trial", str(demo.trial_dir), "--engine", "mcmc", "--draws", "300"]
    )
    assert res.exit_code in (0, 3), res.output
    line = next(x for x in res.output.splitlines() if "criterion P(benefit" in x)
    assert line.startswith("Pre-registered criterion")
    assert line.endswith("(pre-registered analysis, MCMC engine)")


# ------------------------------------------------------------------ status


def _status(trial: Path, day: date) -> tuple[str, dict]:
    args = ["status", "--trial", str(trial), "--date", day.isoformat()]
    text = CliRunner().invoke(cli, args).output
    return text, json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)


def test_status_after_unblinding_says_so_and_shows_no_kit(trial):
    during = date(2026, 3, 20)  # in period 6
    text, d = _status(trial, during)
    assert "Take: Kit 6." in text and d["blinding"] == "blinded" and d["unblinded_on"] is None
    unblind_trial(trial, PASS, early=True, reason="a flare", today=during)
    text, d = _status(trial, during)
    lines = text.splitlines()
    assert re.fullmatch(
        r"2026-03-20: the trial was unblinded on \d{4}-\d\d-\d\d \(early\); it is over\.", lines[0]
    )
    assert "Kit" not in text and "Next switch" not in text and "recall entries:" not in text
    assert (
        lines[-1]
        == f"Next: nof1 analyze --trial {trial}, then nof1 report --trial {trial} --out report.html"
    )
    assert d["blinding"] == "unblinded" and "blinded" not in d and "unblinded" not in d
    assert (d["phase"], d["kit"], d["next_switch"], d["recallable"]) == ("after", None, None, [])


def test_status_after_the_last_day_asks_for_the_unblinding(trial):
    end = load_protocol(trial).end
    text, d = _status(trial, end + timedelta(days=2))
    assert text.startswith(f"{end + timedelta(days=2)}: the trial is over (last day {end}).")
    assert "Next: the helper unblinds with the passphrase: nof1 unblind" in text
    assert d["blinding"] == "blinded" and d["phase"] == "after"


def test_status_long_after_the_trial_shows_no_empty_strip_of_days(trial):
    end = load_protocol(trial).end
    text, _ = _status(trial, end + timedelta(days=2))
    assert "Last 28 days: [" in text and "? today" not in text  # today is after the trial
    text, _ = _status(trial, end + timedelta(days=60))
    assert "Last 28 days" not in text  # nothing of the trial in the last four weeks


def test_status_after_an_early_stop_then_after_unblinding(tmp_path):
    folder = tmp_path / "seq"
    rule = SequentialRule((2, 3, 4), (0.9, 0.85, 0.8), (0.2, 0.4))
    p = create_trial(folder, "magnesium-crps", passphrase=DEMO_PASSPHRASE,
                     start=date(2026, 1, 5), seed=4, sequential=rule, reproducible=True,
                     period_days=14, washout_days=3, run_in_days=7)  # fmt: skip
    key = open_trial(folder).open_secrets(DEMO_PASSPHRASE).signing_key
    with open_diary(folder, p) as diary:
        diary.record_look(1, 2, STOP_EFFICACY, signing_key=key)
    stopped = max(q.end for q in p.periods if q.block == 2)
    text, d = _status(folder, stopped + timedelta(days=5))
    assert text.startswith(
        f"{stopped + timedelta(days=5)}: the trial stopped at interim look 1 (STOP: efficacy); "
        f"its last day was {stopped}."
    )
    assert "Next: the trial can end now; the helper unblinds" in text and "Kit" not in text
    unblind_trial(folder, DEMO_PASSPHRASE, today=stopped + timedelta(days=5))
    text, d = _status(folder, stopped + timedelta(days=5))
    assert "the trial was unblinded on" in text.splitlines()[0]
    assert text.splitlines()[1] == (
        f"It stopped at interim look 1 (STOP: efficacy); its last day was {stopped}."
    )
    assert "nof1 unblind" not in text and text.splitlines()[-1].startswith("Next: nof1 analyze")
    assert (d["blinding"], d["last_day"]) == ("unblinded", stopped.isoformat())

"""Simulated trials where blinding breaks or holds: the acceptance checks, smaller than the
studies in docs/validation.md (``bench/calibration.py --study blinding-magnesium-crps``)."""

from __future__ import annotations

import numpy as np
import pytest
from mcerror import SEED_SHIFT

from nof1.design.blinding import Scenario, run_scenario, simulate_trial
from nof1.design.simulate import Layout

#: The magnesium-crps template's design.
MAGNESIUM = Layout(blocks=3, period_days=28, washout_days=7, run_in_days=7)
TRIALS = 200


def _at_most(rate: float, target: float, trials: int = TRIALS) -> bool:
    """``rate`` is not above ``target`` by more than 3 Monte-Carlo standard errors."""
    return rate <= target + 3 * np.sqrt(target * (1 - target) / trials)


def test_simulated_trial_follows_the_scenario():
    rng = np.random.default_rng(0)
    sc = Scenario("x", expectation=-1.0, reveal_share=1.0, side_rate=0.5, guessing="informed")
    t = simulate_trial(MAGNESIUM, sc, rng)
    on_a = t["arm"] == 1
    assert t["side"][~on_a].sum() == 0 and t["side"][on_a].sum() > 0
    # Belief starts on the first side-effect day of an A period and never on B.
    assert not t["believes_a"][~on_a].any()
    written = [g for g, b in zip(t["guess"], t["believes_a"], strict=True) if g is not None]
    assert set(written) <= {"A", "B"}


@pytest.mark.slow
@pytest.mark.parametrize("guessing", ["informed", "random"])
def test_no_benefit_without_the_caveat_when_a_side_effect_reveals_the_kit(guessing):
    sc = Scenario("unblinding", expectation=-1.0, reveal_share=0.7, guessing=guessing)
    r = run_scenario(MAGNESIUM, sc, TRIALS, seed=31 + SEED_SHIFT)
    m = r.summary()
    assert m["bias"] < -0.3  # expectation does fake a benefit ...
    assert _at_most(m["benefit_no_caveat"], 0.05)  # ... but it is never stated plainly
    assert m["benefit"] == pytest.approx(m["old_benefit"], abs=0.02)


@pytest.mark.slow
def test_perfect_blinding_rarely_says_the_patient_could_tell_and_keeps_the_power():
    sc = Scenario("perfect", effect=-1.5, side_base=0.03, guessing="random")
    r = run_scenario(MAGNESIUM, sc, TRIALS, seed=32 + SEED_SHIFT)
    m = r.summary()
    assert _at_most(m["could_tell"], 0.10)
    assert m["old_doubtful"] > 0.5  # the old flag fired on most of these trials
    assert m["benefit"] >= m["old_benefit"] - 0.03  # same trials: paired
    assert (r["status"] == "cannot-tell").mean() > 0.5


def test_batch_verdicts_are_those_of_analyze():
    """run_scenario fits all trials at once; each verdict must be the one analyze() gives."""
    from nof1.analysis.analyze import analyze
    from nof1.analysis.blinding_assessment import assess_blinding
    from nof1.analysis.series import Series

    sc = Scenario("x", effect=-0.8, expectation=-1.0, reveal_share=0.7, guessing="informed")
    result = run_scenario(MAGNESIUM, sc, 8, seed=5)
    rng = np.random.default_rng(5)  # the same trials, simulated first in run_scenario
    keep, on = MAGNESIUM.analysis_mask(), ~MAGNESIUM.run_in
    for i in range(8):
        t = simulate_trial(MAGNESIUM, sc, rng)
        blinding = assess_blinding(
            MAGNESIUM.period[on], np.where(t["arm"][on] == 1, "A", "B"), list(t["guess"][on]),
            {"side": ("Side effect", t["side"][on])},
        )  # fmt: skip
        series = Series(y=t["pain"][keep], active=t["arm"][keep], day=MAGNESIUM.day[keep],
                        block=MAGNESIUM.block[keep], period=MAGNESIUM.period[keep])  # fmt: skip
        res = analyze(series, blinding=blinding, preregistered=True, seed=1)
        assert res.verdict.tier == result["tier"][i]
        assert res.verdict.blinding == result["status"][i]
        assert res.summary.mean == pytest.approx(result["mean"][i], abs=0.01)

"""The blinding assessment: guesses per period and per day, side effects, never a point call."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from nof1.analysis.blinding_assessment import assess_blinding, guess_model, majority_guess
from nof1.errors import DataError

ARMS6 = list("ABABAB")


def _days(period_guesses, days=10, arms=ARMS6):
    """Daily rows: every day of a period repeats that period's guess."""
    period = np.repeat(np.arange(1, len(arms) + 1), days)
    arm = np.repeat(arms, days)
    guess = [g for g in period_guesses for _ in range(days)]
    return period, list(arm), guess


def test_period_level_model_is_the_binomial_per_arm():
    """One guess per period: mu_A, mu_B ~ Beta(1 + k, 1 + m - k), P(could tell) = P(mu_A > mu_B)."""
    k, m = np.array([1, 1, 0, 0, 0, 1]), np.ones(6, dtype=int)
    on_a = np.array([True, True, True, False, False, False])
    g = guess_model("period", k, m, on_a)
    a, b = stats.beta(1 + 2, 1 + 1), stats.beta(1 + 1, 1 + 2)  # A: 2 of 3 named A; B: 1 of 3
    exact = integrate.quad(lambda x: a.pdf(x) * b.cdf(x), 0, 1)[0]
    assert g.p_tell == pytest.approx(exact, abs=0.01)
    assert g.correct["A"]["mean"] == pytest.approx(a.mean(), abs=0.005)
    assert g.correct["B"]["mean"] == pytest.approx(1 - b.mean(), abs=0.005)
    assert g.right == 4 and g.definite == 6


def test_all_right_with_three_periods_per_arm_says_could_tell():
    a = assess_blinding(*_days(ARMS6))
    assert a.status == "could-tell"
    assert a.period.right == 6 and a.period.definite == 6
    assert a.period.p_tell > 0.95
    assert a.how == (
        "guesses right in 6 of 6 periods and on 60 of 60 days (P(guesses better than chance) >99%)",
    )
    assert a.bang.index == {"A": 1.0, "B": 1.0}


def test_chance_like_guesses_with_three_periods_per_arm_cannot_tell():
    """Bang |BI| <= 0.2 needs as many right as wrong; the model says 'cannot tell' instead."""
    a = assess_blinding(*_days(["A", "A", "B", "unsure", "unsure", "B"]))
    assert a.status == "cannot-tell"
    assert 0.2 < a.period.p_tell < 0.95
    assert a.period.correct["A"]["low"] < 0.5 < a.period.correct["A"]["high"]
    assert "cannot be told" in a.text


def test_daily_guesses_are_correlated_within_a_period():
    """Ten identical guesses a period weigh about as much as one: the within-period
    correlation is high and P(could tell) stays near the period-level answer."""
    a = assess_blinding(*_days(["A", "B", "A", "A", "B", "B"], days=20))
    assert a.daily.icc > 0.6
    assert abs(a.daily.p_tell - a.period.p_tell) < 0.15
    assert a.status == "cannot-tell"


def test_opposite_guesses_mirror_the_probability():
    right = assess_blinding(*_days(["A", "A", "B", "B", "A", "unsure"]))
    wrong = assess_blinding(*_days(["B", "B", "A", "A", "B", "unsure"]))
    assert right.daily.p_tell == pytest.approx(1 - wrong.daily.p_tell, abs=1e-6)


def test_many_periods_of_chance_guesses_can_show_that_blinding_held():
    arms = list("AB" * 40)
    guesses = ["A", "A", "B", "B"] * 20
    a = assess_blinding(*_days(guesses, days=1, arms=arms))
    assert a.status == "held"
    assert a.daily.p_held >= 0.8


def test_a_side_effect_on_one_arm_reveals_the_kit():
    period, arm, guess = _days(["unsure"] * 6, days=28)
    side = np.zeros(len(period))
    side[:8] = 1  # 8 days of diarrhoea in the first A period
    a = assess_blinding(period, arm, guess, {"diarrhoea": ("Diarrhoea", side)})
    se = a.side_effects[0]
    assert se.counts == {"A": (8, 84), "B": (0, 84)}
    assert se.periods_with == {"A": (1, 3), "B": (0, 3)}
    assert se.p_higher_on_a > 0.975 and se.reveals
    assert a.status == "could-tell"
    assert a.how == ("diarrhoea on A only: 8 of 84 days on A, 0 of 84 on B",)
    assert a.revealed_share() == pytest.approx(1 / 3)


def test_equal_side_effect_rates_do_not_reveal():
    period, arm, guess = _days(["unsure"] * 6, days=28)
    side = (np.arange(len(period)) % 20 == 0).astype(float)
    a = assess_blinding(period, arm, guess, {"diarrhoea": ("Diarrhoea", side)})
    assert not a.side_effects[0].reveals
    assert a.status == "cannot-tell"


def test_nothing_recorded_is_not_assessed():
    period, arm, _ = _days(ARMS6)
    a = assess_blinding(period, arm, [None] * len(period))
    assert a.status == "not-assessed" and a.guesses is None and a.p_tell is None


@pytest.mark.parametrize(
    ("guesses", "expected"),
    [(["A", "A", "B"], "A"), (["A", "B"], "unsure"), (["unsure", "unsure", "B"], "unsure"),
     ([], None)],
)  # fmt: skip
def test_majority_guess(guesses, expected):
    assert majority_guess(guesses) == expected


def test_bad_rows_are_refused_with_the_value_named():
    with pytest.raises(DataError, match="guess 'maybe' in period 1 is not 'A', 'B' or 'unsure'"):
        assess_blinding([1, 1], ["A", "A"], ["A", "maybe"])
    with pytest.raises(DataError, match="arm 'C' of period 2 is not 'A' or 'B'"):
        assess_blinding([1, 2], ["A", "C"], ["A", "B"])
    with pytest.raises(DataError, match="2 periods, 2 arms and 1 guesses"):
        assess_blinding([1, 2], ["A", "B"], ["A"])


def test_to_dict_carries_the_intervals():
    d = assess_blinding(*_days(ARMS6)).to_dict()
    assert d["status"] == "could-tell"
    for level in ("period_guesses", "daily_guesses"):
        share = d[level]["share_correct"]["A"]
        assert share["low"] < share["mean"] < share["high"]
        assert 0 <= d[level]["p_could_tell"] <= 1
    assert d["bang_index"]["index"] == {"A": 1.0, "B": 1.0}

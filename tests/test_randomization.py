"""The exact randomization test (the scheme functions are tested by their owner)."""

from __future__ import annotations

import numpy as np
import pytest

from nof1.analysis.randomization import randomization_test
from nof1.analysis.series import Series
from nof1.errors import DataError


def _series(period_values, arms, scheme="block", lower_is_better=True) -> Series:
    """One row per value; period k holds period_values[k]; arms per period ('A'/'B')."""
    y, active, period = [], [], []
    for k, (values, arm) in enumerate(zip(period_values, arms, strict=True)):
        y += values
        active += [int(arm == "A")] * len(values)
        period += [k + 1] * len(values)
    period = np.array(period)
    return Series(
        y=np.array(y, dtype=float),
        active=np.array(active),
        day=np.arange(1, len(y) + 1),
        block=(period + 1) // 2,
        period=period,
        scheme=scheme,
        lower_is_better=lower_is_better,
    )


PERIODS = [[1, 1], [3, 3], [4, 4], [2, 2]]


def test_hand_made_example_lower_is_better():
    # Allocations of 2 blocks: ABAB 0, ABBA -2 (used), BAAB +2, BABA 0.
    rt = randomization_test(_series(PERIODS, "ABBA"))
    assert rt.observed == pytest.approx(-2.0)
    assert rt.p_value == pytest.approx(0.25)
    assert rt.n_allocations == 4
    assert rt.min_p == pytest.approx(0.25)
    assert rt.scheme == "block"


def test_benefit_direction_follows_the_outcome():
    rt = randomization_test(_series(PERIODS, "ABBA", lower_is_better=False))
    assert rt.p_value == pytest.approx(1.0)  # every allocation is >= -2
    rt = randomization_test(_series(PERIODS, "ABAB", lower_is_better=False))
    assert rt.observed == pytest.approx(0.0)
    assert rt.p_value == pytest.approx(0.75)  # 0, 0 (ties count) and +2


def test_missing_days_are_left_out_of_the_means():
    periods = [[1, np.nan], [3, 3], [4, 4], [2, np.nan]]
    rt = randomization_test(_series(periods, "ABBA"))
    assert rt.observed == pytest.approx(1.5 - 3.5)


@pytest.mark.parametrize(
    ("blocks", "scheme", "n"),
    [(3, "block", 8), (4, "block", 16), (3, "alternating", 2), (2, "random-pairs", 6)],
)
def test_min_p_is_one_over_the_number_of_allocations(blocks, scheme, n):
    arms = "AB" * blocks
    periods = [[float(k), float(k) + 0.5] for k in range(2 * blocks)]
    rt = randomization_test(_series(periods, arms, scheme=scheme))
    assert rt.n_allocations == n
    assert rt.min_p == pytest.approx(1 / n)
    assert rt.min_p <= rt.p_value <= 1.0


def test_strongest_possible_result_reaches_min_p():
    # Three blocks, A always 2 points lower: only the used allocation is as extreme.
    periods = [[3, 3], [5, 5], [5, 5], [3, 3], [3, 3], [5, 5]]
    rt = randomization_test(_series(periods, "ABBAAB"))
    assert rt.p_value == pytest.approx(1 / 8)


def test_allocation_impossible_under_the_scheme_is_refused():
    with pytest.raises(
        DataError, match=r"allocation used \(AABB\) could not have come from the 'block' scheme"
    ):
        randomization_test(_series(PERIODS, "AABB"))


def test_period_without_scores_is_refused():
    periods = [[1, 1], [np.nan, np.nan], [4, 4], [2, 2]]
    with pytest.raises(DataError, match="period 2 has no scores"):
        randomization_test(_series(periods, "ABBA"))


def test_odd_number_of_periods_is_refused():
    with pytest.raises(DataError, match="needs two periods per block; the series has 3 period"):
        randomization_test(_series(PERIODS[:3], "ABB"))


def test_to_dict_round_trip():
    d = randomization_test(_series(PERIODS, "ABBA")).to_dict()
    assert d["p_value"] == pytest.approx(0.25)
    assert d["n_allocations"] == 4

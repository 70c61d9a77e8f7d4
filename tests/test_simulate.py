"""Simulator and exposure kinetics: reproducibility, shapes, known closed forms."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nof1.analysis.models.exposure import exposure
from nof1.design.simulate import Layout, simulate_batch, simulate_pool, simulate_series
from nof1.errors import DataError, ProtocolError

# --- exposure ---------------------------------------------------------------------------


def test_exposure_instant_when_tau_not_positive():
    a = np.array([0, 1, 1, 0, 1])
    d = np.arange(5)
    assert exposure(a, d, 0).tolist() == a.tolist()
    assert exposure(a, d, -3).tolist() == a.tolist()


def test_exposure_onset_matches_closed_form():
    tau = 5.0
    d = np.arange(30)
    e = exposure(np.ones(30, int), d, tau)
    np.testing.assert_allclose(e, 1 - np.exp(-(d + 1) / tau), rtol=1e-12)


def test_exposure_carryover_decays_after_switch():
    tau = 4.0
    d = np.arange(20)
    a = np.r_[np.ones(10, int), np.zeros(10, int)]
    e = exposure(a, d, tau)
    at_switch = 1 - np.exp(-10 / tau)
    np.testing.assert_allclose(e[10:], at_switch * np.exp(-(np.arange(10) + 1) / tau), rtol=1e-12)


def test_exposure_gap_days_take_next_rows_arm():
    tau = 3.0
    # Days 3-5 absent: washout at the start of an A period; they are A days.
    d = np.array([0, 1, 2, 6, 7])
    a = np.array([0, 0, 0, 1, 1])
    e = exposure(a, d, tau)
    full = exposure(np.array([0, 0, 0, 1, 1, 1, 1, 1]), np.arange(8), tau)
    np.testing.assert_allclose(e, full[[0, 1, 2, 6, 7]], rtol=1e-12)
    assert e[3] == pytest.approx(1 - np.exp(-4 / tau))


def test_exposure_rejects_bad_input():
    with pytest.raises(DataError, match="strictly increasing"):
        exposure(np.array([0, 1]), np.array([1, 1]), 2.0)
    with pytest.raises(DataError, match="only 0"):
        exposure(np.array([0, 2]), np.array([0, 1]), 2.0)


# --- layout -----------------------------------------------------------------------------


def test_layout_calendar():
    lay = Layout(blocks=2, period_days=7, washout_days=2, run_in_days=3)
    assert lay.n_days == 3 + 4 * 7
    assert lay.run_in.sum() == 3
    assert lay.washout.sum() == 4 * 2
    assert lay.period.tolist()[:5] == [0, 0, 0, 1, 1]
    assert lay.block.max() == 2 and lay.period.max() == 4
    assert lay.analysis_mask().sum() == 4 * 5
    assert lay.analysis_mask("include").sum() == 4 * 7


def test_layout_from_protocol_reads_attributes():
    p = SimpleNamespace(
        blocks=3, period_days=28, washout_days=7, run_in_days=0, scheme="random-pairs"
    )
    lay = Layout.from_protocol(p)
    assert (lay.blocks, lay.period_days, lay.washout_days, lay.scheme) == (3, 28, 7, "random-pairs")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blocks": 0, "period_days": 7}, "blocks must be at least 1, got 0"),
        ({"blocks": 2, "period_days": 7, "washout_days": 7}, "washout_days 7 must be shorter"),
        ({"blocks": 2, "period_days": 7, "scheme": "coin"}, "unknown scheme 'coin'"),
    ],
)
def test_layout_rejects_bad_design(kwargs, message):
    with pytest.raises(ProtocolError, match=message):
        Layout(**kwargs)


# --- simulate_series --------------------------------------------------------------------


def test_simulate_series_reproducible_from_seed():
    lay = Layout(blocks=3, period_days=14, washout_days=3)
    a = simulate_series(lay, effect=-1.5, sd=1.5, rho=0.5, missing_rate=0.1, rng=42)
    b = simulate_series(lay, effect=-1.5, sd=1.5, rho=0.5, missing_rate=0.1, rng=42)
    c = simulate_series(lay, effect=-1.5, sd=1.5, rho=0.5, missing_rate=0.1, rng=43)
    np.testing.assert_array_equal(a.series.y, b.series.y)
    assert a.allocation == b.allocation
    assert a.frame.equals(b.frame)
    assert not np.array_equal(np.nan_to_num(a.series.y), np.nan_to_num(c.series.y))


def test_simulate_series_shapes_and_frame():
    lay = Layout(blocks=3, period_days=14, washout_days=3, run_in_days=5)
    t = simulate_series(lay, effect=-1.0, sd=1.0, rho=0.3, unsure_rate=0.3, rng=1)
    assert len(t.frame) == lay.n_days
    assert list(t.frame.columns) == [
        "day", "period", "block", "arm", "washout", "run_in", "pain", "guess", "adherence",
    ]  # fmt: skip
    assert len(t.series.y) == 6 * 11
    assert len(t.allocation) == 6
    assert t.frame.loc[t.frame.run_in, "arm"].isna().all()
    assert set(t.frame.loc[~t.frame.run_in, "guess"]) == {"A", "B", "unsure"}
    # each block of the block scheme holds one A and one B period
    for k in range(3):
        assert sorted(t.allocation[2 * k : 2 * k + 2]) == ["A", "B"]
    # analysis series arms follow the allocation
    periods, _, arms = t.series.period_arms()
    assert [("A" if x else "B") for x in arms] == list(t.allocation)


def test_simulate_series_include_washout():
    lay = Layout(blocks=2, period_days=7, washout_days=2)
    t = simulate_series(lay, effect=0, sd=1, rho=0, washout="include", rng=0)
    assert len(t.series.y) == 28


def test_simulate_series_recovers_effect_and_ar1():
    lay = Layout(blocks=40, period_days=50)  # 4,000 days
    t = simulate_series(lay, effect=-2.0, sd=1.5, rho=0.6, baseline=6.0, rng=7)
    y, a = t.series.y, t.series.active
    assert y[a == 1].mean() - y[a == 0].mean() == pytest.approx(-2.0, abs=0.15)
    resid = y - np.where(a == 1, y[a == 1].mean(), y[a == 0].mean())
    r = np.corrcoef(resid[:-1], resid[1:])[0, 1]
    assert r == pytest.approx(0.6, abs=0.05)
    assert resid.std() == pytest.approx(1.5, rel=0.08)


def test_simulate_series_missing_runs_present():
    lay = Layout(blocks=4, period_days=14)
    t = simulate_series(lay, effect=0, sd=1, rho=0, missing_runs=2, rng=3)
    miss = np.isnan(t.frame["pain"].to_numpy()).astype(int)
    # longest run of consecutive missing days
    longest = max(len(r) for r in "".join(map(str, miss)).split("0"))
    assert longest >= 7


def test_simulate_series_missing_rate():
    lay = Layout(blocks=20, period_days=50)
    t = simulate_series(lay, effect=0, sd=1, rho=0, missing_rate=0.2, rng=3)
    assert np.isnan(t.series.y).mean() == pytest.approx(0.2, abs=0.02)


def test_simulate_series_ordinal_integers_in_range():
    lay = Layout(blocks=4, period_days=14)
    t = simulate_series(lay, effect=-3, sd=3, rho=0.5, baseline=8, ordinal=True, rng=5)
    y = t.series.y
    assert np.all(y == np.round(y))
    assert y.min() >= 0 and y.max() <= 10
    assert y.max() == 10  # clipping reached: baseline 8 with sd 3


def test_simulate_series_carryover_shrinks_contrast():
    lay = Layout(blocks=30, period_days=14)
    kw = {"effect": -2.0, "sd": 0.5, "rho": 0.0, "rng": 11}
    inst = simulate_series(lay, tau=0, **kw).series
    slow = simulate_series(lay, tau=7, **kw).series
    diff = [s.y[s.active == 1].mean() - s.y[s.active == 0].mean() for s in (inst, slow)]
    assert diff[0] == pytest.approx(-2.0, abs=0.1)
    assert -1.6 < diff[1] < -0.6


def test_simulate_series_expectation_and_guesses():
    lay = Layout(blocks=20, period_days=20)
    t = simulate_series(
        lay, effect=0.0, sd=0.5, rho=0, expectation_effect=-1.0, guess_accuracy=0.9, rng=2
    )
    f = t.frame[~t.frame.run_in]
    assert (f.guess == f.arm).mean() == pytest.approx(0.9, abs=0.02)
    ga, gb = f.pain[f.guess == "A"].mean(), f.pain[f.guess == "B"].mean()
    assert ga - gb == pytest.approx(-1.0, abs=0.1)


def test_simulate_series_fixed_allocation_and_bad_params():
    lay = Layout(blocks=2, period_days=7)
    t = simulate_series(lay, effect=0, sd=1, rho=0, allocation=("A", "B", "B", "A"), rng=0)
    assert t.allocation == ("A", "B", "B", "A")
    with pytest.raises(ProtocolError, match="must hold 4 arms"):
        simulate_series(lay, effect=0, sd=1, rho=0, allocation=("A", "B"), rng=0)
    with pytest.raises(DataError, match="rho must lie strictly between -1 and 1, got 1"):
        simulate_series(lay, effect=0, sd=1, rho=1, rng=0)
    with pytest.raises(DataError, match="sd must be positive, got 0"):
        simulate_series(lay, effect=0, sd=0, rho=0, rng=0)


# --- batch and pool ---------------------------------------------------------------------


def test_simulate_batch_shapes_and_own_allocations():
    lay = Layout(blocks=4, period_days=14, washout_days=2)
    b = simulate_batch(lay, None, 500, effect=-1.5, sd=1.5, rho=0.5, rng=0)
    assert b.Y.shape == (500, 8 * 12) and b.active.shape == (500, 96)
    assert b.day.shape == (96,)
    assert b.allocations.shape == (500, 8)
    assert np.all(b.allocations.reshape(500, 4, 2).sum(axis=2) == 1)
    assert len({tuple(r) for r in b.allocations}) == 16  # all 2^4 orders appear
    diff = (b.Y * b.active).sum(1) / b.active.sum(1) - (b.Y * (1 - b.active)).sum(1) / (
        1 - b.active
    ).sum(1)
    assert diff.mean() == pytest.approx(-1.5, abs=0.05)


def test_simulate_batch_shared_allocation_and_stationary_sd():
    lay = Layout(blocks=2, period_days=100)
    b = simulate_batch(
        lay, ("A", "B", "A", "B"), 2000, effect=0, sd=2.0, rho=0.8, missing_rate=0.1, rng=1
    )
    assert b.active.shape == (1, 400)
    assert np.nanstd(b.Y[:, 0]) == pytest.approx(2.0, rel=0.05)
    assert np.nanstd(b.Y[:, -1]) == pytest.approx(2.0, rel=0.05)
    assert np.isnan(b.Y).mean() == pytest.approx(0.1, abs=0.01)
    again = simulate_batch(
        lay, ("A", "B", "A", "B"), 2000, effect=0, sd=2.0, rho=0.8, missing_rate=0.1, rng=1
    )
    np.testing.assert_array_equal(b.Y, again.Y)


def test_simulate_pool_effects_vary_around_mu():
    pool = simulate_pool(200, mu=-1.0, tau_between=0.5, rng=4)
    effects = np.array([t.truth["effect"] for t in pool])
    assert effects.mean() == pytest.approx(-1.0, abs=0.1)
    assert effects.std() == pytest.approx(0.5, abs=0.08)
    assert len({len(t.series.y) for t in pool}) > 1
    assert any(np.isnan(t.series.y).any() for t in pool)


def test_layout_from_real_protocol():
    from datetime import date

    from nof1.plan.templates import protocol_from_template, read_template

    p = protocol_from_template(read_template("magnesium-crps"), start=date(2026, 1, 5))
    lay = Layout.from_protocol(p)
    assert (lay.blocks, lay.period_days, lay.washout_days) == (
        p.blocks,
        p.period_days,
        p.washout_days,
    )
    assert lay.n_days == p.n_days
    t = simulate_series(p, effect=-1.0, sd=1.5, rho=0.5, rng=0)
    assert len(t.frame) == p.n_days

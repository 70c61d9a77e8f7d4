"""Bounded work: the randomization test, the protocol's limits and the diary's import.

Issue 14 found a randomization test that enumerated 2^blocks allocations (a MemoryError at
24 blocks), protocols of 20,000 blocks and 10^9-day periods, and an import that was
quadratic in the number of rows. Each is bounded now, and refused with one line where the
input is beyond any real trial.
"""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pytest
from click.testing import CliRunner

import nof1.analysis.randomization as randomization
from nof1.analysis.randomization import MC_DRAWS, randomization_test
from nof1.analysis.series import Series
from nof1.cli import cli
from nof1.diary.store import open_diary
from nof1.errors import ProtocolError
from nof1.plan.allocation import n_allocations
from nof1.plan.templates import protocol_from_template, read_template


def _series(blocks: int, scheme: str = "block", effect: float = -0.4, seed: int = 0) -> Series:
    """A simulated series of ``blocks`` blocks of two 5-day periods, AR-free noise."""
    rng = np.random.default_rng(seed)
    if scheme == "block":
        arms = [
            a for _ in range(blocks) for a in (("A", "B") if rng.random() < 0.5 else ("B", "A"))
        ]
    else:
        arms = list(rng.permutation(["A"] * blocks + ["B"] * blocks))
    days = 5
    period = np.repeat(np.arange(1, 2 * blocks + 1), days)
    active = np.repeat([int(a == "A") for a in arms], days)
    y = 5 + effect * active + rng.normal(0, 1, len(period))
    return Series(
        y=y,
        active=active,
        day=np.arange(1, len(y) + 1),
        block=(period + 1) // 2,
        period=period,
        scheme=scheme,
    )


def test_the_test_is_exact_up_to_2_to_the_16_allocations():
    rt = randomization_test(_series(16))
    assert rt.method == "exact" and rt.n_allocations == 2**16
    assert rt.n_draws is None and rt.mc_se is None
    assert rt.min_p == 2.0**-16


def test_beyond_2_to_the_16_the_p_value_is_monte_carlo_with_its_standard_error():
    rt = randomization_test(_series(40, effect=-0.2))
    assert rt.method == "monte carlo"
    assert rt.n_allocations == 2**40 and rt.n_draws == MC_DRAWS
    assert rt.mc_se == pytest.approx(np.sqrt(rt.p_value * (1 - rt.p_value) / MC_DRAWS))
    assert rt.min_p == 1 / (MC_DRAWS + 1)
    assert randomization_test(_series(40, effect=-0.2)) == rt  # seeded: the same p every time
    assert rt.to_dict()["method"] == "monte carlo" and rt.to_dict()["mc_se"] == rt.mc_se


@pytest.mark.parametrize("scheme, blocks", [("block", 14), ("random-pairs", 7)])
def test_monte_carlo_agrees_with_the_exact_p_value(monkeypatch, scheme, blocks):
    series = _series(blocks, scheme, effect=-0.1, seed=3)
    exact = randomization_test(series)
    assert exact.method == "exact" and 0.02 < exact.p_value < 0.98
    monkeypatch.setattr(randomization, "EXACT_LIMIT", 10)
    drawn = randomization_test(series)
    assert drawn.method == "monte carlo"
    # The Monte Carlo p is (1 + k) / (1 + n) with k ~ Binomial(n, p): within 4 standard
    # errors of the exact p (a false alarm once in ~16,000 seeds), plus the +1 offset.
    se = np.sqrt(exact.p_value * (1 - exact.p_value) / MC_DRAWS)
    assert abs(drawn.p_value - exact.p_value) < 4 * se + 1 / MC_DRAWS


def test_random_pairs_beyond_the_limit_draw_balanced_allocations():
    assert n_allocations(10, "random-pairs") == 184_756
    rt = randomization_test(_series(10, "random-pairs"))
    assert rt.method == "monte carlo" and 0 < rt.p_value <= 1


def test_analyze_a_40_block_csv_reports_the_monte_carlo_p(tmp_path):
    s = _series(40)
    path = tmp_path / "forty.csv"
    rows = [
        f"{d},{b},{'A' if a else 'B'},{y:.2f}"
        for d, b, a, y in zip(s.day, s.block, s.active, s.y, strict=True)
    ]
    path.write_text("day,block,arm,pain\n" + "\n".join(rows) + "\n")
    args = ["analyze", "--csv", str(path), "--outcome", "pain", "--treatment", "arm"]
    res = CliRunner().invoke(cli, [*args, "--time", "day", "--block", "block"])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the table wraps its cells where they are long
    assert "Monte Carlo over 20,000 of the 1,099,511,627,776 allocations, seeded" in said


# --------------------------------------------------------------------------- protocol limits


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--blocks", "65", "blocks must be at most 64, got 65"),
        ("--blocks", "20000", "blocks must be at most 64, got 20000"),
        ("--period-days", "366", "period-days must be at most 365 (a year), got 366"),
        ("--period-days", "1000000000", "period-days must be at most 365 (a year), got 1000000000"),
        ("--run-in-days", "366", "run-in-days must be at most 365 (a year), got 366"),
        (
            "--start",
            "9999-01-01",
            "start date 9999-01-01 must be between 2000-01-01 and 2100-12-31",
        ),
    ],
)
def test_protocol_limits_are_refused_with_one_line(tmp_path, option, value, message):
    phrase = tmp_path / "phrase.txt"
    phrase.write_text("correct horse battery\n")
    args = ["protocol", "new", "--template", "generic-ab", "--trial", str(tmp_path / "t")]
    res = CliRunner().invoke(cli, [*args, "--passphrase-file", str(phrase), option, value])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [f"Error: {message}"]
    assert not (tmp_path / "t").exists()


def test_the_last_day_must_fall_before_2101():
    spec = read_template("generic-ab")
    with pytest.raises(
        ProtocolError, match=r"a trial of 46720 days from 2090-01-01 would end after 2100-12-31"
    ):
        protocol_from_template(spec, start=date(2090, 1, 1), blocks=64, period_days=365)
    with pytest.raises(ProtocolError, match="start date 1999-12-31 must be between"):
        protocol_from_template(spec, start=date(1999, 12, 31))
    longest = protocol_from_template(spec, start=date(2000, 1, 1), blocks=64, period_days=280)
    assert longest.end <= date(2100, 12, 31)


def test_design_with_30_blocks_works_and_65_is_refused():
    res = CliRunner().invoke(
        cli, ["design", "--blocks", "30", "--period-days", "14", "--sims", "100"]
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["design", "--blocks", "65", "--sims", "100"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == ["Error: blocks must be at most 64, got 65"]


# --------------------------------------------------------------------------- linear import


def test_finding_a_days_current_entry_uses_indexes_only(trial):
    """The look-ups ``import`` makes per row search an index, never scan the table."""
    with open_diary(trial) as diary:
        con: sqlite3.Connection = diary._con
        for sql in (
            "SELECT id FROM entries WHERE date = ? AND supersedes IS NULL",
            "SELECT id FROM entries WHERE supersedes = ?",
        ):
            plan = " ".join(row[-1] for row in con.execute(f"EXPLAIN QUERY PLAN {sql}", (1,)))
            assert "USING" in plan and "INDEX" in plan, plan
            assert not plan.startswith("SCAN"), plan


def test_the_report_of_a_40_block_trial_shows_the_monte_carlo_p(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from long_trial import make_trial

    trial = tmp_path / "trial"
    make_trial(trial, blocks=40)
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["report", "--trial", str(trial), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert "1,099,511,627,776 equally likely orders, too many to list, so 20,000" in page
    assert "Monte Carlo standard error" in page


def test_a_count_of_allocations_beyond_15_digits_is_said_as_a_power_of_ten():
    from nof1.analysis.randomization import RandomizationTest

    def text(n: int) -> str:
        return RandomizationTest("mean difference", 0.0, 0.5, n, 1e-5, "block").allocations_text

    assert text(2**40) == "1,099,511,627,776"
    assert text(10**15 - 1) == "999,999,999,999,999"
    assert text(2**1000) == "about 1.1 x 10^301"  # 2^1000 = 1.07... x 10^301
    assert text(3 * 10**300 + 7) == "about 3.0 x 10^300"

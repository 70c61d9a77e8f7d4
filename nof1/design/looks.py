"""Sequential designs, simulated: trials analysed at every look, and what a rule does on them.

The boundaries of a sequential trial (``nof1.plan.stopping.SequentialRule``) do not change
the posterior at a look: it depends only on the data of the blocks done. So each simulated
trial is simulated once, to the maximum number of blocks, and the pre-registered analysis
(prior, trend, AR(1), onset/carryover) is fitted to blocks 1..k at every analysis point k,
keeping P(benefit >= MCID) and the posterior mean: a (trials x looks) matrix per scenario
(``simulate_looks``, ``LookSimulation``). Any boundary set is then only thresholds on that
matrix (``operating_characteristics``), so calibrating boundaries and comparing shapes cost
nothing beyond the fits, and every rule is compared on the same trials (paired), as is the
fixed design that analyses the same trials once after its own number of blocks. Choosing the
boundaries and recommending a rule from these matrices is ``nof1.design.sequential``'s work.

For speed the design integrates the onset model over a 9-point tau grid and a 50-point rho
grid (the analysis itself uses 29 x 100): on simulated 4-block magnesium trials P(benefit
>= 1) moves by at most 0.0007 with an effect and 0.003 with none, and no decision at 0.8
changes (docs/sequential.md, ``tests/test_sequential_design.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from nof1.analysis.series import washout_mode
from nof1.design.boundaries import apply_rule, crosses_efficacy
from nof1.design.fixed import (
    DESIGN_GRID_SIZE,
    DESIGN_TAU_POINTS,
    analyse_batch,
    check_assumptions,
)
from nof1.design.fixed import check_number as _check_number
from nof1.design.simulate import Layout, SimulatedBatch, simulate_batch
from nof1.errors import ProtocolError
from nof1.plan.protocol import Protocol
from nof1.plan.stopping import SequentialRule
from nof1.plan.templates import MAX_BLOCKS, protocol_from_template, template_rule

#: Autocorrelations under which the false-positive rate is calibrated by default.
CALIBRATION_RHOS = (0.0, 0.5, 0.8)
#: Any start date: only the template's design and analysis are read.
_ANY_DAY = date(2000, 1, 3)


@dataclass(frozen=True)
class Scenario:
    """A world in which trials are simulated.

    Parameters
    ----------
    effect : true effect of the active arm in outcome points (negative = less pain);
        0 is the no-effect world of the false-positive rate.
    rho : lag-1 autocorrelation of the daily outcome.
    tau : onset/carryover time constant in days (0 = immediate); with no effect it changes
        nothing in the data.
    sd : day-to-day SD of the outcome.
    """

    effect: float
    rho: float
    tau: float = 0.0
    sd: float = 1.5

    @property
    def no_effect(self) -> bool:
        return self.effect == 0

    def label(self) -> str:
        """e.g. ``'effect -1.5, rho 0.5, tau 7'``."""
        return f"effect {self.effect:g}, rho {self.rho:g}, tau {self.tau:g}"


@dataclass(frozen=True)
class LookSimulation:
    """Simulated trials of one scenario, analysed after each analysis point.

    Parameters
    ----------
    scenario : the world simulated.
    points : blocks after which the trials were analysed (increasing).
    p_benefit : P(benefit >= MCID), shape (sims, len(points)).
    estimate : posterior mean of the effect, shape (sims, len(points)).
    """

    scenario: Scenario
    points: tuple[int, ...]
    p_benefit: np.ndarray
    estimate: np.ndarray

    def columns(self, blocks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(p_benefit, estimate) at the given blocks only."""
        idx = [self.points.index(b) for b in blocks]
        return self.p_benefit[:, idx], self.estimate[:, idx]


@dataclass(frozen=True)
class SequentialOC:
    """Operating characteristics of one rule under one scenario.

    Parameters
    ----------
    rule, scenario, sims : what was simulated, and how many trials.
    p_efficacy : P(stop for efficacy at any look), futility binding (the trial stops): the
        power, or under no effect the false-positive rate of the trial as run.
    p_efficacy_nonbinding : P(some look crosses its efficacy boundary), futility ignored: the
        false-positive rate that calibration keeps to the target (a clinician who continues
        after a futility stop cannot raise it above this).
    stop_efficacy : P(stop for efficacy at look k).
    stop_futility : P(stop for futility at look k); at the last look, all trials not
        stopped for efficacy.
    expected_blocks, expected_days : mean length of the trial; days include run-in and
        washout.
    bias_efficacy, bias_futility : per look, mean(posterior mean - true effect) among the
        trials stopping there for efficacy (futility); None if none did. With a pain outcome
        a negative bias overstates the benefit.
    fixed_power : blocks -> share of the same trials that a fixed design of that many blocks
        concludes benefit for (P(benefit >= MCID) after that block > the analysis threshold);
        under no effect its false-positive rate.
    """

    rule: SequentialRule
    scenario: Scenario
    sims: int
    p_efficacy: float
    p_efficacy_nonbinding: float
    stop_efficacy: tuple[float, ...]
    stop_futility: tuple[float, ...]
    expected_blocks: float
    expected_days: float
    bias_efficacy: tuple[float | None, ...]
    bias_futility: tuple[float | None, ...]
    fixed_power: dict[int, float]
    stops_efficacy_count: tuple[int, ...] = ()
    stops_futility_count: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Plan:
    """What the simulation needs from a template: the longest design and its analysis."""

    protocol: Protocol  # the template's protocol at the maximum number of blocks
    fixed_blocks: int

    @property
    def layout(self) -> Layout:
        p = self.protocol
        return Layout(p.blocks, p.period_days, p.washout_days, p.run_in_days, p.scheme)

    def days(self, blocks: int) -> int:
        p = self.protocol
        return p.run_in_days + 2 * blocks * p.period_days


# ------------------------------------------------------------------ checks and the plan


def _default_max_blocks(template: dict[str, Any]) -> int:
    rule = template_rule(template)
    if rule is not None:
        return rule.max_blocks
    return int(template.get("design", {}).get("blocks", 4)) + 1


def _plan(template: dict[str, Any], max_blocks: int | None) -> _Plan:
    if max_blocks is None:
        max_blocks = _default_max_blocks(template)
    if isinstance(max_blocks, bool) or not isinstance(max_blocks, int | np.integer):
        raise ProtocolError(f"max-blocks must be a whole number, got {max_blocks!r}")
    if not 2 <= max_blocks <= MAX_BLOCKS:
        raise ProtocolError(
            f"max-blocks must be 2-{MAX_BLOCKS} (a look needs at least one block before the "
            f"last), got {max_blocks}"
        )
    protocol = protocol_from_template(template, start=_ANY_DAY, blocks=int(max_blocks))
    fixed = int(template.get("design", {}).get("blocks", 4))
    return _Plan(protocol, min(fixed, int(max_blocks)))


def _check_scenario(s: Scenario) -> None:
    check_assumptions(s.effect, s.sd, s.rho, s.tau)


def design_scenarios(
    effect: float = -1.5,
    sd: float = 1.5,
    rho: float = 0.5,
    tau: float = 0.0,
    calibration_rhos: Sequence[float] = CALIBRATION_RHOS,
) -> tuple[Scenario, ...]:
    """The scenarios ``evaluate_sequential`` simulates: no effect under each calibration rho
    (and ``rho``), then the hoped-for effect. Their number sizes a progress bar.

    Example
    -------
    >>> [s.label() for s in design_scenarios()]
    ['effect 0, rho 0, tau 0', 'effect 0, rho 0.5, tau 0', 'effect 0, rho 0.8, tau 0', 'effect -1.5, rho 0.5, tau 0']
    """
    rhos = tuple(calibration_rhos)
    if not rhos:
        raise ProtocolError("give at least one calibration rho")
    for r in rhos:
        _check_number(r, "a calibration rho")
    nulls = [Scenario(0.0, float(r), 0.0, sd) for r in sorted({*rhos, rho})]
    hoped = Scenario(effect, rho, tau, sd)
    for s in (*nulls, hoped):
        _check_scenario(s)
    if effect == 0:
        raise ProtocolError("the hoped-for effect must not be 0 (that is the no-effect scenario)")
    return (*nulls, hoped)


# ------------------------------------------------------------------------- simulation


def _scenario_rng(seed: int, s: Scenario) -> np.random.Generator:
    """A generator of its own for each scenario: its trials do not depend on which other
    scenarios are simulated beside it (a spot check reproduces the study's trials)."""
    words = [round(1000 * v) + 10**6 for v in (s.effect, s.rho, s.tau if s.effect else 0, s.sd)]
    return np.random.default_rng([seed, *words])


def _prefix(batch: SimulatedBatch, blocks: int) -> SimulatedBatch:
    """The batch as seen after ``blocks`` completed blocks (its first columns)."""
    keep = batch.block <= blocks
    return SimulatedBatch(
        Y=batch.Y[:, keep],
        active=batch.active[:, keep],
        day=batch.day[keep],
        block=batch.block[keep],
        period=batch.period[keep],
        allocations=batch.allocations[:, : 2 * blocks],
    )


def simulate_looks(
    plan: _Plan, scenario: Scenario, points: Sequence[int], sims: int, seed: int
) -> LookSimulation:
    """Simulate ``sims`` trials of ``scenario`` to the plan's maximum number of blocks and fit
    the pre-registered analysis after each of ``points`` (data of blocks 1..k only)."""
    p = plan.protocol
    a = p.analysis
    washout = washout_mode(a.exclude_washout, a.carryover)
    batch = simulate_batch(
        plan.layout, None, sims, effect=scenario.effect, sd=scenario.sd, rho=scenario.rho,
        tau=scenario.tau, washout=washout, rng=_scenario_rng(seed, scenario),
    )  # fmt: skip
    lower = p.primary.lower_is_better
    cut = -a.mcid if lower else a.mcid
    probs, means = [], []
    for k in points:
        fit = analyse_batch(
            _prefix(batch, k), prior=a.prior, trend=a.trend, ar1=a.ar1, carryover=a.carryover,
            thresholds=(cut,), grid_size=DESIGN_GRID_SIZE, tau_points=DESIGN_TAU_POINTS,
            interval=None,
        )  # fmt: skip
        below = fit.p_below[:, 0]
        probs.append(below if lower else 1.0 - below)
        means.append(fit.mean)
    return LookSimulation(scenario, tuple(points), np.column_stack(probs), np.column_stack(means))


def _simulate_all(
    plan: _Plan,
    scenarios: Sequence[Scenario],
    points: Sequence[int],
    sims: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> list[LookSimulation]:
    """One LookSimulation per scenario; no-effect scenarios that differ only in tau share
    their trials (with no effect, tau changes nothing in the data)."""
    done: dict[tuple[float, ...], LookSimulation] = {}
    out = []
    for s in scenarios:
        key = (s.effect, s.rho, s.tau if s.effect else 0.0, s.sd)
        if key not in done:
            done[key] = simulate_looks(plan, s, points, sims, seed)
        out.append(replace(done[key], scenario=s))
        if progress is not None:
            progress(1)
    return out


# ------------------------------------------------------------ operating characteristics


def operating_characteristics(
    rule: SequentialRule, sim: LookSimulation, plan: _Plan
) -> SequentialOC:
    """The OC of a rule on one scenario's simulated trials."""
    p, est = sim.columns(rule.looks)
    n, k = p.shape
    look, eff = apply_rule(rule, p)
    blocks = np.asarray(rule.looks)[look]
    days = plan.protocol.run_in_days + 2 * blocks * plan.protocol.period_days
    error = est[np.arange(n), look] - sim.scenario.effect

    def per_look(mask: np.ndarray) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
        counts = np.bincount(look[mask], minlength=k)
        sums = np.bincount(look[mask], weights=error[mask], minlength=k)
        bias = tuple(float(s / c) if c else None for s, c in zip(sums, counts, strict=True))
        return tuple(int(c) for c in counts), bias

    n_eff, bias_eff = per_look(eff)
    n_fut, bias_fut = per_look(~eff)
    threshold = plan.protocol.analysis.threshold
    return SequentialOC(
        rule=rule,
        scenario=sim.scenario,
        sims=n,
        p_efficacy=float(eff.mean()),
        p_efficacy_nonbinding=float(crosses_efficacy(rule, p).mean()),
        stop_efficacy=tuple(c / n for c in n_eff),
        stop_futility=tuple(c / n for c in n_fut),
        expected_blocks=float(blocks.mean()),
        expected_days=float(days.mean()),
        bias_efficacy=bias_eff,
        bias_futility=bias_fut,
        fixed_power={
            b: float(np.mean(sim.p_benefit[:, i] > threshold)) for i, b in enumerate(sim.points)
        },
        stops_efficacy_count=n_eff,
        stops_futility_count=n_fut,
    )

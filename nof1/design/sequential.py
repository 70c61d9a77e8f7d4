"""Sequential designs: interim looks with stopping boundaries calibrated by simulation.

A sequential trial (``nof1.plan.stopping.SequentialRule``) looks at its data after some completed
blocks and stops for efficacy when P(benefit >= MCID) is above the look's efficacy boundary,
for futility when it is below the futility boundary. This module chooses the boundaries
before any data exist and reports what they do (``nof1 design --sequential``).

It works on the simulated trials of ``nof1.design.looks``: each trial simulated once to the
maximum number of blocks and analysed at every look, so that a boundary set is only
thresholds on a (trials x looks) matrix per scenario, and every rule and the fixed design
are compared on the same trials (paired).

Calibration (docs/sequential.md has the method and its sources; the thresholds themselves
are in ``nof1.design.boundaries``):

- three shapes of the efficacy boundary on the posterior-probability scale: ``constant``
  (Pocock-like, u_k = u), ``obrien-fleming`` (u_k = Phi(Phi^-1(u) sqrt(K / k)), k and K the
  blocks done at the look and at the last look: information grows with the analysed days,
  which grow with the blocks) and ``haybittle-peto`` (0.999 before the last look, u at it);
- u is the smallest level, rounded up to ``EFFICACY_STEP``, that keeps the overall
  false-positive rate (any look crossing its efficacy boundary, futility ignored: futility is
  non-binding, so a clinician who continues anyway does not raise it) at or below the target
  under every no-effect scenario, and never below the template's analysis threshold: a look
  never asks for less evidence than the fixed trial asks at its end;
- the futility boundaries of each shape are chosen from non-decreasing steps of
  ``FUTILITY_LEVELS``: the set with the shortest expected trial (mean of the no-effect and
  the hoped-for-effect scenarios) whose power (futility binding: the trial stops) is at
  least that of the template's fixed design on the same trials under every hoped-for effect;
- the recommended rule is the calibrated shape with the shortest expected trial among those
  that keep both conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nof1.design.boundaries import (
    CALIBRATED_SHAPES,
    apply_rule,
    calibrate_efficacy,
    futility_candidates,
)
from nof1.design.fixed import check_sims
from nof1.design.looks import (
    CALIBRATION_RHOS,
    LookSimulation,
    Scenario,
    SequentialOC,
    _check_number,
    _check_scenario,
    _Plan,
    _plan,
    _simulate_all,
    design_scenarios,
    operating_characteristics,
)
from nof1.errors import ProtocolError
from nof1.plan.stopping import DEFAULT_FALSE_POSITIVE_TARGET, SequentialRule
from nof1.plan.templates import template_rule


@dataclass(frozen=True)
class SequentialDesign:
    """The result of ``evaluate_sequential``.

    Parameters
    ----------
    template : the template's name.
    looks : blocks after which the data are looked at (the last is the maximum).
    period_days, washout_days, run_in_days : the design of each block.
    scenarios : the no-effect ones first, then the hoped-for effect ones.
    candidates : each calibrated boundary set with its OC per scenario (same order as
        ``scenarios``).
    recommended : the recommended rule, its ``simulated`` filled.
    fixed_days : blocks -> days of the fixed design of that many blocks (run-in included).
    fixed_blocks : blocks of the fixed design the power is compared with (the template's).
    threshold : the template's analysis threshold (the fixed design's decision rule).
    sims, seed : trials per scenario and the simulation seed.
    """

    template: str
    looks: tuple[int, ...]
    period_days: int
    washout_days: int
    run_in_days: int
    scenarios: tuple[Scenario, ...]
    candidates: tuple[tuple[SequentialRule, tuple[SequentialOC, ...]], ...]
    recommended: SequentialRule
    fixed_days: dict[int, int]
    fixed_blocks: int = 0
    threshold: float = 0.8
    sims: int = 0
    seed: int = 0

    @property
    def max_blocks(self) -> int:
        return self.looks[-1]

    def oc(self, rule: SequentialRule) -> tuple[SequentialOC, ...]:
        """The OC per scenario of one of the candidates."""
        for r, ocs in self.candidates:
            if r == rule:
                return ocs
        raise ProtocolError(f"rule {rule} is not one of this design's candidates")


# ------------------------------------------------------------------------------- checks


def _check_looks(looks: Sequence[int] | None, max_blocks: int) -> tuple[int, ...]:
    if looks is None:
        return tuple(range(2, max_blocks + 1))
    looks = tuple(looks)
    for k in looks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= max_blocks:
            raise ProtocolError(f"looks must be blocks 1-{max_blocks}, got {k!r}")
    if len(looks) < 2:
        raise ProtocolError(f"a sequential design needs at least 2 looks, got {list(looks)}")
    if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ProtocolError(f"looks must increase, got {list(looks)}")
    if looks[-1] != max_blocks:
        raise ProtocolError(
            f"the last look must be after the last block ({max_blocks}), got looks {list(looks)}"
        )
    return tuple(int(k) for k in looks)


def _check_common(sims: Any, seed: Any, target: Any) -> None:
    if isinstance(sims, bool) or not isinstance(sims, int) or sims < 100:
        raise ProtocolError(f"sims must be a whole number of at least 100, got {sims!r}")
    check_sims(sims, least=100)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ProtocolError(f"seed must be a whole number 0 or more, got {seed!r}")
    if not 0 < _check_number(target, "target") < 0.5:
        raise ProtocolError(f"target false-positive rate must be in 0-0.5, got {target:g}")


def _check_scenarios(scenarios: Sequence[Scenario]) -> tuple[Scenario, ...]:
    scenarios = tuple(scenarios)
    for s in scenarios:
        if not isinstance(s, Scenario):
            raise ProtocolError(f"scenarios must be Scenario objects, got {s!r}")
        _check_scenario(s)
    if not any(s.no_effect for s in scenarios) or all(s.no_effect for s in scenarios):
        raise ProtocolError("give at least one no-effect scenario and one with an effect")
    return tuple(sorted(scenarios, key=lambda s: not s.no_effect))


# -------------------------------------------------------------------- choosing the rule


def _mean_length(lengths: dict[Scenario, float]) -> float:
    """Mean of the expected length under no effect and under the hoped-for effects (each
    group averaged first, so that several no-effect scenarios do not outweigh the hope)."""
    groups = [
        [v for s, v in lengths.items() if s.no_effect],
        [v for s, v in lengths.items() if not s.no_effect],
    ]
    return float(np.mean([np.mean(g) for g in groups if g]))


def _fixed_reference(sim: LookSimulation, plan: _Plan) -> float:
    """Share of the trials the template's fixed design concludes benefit for."""
    p = sim.columns((plan.fixed_blocks,))[0][:, 0]
    return float(np.mean(p > plan.protocol.analysis.threshold))


def _choose_futility(
    efficacy: tuple[float, ...],
    shape: str,
    looks: tuple[int, ...],
    sims: Sequence[LookSimulation],
    plan: _Plan,
    target: float,
) -> SequentialRule:
    """The futility boundaries that shorten the expected trial most while keeping the power
    of the template's fixed design under every hoped-for effect, on the same trials; no
    futility stop if no set keeps it. Ties go to the lower (less aggressive) boundaries."""
    days = plan.protocol.run_in_days + 2 * np.asarray(looks) * plan.protocol.period_days
    columns = [(s.scenario, s.columns(looks)[0]) for s in sims]
    need = {s.scenario: _fixed_reference(s, plan) for s in sims if not s.scenario.no_effect}
    best: tuple[float, tuple[float, ...]] | None = None
    for fut in futility_candidates(len(looks) - 1):
        if any(f >= u for f, u in zip(fut, efficacy, strict=False)):
            continue
        rule = SequentialRule(looks, efficacy, fut, shape, target)
        lengths = {}
        for scenario, p in columns:
            look, eff = apply_rule(rule, p)
            if scenario in need and eff.mean() < need[scenario]:
                break
            lengths[scenario] = float(days[look].mean())
        else:
            mean = _mean_length(lengths)
            if best is None or mean < best[0] - 1e-9:
                best = (mean, fut)
    fut = best[1] if best is not None else (0.0,) * (len(looks) - 1)
    return SequentialRule(looks, efficacy, fut, shape, target)


def _keeps(ocs: Sequence[SequentialOC], plan: _Plan, target: float) -> tuple[bool, bool, float]:
    """(false-positive rate within target, power at least the fixed design's, worst power
    margin) of a rule's OCs."""
    fpr_ok = all(o.p_efficacy_nonbinding <= target for o in ocs if o.scenario.no_effect)
    margins = [
        o.p_efficacy - o.fixed_power[plan.fixed_blocks] for o in ocs if not o.scenario.no_effect
    ]
    worst = min(margins) if margins else 0.0
    return fpr_ok, worst >= 0, worst


def _recommend(
    candidates: Sequence[tuple[SequentialRule, tuple[SequentialOC, ...]]],
    plan: _Plan,
    target: float,
) -> SequentialRule:
    """The shortest expected trial among the rules that keep the false-positive target and
    the fixed design's power; failing that, the one with the best worst power margin among
    those within the target; failing that, the one with the lowest false-positive rate."""

    def length(ocs: tuple[SequentialOC, ...]) -> float:
        return _mean_length({o.scenario: o.expected_days for o in ocs})

    scored = [(rule, ocs, *_keeps(ocs, plan, target)) for rule, ocs in candidates]
    ok = [c for c in scored if c[2] and c[3]]
    if ok:
        return min(ok, key=lambda c: length(c[1]))[0]
    within = [c for c in scored if c[2]]
    if within:
        return max(within, key=lambda c: c[4])[0]
    return min(
        scored,
        key=lambda c: max(o.p_efficacy_nonbinding for o in c[1] if o.scenario.no_effect),
    )[0]


def _r(x: float | None, digits: int = 4) -> float:
    return 0.0 if x is None else round(float(x), digits)


def simulated_summary(
    rule: SequentialRule, ocs: Sequence[SequentialOC], plan: _Plan, seed: int
) -> dict[str, Any]:
    """The ``[sequential.simulated]`` table of a rule: plain TOML values only (a look where
    no trial stopped has bias 0.0 and count 0).

    Keys: sims, seed, effect, sd, rho, tau (the hoped-for scenario), calibration_rhos,
    false_positive (worst over the no-effect scenarios, futility non-binding), power,
    fixed_blocks and fixed_power (the template's fixed design on the same trials),
    expected_days_no_effect (no effect at the hoped-for rho), expected_days_effect,
    fixed_days (the fixed design of the maximum number of blocks), and per look under the
    hoped-for effect: stops_efficacy, bias_efficacy, stops_futility, bias_futility
    (bias = mean posterior mean minus the true effect among the trials stopping there).
    """
    hoped = next(o for o in ocs if not o.scenario.no_effect)
    nulls = [o for o in ocs if o.scenario.no_effect]
    null = next((o for o in nulls if o.scenario.rho == hoped.scenario.rho), nulls[0])
    s = hoped.scenario
    return {
        "sims": hoped.sims,
        "seed": seed,
        "effect": s.effect,
        "sd": s.sd,
        "rho": s.rho,
        "tau": s.tau,
        "calibration_rhos": [o.scenario.rho for o in nulls],
        "false_positive": _r(max(o.p_efficacy_nonbinding for o in nulls)),
        "power": _r(hoped.p_efficacy),
        "fixed_blocks": plan.fixed_blocks,
        "fixed_power": _r(hoped.fixed_power[plan.fixed_blocks]),
        "expected_days_no_effect": _r(null.expected_days, 1),
        "expected_days_effect": _r(hoped.expected_days, 1),
        "fixed_days": plan.days(rule.max_blocks),
        "stops_efficacy": list(hoped.stops_efficacy_count),
        "bias_efficacy": [_r(b, 3) for b in hoped.bias_efficacy],
        "stops_futility": list(hoped.stops_futility_count),
        "bias_futility": [_r(b, 3) for b in hoped.bias_futility],
    }


# ---------------------------------------------------------------------- entry points


def evaluate_sequential(
    template: dict[str, Any],
    *,
    max_blocks: int | None = None,
    looks: Sequence[int] | None = None,
    effect: float = -1.5,
    sd: float = 1.5,
    rho: float = 0.5,
    tau: float = 0.0,
    calibration_rhos: Sequence[float] = CALIBRATION_RHOS,
    target: float = DEFAULT_FALSE_POSITIVE_TARGET,
    sims: int = 2000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    scenarios: Sequence[Scenario] | None = None,
) -> SequentialDesign:
    """Calibrate the three boundary shapes for a template and recommend one.

    Parameters
    ----------
    template : a template from ``nof1.plan.templates.read_template``; its design (period, washout,
        run-in, scheme) and pre-registered analysis are used.
    max_blocks : the most blocks the trial runs (default: the template's ``[sequential]``
        last look, else its design's blocks + 1).
    looks : blocks after which the data are looked at (default: every block from 2).
    effect, sd, rho, tau : the hoped-for scenario (``Scenario``).
    calibration_rhos : autocorrelations under which the false-positive rate is kept (the
        hoped-for ``rho`` is added to them).
    target : the overall false-positive rate over all looks (futility non-binding).
    sims : simulated trials per scenario.
    seed : the simulation seed; results are reproducible from it.
    progress : called with 1 after each scenario (``len(design_scenarios(...))`` of them).
    scenarios : instead of the four above, the scenarios themselves: the no-effect ones
        calibrate, the others set the power to keep.

    Returns
    -------
    SequentialDesign; its ``recommended`` rule (and every candidate) has ``simulated``
    filled (``simulated_summary``).

    Raises
    ------
    ProtocolError : a bad value, named.

    Example
    -------
    >>> from nof1.plan.templates import read_template
    >>> d = evaluate_sequential(read_template("generic-ab"), sims=200)  # doctest: +SKIP
    >>> d.recommended.shape, d.looks                                      # doctest: +SKIP
    ('constant', (2, 3, 4, 5))
    """
    plan = _plan(template, max_blocks)
    looks = _check_looks(looks, plan.protocol.blocks)
    _check_common(sims, seed, target)
    if scenarios is None:
        scenarios = design_scenarios(effect, sd, rho, tau, calibration_rhos)
    else:
        scenarios = _check_scenarios(scenarios)
    points = sorted({*looks, plan.fixed_blocks})
    sims_by = _simulate_all(plan, scenarios, points, sims, seed, progress)
    null_p = [s.columns(looks)[0] for s in sims_by if s.scenario.no_effect]
    floor = plan.protocol.analysis.threshold
    candidates = []
    for shape in CALIBRATED_SHAPES:
        efficacy = calibrate_efficacy(shape, looks, null_p, floor=floor, target=target)
        rule = _choose_futility(efficacy, shape, looks, sims_by, plan, target)
        ocs = tuple(operating_characteristics(rule, s, plan) for s in sims_by)
        rule = replace(rule, simulated=simulated_summary(rule, ocs, plan, seed))
        candidates.append((rule, tuple(replace(o, rule=rule) for o in ocs)))
    recommended = _recommend(candidates, plan, target)
    recommended = next(r for r, _ in candidates if r == recommended)
    return SequentialDesign(
        template=str(template.get("_source", "")),
        looks=looks,
        period_days=plan.protocol.period_days,
        washout_days=plan.protocol.washout_days,
        run_in_days=plan.protocol.run_in_days,
        scenarios=tuple(scenarios),
        candidates=tuple(candidates),
        recommended=recommended,
        fixed_days={b: plan.days(b) for b in range(1, plan.protocol.blocks + 1)},
        fixed_blocks=plan.fixed_blocks,
        threshold=floor,
        sims=sims,
        seed=seed,
    )


def evaluate_rules(
    template: dict[str, Any],
    rules: Sequence[SequentialRule],
    scenarios: Sequence[Scenario],
    *,
    sims: int = 2000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[tuple[SequentialOC, ...], ...]:
    """The OC of given rules (all with the same last look) under given scenarios, on the same
    simulated trials: per rule, one SequentialOC per scenario in the given order.

    Raises
    ------
    ProtocolError : rules with different maximum blocks, or a bad value.
    """
    rules = tuple(rules)
    if not rules:
        raise ProtocolError("give at least one rule")
    if len({r.max_blocks for r in rules}) != 1:
        raise ProtocolError(
            f"the rules must share their last look, got {sorted({r.max_blocks for r in rules})}"
        )
    _check_common(sims, seed, rules[0].false_positive_target)
    scenarios = tuple(scenarios)
    for s in scenarios:
        _check_scenario(s)
    plan = _plan(template, rules[0].max_blocks)
    points = sorted({plan.fixed_blocks, *(k for r in rules for k in r.looks)})
    sims_by = _simulate_all(plan, scenarios, points, sims, seed, progress)
    return tuple(tuple(operating_characteristics(r, s, plan) for s in sims_by) for r in rules)


def rule_for_protocol(
    template: dict[str, Any],
    max_blocks: int | None = None,
    *,
    sims: int = 2000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SequentialRule:
    """The rule ``protocol new --sequential [--max-blocks N]`` pre-registers.

    The template's ``[sequential]`` rule when it is for ``max_blocks`` (or none is given),
    with its ``simulated`` table filled by simulating it under ``design_scenarios()``; else
    the rule ``evaluate_sequential(template, max_blocks=...)`` recommends.

    Raises
    ------
    ProtocolError : a bad ``max_blocks``.
    """
    own = template_rule(template)
    max_blocks = _plan(template, max_blocks).protocol.blocks
    if own is not None and own.max_blocks == max_blocks:
        scenarios = design_scenarios()
        (ocs,) = evaluate_rules(template, [own], scenarios, sims=sims, seed=seed, progress=progress)
        return replace(
            own, simulated=simulated_summary(own, ocs, _plan(template, max_blocks), seed)
        )
    return evaluate_sequential(
        template, max_blocks=max_blocks, sims=sims, seed=seed, progress=progress
    ).recommended


def sequential_command(design: SequentialDesign) -> str:
    """The ``nof1 protocol new`` command that pre-registers the design's sequential rule.

    It gives the recommended rule when the design was evaluated at its defaults (looks
    every block from 2, hoped-for effect -1.5 at rho 0.5, sims 2000, seed 0).

    Example
    -------
    >>> d = SequentialDesign("magnesium-crps", (2, 3, 4), 28, 7, 7, (), (),
    ...     SequentialRule((2, 3, 4), (0.8, 0.8, 0.8), (0.3, 0.5)), {})
    >>> sequential_command(d)
    'nof1 protocol new --template magnesium-crps --sequential --max-blocks 4'
    """
    return (
        f"nof1 protocol new --template {design.template} --sequential "
        f"--max-blocks {design.max_blocks}"
    )

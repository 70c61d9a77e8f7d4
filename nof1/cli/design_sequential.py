"""``nof1 design --sequential``: interim looks that may stop a trial early, by simulation.

The printing half of the command: ``design_cmds`` parses the options and calls ``show``, which
calls the engine (``nof1.design.sequential.evaluate_sequential``) once and prints its result
for a patient and a clinician, or as JSON.
"""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
from dataclasses import asdict

import click

from nof1.design import sequential as engine
from nof1.design.looks import Scenario, SequentialOC, design_scenarios
from nof1.design.sequential import SequentialDesign, evaluate_sequential, sequential_command
from nof1.plan.stopping import DEFAULT_FALSE_POSITIVE_TARGET, SequentialRule, rule_to_toml
from nof1.plan.templates import template_rule

#: What each boundary shape means, in words (the shapes of ``nof1.plan.stopping.SHAPES``).
SHAPES = {
    "constant": "the same boundary at every look",
    "obrien-fleming": "very strict at the first looks, close to the fixed design's at the last",
    "haybittle-peto": "a very strict boundary at every look but the last, which decides as usual",
}

#: The columns of the table of operating characteristics, each with its explaining line.
COLUMNS = (
    ("false alarm", "chance of concluding benefit at some look when there is no effect "
                    "(the worst with autocorrelation {rhos})"),
    ("finds benefit", "chance of stopping for efficacy at some look, if the effect is real"),
    ("weeks if none", "expected length in weeks, run-in included, if there is no effect"),
    ("weeks if real", "expected length in weeks, run-in included, if the effect is real"),
)  # fmt: skip


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(
        text, width=88, initial_indent=indent, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip


def _in_100(p: float) -> str:
    return f"{round(100 * p)} of 100"


def _weeks(days: float) -> str:
    return f"{days / 7:.0f}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class _Read:
    """The numbers a reader needs from one design, each scenario picked once."""

    def __init__(self, design: SequentialDesign, rho: float) -> None:
        self.design = design
        scenarios = design.scenarios
        self.nulls = tuple(i for i, s in enumerate(scenarios) if s.effect == 0)
        self.effect = next(i for i, s in enumerate(scenarios) if s.effect != 0)
        # The no-effect scenario shown beside the effect: the one at the assumed rho.
        self.null = min(self.nulls, key=lambda i: abs(scenarios[i].rho - rho))
        self.recommended_ocs = design.oc(design.recommended)
        #: The fixed designs shown for comparison: the template's blocks and the most blocks.
        self.fixed_blocks = tuple(sorted({design.fixed_blocks, design.max_blocks}))

    def false_alarm(self, ocs: tuple[SequentialOC, ...]) -> float:
        """The worst false alarm over the no-effect scenarios, futility non-binding (what
        calibration keeps within the target: a clinician may continue after a futility stop)."""
        return max(ocs[i].p_efficacy_nonbinding for i in self.nulls)

    def fixed(self, blocks: int) -> tuple[float, float]:
        """(finds benefit, false alarm) of the fixed design with ``blocks`` blocks."""
        ocs = self.recommended_ocs
        alarm = max(ocs[i].fixed_power[blocks] for i in self.nulls)
        return ocs[self.effect].fixed_power[blocks], alarm


def _stop(ocs: tuple[SequentialOC, ...], i: int, look: int) -> float:
    return ocs[i].stop_efficacy[look] + ocs[i].stop_futility[look]


def _scenario(s: Scenario) -> dict:
    return asdict(s)


def _oc_dict(oc: SequentialOC) -> dict:
    out = asdict(oc)
    del out["rule"]
    out["expected_weeks"] = oc.expected_days / 7
    out["fixed_power"] = {str(b): p for b, p in oc.fixed_power.items()}
    return out


def _rule_dict(rule: SequentialRule, mcid: float) -> dict:
    return {**rule_to_toml(rule), "rule": rule.describe(mcid)}


def to_json(
    design: SequentialDesign, read: _Read, template: dict, mcid: float, assumptions: dict
) -> dict:
    """Every number of the design, for ``--json``."""
    rhos = ", ".join(f"{design.scenarios[i].rho:g}" for i in read.nulls)
    return {
        "template": design.template,
        "assumptions": assumptions,
        "looks": list(design.looks),
        "period_days": design.period_days,
        "washout_days": design.washout_days,
        "run_in_days": design.run_in_days,
        "columns": {head: text.format(rhos=rhos) for head, text in COLUMNS},
        "scenarios": [_scenario(s) for s in design.scenarios],
        "candidates": [
            {
                **_rule_dict(rule, mcid),
                "recommended": rule == design.recommended,
                "false_alarm": read.false_alarm(ocs),
                "finds_benefit": ocs[read.effect].p_efficacy,
                "expected_weeks_no_effect": ocs[read.null].expected_days / 7,
                "expected_weeks_effect": ocs[read.effect].expected_days / 7,
                "operating_characteristics": [_oc_dict(oc) for oc in ocs],
            }
            for rule, ocs in design.candidates
        ],
        "fixed": [
            {
                "blocks": b,
                "days": days,
                "weeks": days / 7,
                "finds_benefit": read.fixed(b)[0],
                "false_alarm": read.fixed(b)[1],
            }
            for b, days in ((b, design.fixed_days[b]) for b in read.fixed_blocks)
        ],
        "fixed_threshold": design.threshold,
        "recommended": _rule_dict(design.recommended, mcid),
        "command": sequential_command(design),
        "command_pre_registers_it": pre_registers(design, template),
    }


def show(
    template: dict,
    *,
    name: str,
    treatment: str,
    mcid: float,
    max_blocks: int | None,
    looks: tuple[int, ...],
    effect: float,
    sd: float,
    rho: float,
    tau: float,
    target: float,
    sims: int,
    seed: int,
    as_json: bool,
) -> None:
    """Simulate the sequential designs of ``template`` and print them (or their JSON)."""
    units = len(design_scenarios(effect, sd, rho, tau))  # also checks them, before the bar
    with click.progressbar(
        length=units, label="Simulating sequential designs", file=sys.stderr
    ) as bar:
        design = evaluate_sequential(
            template, max_blocks=max_blocks, looks=looks or None, effect=effect, sd=sd,
            rho=rho, tau=tau, target=target, sims=sims, seed=seed, progress=bar.update,
        )  # fmt: skip
    read = _Read(design, rho)
    if as_json:
        assumptions = dict(
            effect=effect, sd=sd, rho=rho, tau=tau, target_fpr=target, sims=sims, seed=seed,
            mcid=mcid, calibration_rhos=[design.scenarios[i].rho for i in read.nulls],
        )  # fmt: skip
        click.echo(json.dumps(to_json(design, read, template, mcid, assumptions), indent=2))
        return
    _print(design, read, template, name=name, treatment=treatment, mcid=mcid, target=target,
           tau=tau)  # fmt: skip


def _print(
    design: SequentialDesign,
    read: _Read,
    template: dict,
    *,
    name: str,
    treatment: str,
    mcid: float,
    target: float,
    tau: float,
) -> None:
    d = design
    eff, null = d.scenarios[read.effect], d.scenarios[read.null]
    rhos = _and([f"{d.scenarios[i].rho:g}" for i in read.nulls])
    looks = _and([str(k) for k in d.looks])
    onset = f", onset time constant {tau:g} days" if tau else ", immediate onset"
    sims = d.sims
    click.echo(
        f"Stopping early: what a sequential trial of {treatment} can show ({name}; {sims} "
        "simulated trials per boundary set and scenario)."
    )
    click.echo(
        _wrap(
            f"Assumed: {treatment} changes pain by {eff.effect:+g} points; day-to-day SD "
            f"{eff.sd:g}, autocorrelation {eff.rho:g}{onset}. At most {d.looks[-1]} blocks of "
            f"{d.period_days}-day periods ({d.washout_days} washout days each, run-in "
            f"{d.run_in_days} days), looks after blocks {looks}. At each look the pre-registered "
            f"analysis of the blocks so far gives P(benefit >= {mcid:g}): the trial stops for "
            "efficacy above the look's upper boundary, for futility below its lower one, and "
            "otherwise goes on. Each set of boundaries below was calibrated so that the false "
            f"alarm over all looks stays at or below {target:.0%} with autocorrelation {rhos}.",
            indent="",
        )
    )
    marks = ["*" if rule == d.recommended else " " for rule, _ in d.candidates]
    width = max(len(rule.shape) for rule, _ in d.candidates) + 2
    cells = [f"after block {k}" for k in d.looks]
    cw = max(16, *(len(c) for c in cells))

    click.echo("")
    click.echo(f"Boundaries: P(benefit >= {mcid:g}) above which the trial stops for efficacy /")
    click.echo("below which it stops for futility (at the last look it ends either way)")
    click.echo("  " + "boundaries".ljust(width) + "".join(c.rjust(cw) for c in cells))
    for mark, (rule, _) in zip(marks, d.candidates, strict=True):
        row = [f"{u:.3g} / {f:.3g}" for u, f in zip(rule.efficacy, rule.futility, strict=False)]
        row.append(f"{rule.efficacy[-1]:.3g}")
        click.echo(f"{mark} {rule.shape.ljust(width)}" + "".join(c.rjust(cw) for c in row))
    for rule, _ in d.candidates:
        click.echo(f"  {rule.shape:<{width}}{SHAPES.get(rule.shape, '')}")

    click.echo("")
    click.echo("What each design can show")
    heads = [head for head, _ in COLUMNS]
    hw = [len(h) + 2 for h in heads]
    fixed_width = max(width, len("fixed, 10 blocks") + 2)
    click.echo(
        "  "
        + "design".ljust(fixed_width)
        + "".join(h.rjust(w) for h, w in zip(heads, hw, strict=True))
    )
    for mark, (rule, ocs) in zip(marks, d.candidates, strict=True):
        row = (
            f"{read.false_alarm(ocs):.0%}", f"{ocs[read.effect].p_efficacy:.0%}",
            _weeks(ocs[read.null].expected_days), _weeks(ocs[read.effect].expected_days),
        )  # fmt: skip
        click.echo(
            f"{mark} {rule.shape.ljust(fixed_width)}"
            + "".join(c.rjust(w) for c, w in zip(row, hw, strict=True))
        )
    for b in read.fixed_blocks:
        power, alarm = read.fixed(b)
        days = d.fixed_days[b]
        row = (f"{alarm:.0%}", f"{power:.0%}", _weeks(days), _weeks(days))
        label = f"fixed, {b} blocks"
        click.echo(
            f"  {label.ljust(fixed_width)}"
            + "".join(c.rjust(w) for c, w in zip(row, hw, strict=True))
        )
    click.echo("")
    for head, text in COLUMNS:
        click.echo(f"  {head:<15} {text.format(rhos=rhos)}")
    click.echo(
        _wrap(
            "A fixed design analyses once, at its end, with the template's rule (benefit if "
            f"P(benefit >= {mcid:g}) > {d.threshold:g}); the same simulated trials serve every "
            f"row. Weeks if none: with autocorrelation {null.rho:g}.",
            indent="  ",
        )
    )

    click.echo("")
    click.echo("Chance of stopping at each look: if the effect is real / if there is no effect")
    click.echo("  " + "boundaries".ljust(width) + "".join(c.rjust(cw) for c in cells))
    for mark, (rule, ocs) in zip(marks, d.candidates, strict=True):
        row = [
            f"{_stop(ocs, read.effect, k):.0%} / {_stop(ocs, read.null, k):.0%}"
            for k in range(len(rule.looks))
        ]
        click.echo(f"{mark} {rule.shape.ljust(width)}" + "".join(c.rjust(cw) for c in row))

    rec, ocs = d.recommended, read.recommended_ocs
    fixed = [
        f"the fixed {b}-block design: {_in_100(read.fixed(b)[0])}, after "
        f"{_weeks(d.fixed_days[b])} weeks"
        for b in read.fixed_blocks
    ]
    click.echo("")
    click.echo(f"Recommended (marked *): the {rec.shape} boundaries. In words:")
    click.echo(_wrap(rec.describe(mcid)))
    change = "lowers" if eff.effect < 0 else "raises"
    click.echo(
        _wrap(
            f"If {treatment} {change} your pain by {abs(eff.effect):g} points, this design "
            f"stops for efficacy in about {_in_100(ocs[read.effect].p_efficacy)} trials, after "
            f"{_weeks(ocs[read.effect].expected_days)} weeks on average ({'; '.join(fixed)}). "
            f"If {treatment} does nothing, it ends "
            f"after {_weeks(ocs[read.null].expected_days)} weeks on average and wrongly "
            f"concludes benefit in at most {_in_100(read.false_alarm(ocs))}."
        )
    )
    click.echo("")
    command = sequential_command(d)
    if pre_registers(d, template):
        click.echo("To pre-register it (the looks and boundaries go into protocol.toml, sealed by")
        click.echo("the fingerprint; the helper or clinician runs each look with `nof1 interim`):")
        click.echo(f"  {command}")
        return
    own = template_rule(template)
    if own is not None and own.max_blocks == d.max_blocks:
        why = (
            f"This command pre-registers the template's own rule for {d.max_blocks} blocks "
            f"({own.shape} boundaries), not the one recommended here. {own.describe(mcid)} "
            "Check"
        )
    else:
        sims, seed = _protocol_defaults()
        why = (
            "This command simulates again with the defaults (looks after every block from 2, "
            f"effect -1.5 at autocorrelation 0.5, no onset delay, SD 1.5, a 5% target, {sims} "
            f"trials, seed {seed}), so with the options given here the rule it pre-registers "
            "may differ from the one recommended above: check"
        )
    click.echo("To pre-register a sequential rule for this template:")
    click.echo(f"  {command}")
    click.echo(_wrap(f"{why} its rule in `nof1 protocol show` before the first dose."))


def pre_registers(design: SequentialDesign, template: dict) -> bool:
    """Does ``sequential_command(design)`` pre-register exactly the recommended rule?

    ``protocol new --sequential --max-blocks N`` calls ``rule_for_protocol``: the template's
    own rule when it is for N blocks, else the rule ``evaluate_sequential`` recommends at
    its defaults (looks, scenarios, target) with ``rule_for_protocol``'s sims and seed.
    """
    own = template_rule(template)
    if own is not None and own.max_blocks == design.max_blocks:
        return own == design.recommended
    return (
        design.looks == tuple(range(2, design.max_blocks + 1))
        and design.scenarios == design_scenarios()
        and design.recommended.false_positive_target == DEFAULT_FALSE_POSITIVE_TARGET
        and (design.sims, design.seed) == _protocol_defaults()
    )


def _protocol_defaults() -> tuple[int, int]:
    """The sims and seed ``protocol new --sequential`` simulates with (``rule_for_protocol``'s
    defaults, read from the function itself so that the two commands cannot drift apart)."""
    parameters = inspect.signature(engine.rule_for_protocol).parameters
    return parameters["sims"].default, parameters["seed"].default

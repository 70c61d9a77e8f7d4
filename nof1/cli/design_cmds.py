"""``nof1 design``: what a trial design can show, by simulation, for a patient and a clinician."""

from __future__ import annotations

import json
import sys
import textwrap
from datetime import date

import click

from nof1.analysis.series import SCHEMES
from nof1.cli import cli
from nof1.cli.common import Count, Number, check_sequential_options, parse_whole_list, seed_option
from nof1.design import (
    MAX_FALSE_POSITIVE,
    STRICT_THRESHOLD,
    TARGET_POWER,
    DesignResult,
    evaluate_designs,
    protocol_command,
    recommend,
)
from nof1.design.fixed import MAX_EFFECT, MAX_MCID, MAX_SD, MAX_SIMS, MAX_TAU_DAYS
from nof1.plan.stopping import DEFAULT_FALSE_POSITIVE_TARGET
from nof1.plan.templates import check_design, protocol_from_template, read_template

#: Any start date: only the template's design and analysis are read, not its calendar.
_ANY_DAY = date(2000, 1, 3)

#: The columns of the table, each with the one line that explains it.
COLUMNS = (
    ("blocks", "blocks", "A/B pairs of periods"),
    ("period", "period", "days in each period"),
    ("washout", "washout", "days at each period's start whose scores are left out"),
    ("weeks", "weeks", "length of the whole trial, run-in included"),
    ("rule", "finds benefit", "chance that the pre-registered rule concludes benefit, if the effect is real"),
    ("strict", "P(benefit)>0.95", f"chance that P(any benefit) exceeds {STRICT_THRESHOLD:g}, if the effect is real"),
    ("false", "false alarm", "chance that the rule concludes benefit when there is no effect"),
    ("width", "interval", "expected width of the 95% interval of the effect (points): smaller = surer"),
    ("min_p", "smallest p", "smallest p-value the randomization test can reach (1/2^blocks)"),
)  # fmt: skip


#: The most values of --blocks, --period-days or --looks: every combination of blocks and
#: periods is simulated, so the lists bound the run time as --sims does.
MAX_LIST = 8


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    return parse_whole_list(value, f"--{param.name.replace('_', '-')}", MAX_LIST)


def _not_zero(param: click.Parameter, value: float) -> float:
    if value == 0:
        raise click.ClickException(
            f"--{param.name} 0 must not be 0: it is the effect you hope for (no effect is "
            "always simulated beside it)"
        )
    return value


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=88, initial_indent=indent, subsequent_indent=indent)


def _weeks(r: DesignResult, run_in_days: int) -> str:
    return f"{(r.trial_days + run_in_days) / 7:.0f}"


def _in_100(p: float) -> str:
    return f"{round(100 * p)} of 100"


def can_show(r: DesignResult, treatment: str, effect: float, mcid: float, threshold: float) -> str:
    """'What this design can show', in words, for the effect the patient hopes for."""
    change = "lowers" if effect < 0 else "raises"
    points = "point" if mcid == 1 else "points"
    half = r.interval_width / 2
    return (
        f"If {treatment} {change} your pain by {abs(effect):g} points, this design concludes "
        f"benefit (P(benefit >= {mcid:g}) > {threshold:g}, the pre-registered rule) in about "
        f'{_in_100(r.power)} such trials; the others end in "can\'t tell". In about '
        f"{_in_100(r.power_strict)} it is almost sure that {treatment} helps at all "
        f"(P(benefit) > {STRICT_THRESHOLD:g}), if perhaps by less than {mcid:g} {points}. If "
        f"{treatment} does nothing, the rule wrongly concludes "
        f"benefit in about {_in_100(r.false_positive)}. The estimate will typically come with "
        f"a 95% interval of +/-{half:.1f} points."
    )


def _refuse_options_of_the_other_kind(sequential: bool, fixed: dict, seq: dict) -> None:
    """One Error line for an option that would do nothing with (or without) --sequential."""
    if sequential:
        given = [name for name, value in fixed.items() if value not in (None, ())]
        if given:
            raise click.ClickException(
                f"{given[0]} applies only without --sequential (a sequential design takes the "
                "template's periods and analysis; give --max-blocks and --looks)"
            )
    else:
        given = [name for name, value in seq.items() if value not in (None, ())]
        if given:
            raise click.ClickException(f"{given[0]} applies only with --sequential")


@cli.command()
@click.option(
    "--template",
    default="magnesium-crps",
    show_default=True,
    help="Template whose design is evaluated first and named in the recommended command.",
)
@click.option(
    "--blocks",
    default=None,
    callback=_int_list,
    help=f"Other numbers of blocks to compare, comma-separated, at most {MAX_LIST} (default: "
    "the template's, +1, x2).",
)
@click.option(
    "--period-days",
    default=None,
    callback=_int_list,
    help=f"Other period lengths in days, comma-separated, at most {MAX_LIST} (default: the "
    "template's and 3/4 of it).",
)
@click.option(
    "--washout-days",
    default=None,
    type=Count(),
    help="Washout days at the start of each period (default: the template's).",
)
@click.option(
    "--effect",
    default=-1.5,
    show_default=True,
    type=Number(-MAX_EFFECT, MAX_EFFECT, hint=" points"),
    callback=lambda ctx, param, value: _not_zero(param, value),
    help="The effect you hope for, in points of the 0-10 scale (negative = less pain).",
)
@click.option(
    "--sd",
    default=1.5,
    show_default=True,
    type=Number(0, MAX_SD, low_open=True),
    help="Day-to-day SD of pain.",
)
@click.option(
    "--rho",
    default=0.5,
    show_default=True,
    type=Number(-1, 1, low_open=True, high_open=True),
    help="Lag-1 autocorrelation of daily pain (between -1 and 1).",
)
@click.option(
    "--tau",
    default=0.0,
    show_default=True,
    type=Number(0, MAX_TAU_DAYS, hint=" days"),
    help="Onset/carryover time constant in days of the simulated effect (the analysis is the template's: with its onset model, it estimates it).",
)
@click.option(
    "--mcid",
    default=None,
    type=Number(0, MAX_MCID, low_open=True),
    help="Minimal clinically important difference (default: the template's pre-registered one).",
)
@click.option(
    "--threshold",
    default=None,
    type=Number(0.5, 1, high_open=True),
    help="Benefit is concluded when P(benefit >= MCID) exceeds this (default: the template's).",
)
@click.option(
    "--sims",
    default=2000,
    show_default=True,
    type=Count(10, MAX_SIMS),
    help=f"Simulated trials per design and scenario (at most {MAX_SIMS:,}; --sequential: at "
    "least 100).",
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    default=None,
    help="Randomization scheme (default: the template's).",
)
@click.option(
    "--sequential",
    is_flag=True,
    help="Designs with interim looks that may stop the trial early (calibrated boundaries).",
)
@click.option(
    "--max-blocks",
    type=Count(),
    default=None,
    help="With --sequential: the most blocks (default: the template's rule, else its blocks + 1).",
)
@click.option(
    "--looks",
    default=None,
    callback=_int_list,
    help="With --sequential: blocks after which to look, e.g. 2,3,4 (the last block always is).",
)
@click.option(
    "--target-fpr",
    type=Number(0, 0.5, low_open=True, high_open=True, hint=" (e.g. 0.05)"),
    default=None,
    help=f"With --sequential: the false alarm over all looks to stay within [default: "
    f"{DEFAULT_FALSE_POSITIVE_TARGET:g}].",
)
@seed_option("Simulation seed.", default=0)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def design(
    template,
    blocks,
    period_days,
    washout_days,
    effect,
    sd,
    rho,
    tau,
    mcid,
    threshold,
    sims,
    scheme,
    sequential,
    max_blocks,
    looks,
    target_fpr,
    seed,
    as_json,
):
    """What a trial design can show, by simulation: the template's own design first.

    Many trials are simulated for each design, once with the effect you hope for and once
    with no effect, and each is analysed with the template's prior, MCID and decision rule
    (by the exact engine, with the template's onset model if it has one; --tau shows what a
    slower onset costs). The table shows how often each design finds the benefit, how often
    it raises a false alarm and how precise its estimate is, so you and your clinician can
    trade length against certainty. It ends with the nof1 protocol new command for the recommended design.

    With --sequential: designs that look at the data after some blocks and stop early when
    the answer is clear. Three sets of boundaries are calibrated so that the false alarm over
    all looks stays within --target-fpr, and compared with the fixed designs; it ends with
    the nof1 protocol new --sequential command that pre-registers the recommended rule.
    """
    data = read_template(template)
    own = protocol_from_template(data, start=_ANY_DAY)
    a = own.analysis
    _refuse_options_of_the_other_kind(
        sequential,
        fixed={"--blocks": blocks, "--period-days": period_days, "--washout-days": washout_days,
               "--mcid": mcid, "--threshold": threshold, "--scheme": scheme},
        seq={"--max-blocks": max_blocks, "--looks": looks, "--target-fpr": target_fpr},
    )  # fmt: skip
    if sequential:
        from nof1.cli import design_sequential

        max_blocks, looks = check_sequential_options(max_blocks, looks, target_fpr)
        if max_blocks is not None:
            check_design(max_blocks, own.period_days, own.washout_days, own.run_in_days, own.scheme)
        design_sequential.show(
            data, name=own.template or template, treatment=own.treatments["A"].name,
            mcid=a.mcid, max_blocks=max_blocks, looks=looks, effect=effect, sd=sd, rho=rho,
            tau=tau, sims=sims, seed=seed, as_json=as_json,
            target=DEFAULT_FALSE_POSITIVE_TARGET if target_fpr is None else target_fpr,
        )  # fmt: skip
        return
    mcid = a.mcid if mcid is None else mcid
    threshold = a.threshold if threshold is None else threshold
    scheme = scheme or own.scheme
    washout = own.washout_days if washout_days is None else washout_days
    blocks = blocks or tuple(sorted({own.blocks, own.blocks + 1, 2 * own.blocks}))
    period_days = period_days or tuple(
        sorted({own.period_days, max(washout + 2, round(own.period_days * 3 / 4))})
    )
    kw = dict(
        effect=effect, sd=sd, rho=rho, tau=tau, mcid=mcid, threshold=threshold, sims=sims,
        prior=a.prior, scheme=scheme, seed=seed,
    )  # fmt: skip
    for b in blocks:  # a bad design is one Error line, before the progress bar starts
        for p in period_days:
            check_design(b, p, washout, 0, scheme)
    n = 1 + len(blocks) * len(period_days)
    with click.progressbar(length=n, label="Simulating designs", file=sys.stderr) as bar:
        (mine,) = evaluate_designs(
            (own.blocks,), (own.period_days,), own.washout_days, progress=bar.update,
            analysis=a, **kw,
        )  # fmt: skip
        others = [
            r
            for r in evaluate_designs(
                blocks, period_days, washout, progress=bar.update, analysis=a, **kw
            )
            if (r.blocks, r.period_days, r.washout_days)
            != (mine.blocks, mine.period_days, mine.washout_days)
        ]
    results = [mine, *others]
    best = recommend(results)
    reached = best is not None
    if best is None:  # none reaches the target: the one that comes closest, shortest first
        best = max(results, key=lambda r: (round(r.power, 2), -r.trial_days))
    command = protocol_command(best, own.template or template)
    treatment = own.treatments["A"].name
    if as_json:
        click.echo(
            json.dumps(
                {
                    "template": own.template or template,
                    "assumptions": {**kw, "prior": a.prior},
                    "columns": {key: text for key, _, text in COLUMNS},
                    "template_design": mine.to_dict(),
                    "designs": [r.to_dict() for r in results],
                    "recommended": best.to_dict(),
                    "reaches_target": reached,
                    "can_show": can_show(mine, treatment, effect, mcid, threshold),
                    "command": command,
                },
                indent=2,
            )
        )
        return
    onset = f", onset time constant {tau:g} days" if tau else ", immediate onset"
    click.echo(
        f"What a trial of {treatment} can show ({own.template or template}; {sims} simulated "
        "trials per design)."
    )
    click.echo(
        f"Assumed: {treatment} changes pain by {effect:+g} points; day-to-day SD {sd:g}, "
        f"autocorrelation {rho:g}{onset}. Each trial is analysed as pre-registered"
        + (" (with the onset model: the effect builds up and fades)" if a.carryover else "")
        + f"; the rule: benefit if P(benefit >= {mcid:g}) > {threshold:g}."
    )
    click.echo("")
    widths = [max(len(head), 6) for _, head, _ in COLUMNS]
    click.echo(
        "  " + " ".join(head.rjust(w) for (_, head, _), w in zip(COLUMNS, widths, strict=True))
    )
    for i, r in enumerate(results):
        cells = (
            str(r.blocks), str(r.period_days), str(r.washout_days), _weeks(r, own.run_in_days),
            f"{r.power:.0%}", f"{r.power_strict:.0%}", f"{r.false_positive:.0%}",
            f"{r.interval_width:.1f}", f"{r.min_p:.3g}",
        )  # fmt: skip
        mark = "*" if i == 0 else " "
        line = " ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        click.echo(f"{mark} {line}" + ("  (the template's design)" if i == 0 else ""))
    click.echo("")
    for _, head, text in COLUMNS:
        click.echo(f"  {head:<16} {text}")
    click.echo("")
    click.echo(
        f"What the template's design ({mine.blocks} blocks of {mine.period_days}-day periods, "
        f"{_weeks(mine, own.run_in_days)} weeks) can show:"
    )
    click.echo(_wrap(can_show(mine, treatment, effect, mcid, threshold)))
    click.echo("")
    if best == mine:
        click.echo(
            f"Recommended: keep the template's design (it reaches {TARGET_POWER:.0%} with at "
            f"most {MAX_FALSE_POSITIVE:.0%} false alarms)."
        )
    elif reached:
        click.echo(
            _wrap(
                f"Recommended: {best.blocks} blocks of {best.period_days}-day periods "
                f"({_weeks(best, own.run_in_days)} weeks), the shortest design here that finds "
                f"the benefit in at least {TARGET_POWER:.0%} of trials with at most "
                f"{MAX_FALSE_POSITIVE:.0%} false alarms:",
                indent="",
            )
        )
        click.echo(_wrap(can_show(best, treatment, effect, mcid, threshold)))
    else:
        click.echo(
            _wrap(
                f"No design here finds the benefit in {TARGET_POWER:.0%} of trials. The closest "
                f"is {best.blocks} blocks of {best.period_days}-day periods "
                f"({_weeks(best, own.run_in_days)} weeks, {best.power:.0%}); a longer trial, or "
                'accepting that it may end in "can\'t tell", is a choice to make with your '
                "clinician.",
                indent="",
            )
        )
    click.echo("")
    click.echo("To create it, with the template's treatments, outcomes and analysis:")
    click.echo(f"  {command}")
    if best != mine:
        click.echo("Or keep the template's own design:")
        click.echo(f"  {protocol_command(mine, own.template or template)}")

"""``nof1 protocol new``, ``protocol show``, ``protocol upgrade`` and ``nof1 kits``."""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from dataclasses import asdict
from datetime import date

import click

from nof1.analysis.series import SCHEMES
from nof1.cli import cli
from nof1.cli.common import (
    Count,
    check_sequential_options,
    passphrase_option,
    read_passphrase,
    seed_option,
    trial_option,
)
from nof1.diary.entries import parse_date
from nof1.errors import ProtocolError
from nof1.plan.calendar import calendar, first_days_left_out, look_dates
from nof1.plan.checks import Fields
from nof1.plan.protocol import Outcome, Protocol, load_protocol
from nof1.plan.sealing import PASSPHRASE_RULE
from nof1.plan.sections import MAX_DAYS_PER_POINT, parse_decision, parse_outcomes
from nof1.plan.stopping import SequentialRule, rule_to_toml
from nof1.plan.templates import protocol_from_template
from nof1.trial.create import check_start, create_trial, packing_sheet, upgrade_protocol

_GIVE_FINGERPRINT = (
    "Give it to the clinician BEFORE THE FIRST DOSE (write it down, or send it). It seals "
    "the whole plan: schedule, kits, outcomes, analysis and the sealed allocation. The "
    "final report prints it again: if the two differ, the trial was changed or forged."
)


def _echo_safety(notes: tuple[str, ...], heading: str) -> None:
    """The template's safety notes under ``heading``, after a blank line (none: nothing)."""
    if notes:
        click.echo("")
        click.echo(heading)
        for note in notes:
            click.echo(f"  - {note}")


def _echo_fingerprint(fingerprint: str, text: str = _GIVE_FINGERPRINT) -> None:
    """The fingerprint, and what the patient must do with it."""
    click.echo("")
    click.echo(f"Fingerprint: {fingerprint}")
    click.echo(textwrap.fill(text, width=88, initial_indent="  ", subsequent_indent="  "))


#: Who runs the looks of a sequential trial, and what they see.
_WHO_LOOKS = (
    "The helper or the clinician runs each look on its day (or before the next block "
    "ends), never the patient alone: `{command}`{needs}. It says only CONTINUE, STOP: "
    "efficacy or STOP: futility."
)


def _wrap(text: str, indent: str = "  ") -> str:
    # Commands and paths stay whole, to be copied.
    return textwrap.fill(
        text, width=88, initial_indent=indent, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip


def _looks(p: Protocol) -> list[dict]:
    """The pre-registered looks with the day each is due (empty for a fixed-length trial)."""
    if p.sequential is None:
        return []
    return [
        {"look": i + 1, "after_block": block, "due": due.isoformat()}
        for i, (block, due) in enumerate(zip(p.sequential.looks, look_dates(p), strict=True))
    ]


#: The keys of ``[sequential.simulated]`` that ``_simulated_words`` reads.
_SIMULATED_KEYS = {
    "sims", "false_positive", "calibration_rhos", "effect", "power", "fixed_blocks",
    "fixed_power", "expected_days_no_effect", "expected_days_effect", "fixed_days",
}  # fmt: skip


def _simulated_words(rule: SequentialRule, blocks: int) -> str:
    """The rule's simulated operating characteristics in one sentence ("" when not kept)."""
    sim = rule.simulated
    if not set(sim) >= _SIMULATED_KEYS:
        return ""
    rhos = ", ".join(f"{r:g}" for r in sim["calibration_rhos"])
    return (
        f"Simulated when it was pre-registered ({sim['sims']} trials per scenario): with no "
        f"effect a false alarm at some look in {sim['false_positive']:.1%} of trials (the "
        f"worst with autocorrelation {rhos}); with an effect of {sim['effect']:g} points it "
        f"stops for efficacy in {sim['power']:.0%} (the fixed {sim['fixed_blocks']}-block "
        f"design: {sim['fixed_power']:.0%}). Expected length "
        f"{sim['expected_days_no_effect'] / 7:.0f} weeks with no effect and "
        f"{sim['expected_days_effect'] / 7:.0f} with the effect, against "
        f"{sim['fixed_days'] / 7:.0f} weeks for all {blocks} blocks."
    )


def _echo_looks(p: Protocol, trial) -> None:
    """A sequential protocol's rule in words, its looks with their days, and who runs them."""
    rule = p.sequential
    click.echo("")
    click.echo(
        f"Interim looks (sequential: at most {rule.max_blocks} blocks, {rule.shape} boundaries)"
    )
    click.echo(_wrap(rule.describe(p.analysis.mcid)))
    simulated = _simulated_words(rule, p.blocks)
    if simulated:
        click.echo(_wrap(simulated))
    for look in _looks(p):
        last = " (the last look)" if look["after_block"] == rule.max_blocks else ""
        click.echo(f"  {look['due']}  look {look['look']}, after block {look['after_block']}{last}")
    command = f"nof1 interim --trial {trial}" + (" --passphrase-file F" if p.blinded else "")
    needs = " (it opens the sealed allocation with the helper's passphrase)" if p.blinded else ""
    click.echo(_wrap(_WHO_LOOKS.format(command=command, needs=needs)))


def _scale(o: Outcome) -> str:
    """An outcome's scale in words: ``0-10, lower is better`` or ``yes or no``."""
    if o.kind == "binary":
        return "yes or no"
    return f"{o.low:g}-{o.high:g}, {'lower' if o.lower_is_better else 'higher'} is better"


def _echo_outcomes(p: Protocol) -> None:
    """Each outcome: its name (what `nof1 record --outcome NAME=X` takes), scale and question."""
    click.echo("  Outcomes, recorded every day:")
    for o in p.outcomes:
        role = (
            "primary" if o.primary else ("side effect" if o.role == "side-effect" else "secondary")
        )
        click.echo(f"    {o.name} ({role}): {o.label}; {_scale(o)}")
        click.echo(_wrap(f"asked: {o.question}", indent="      "))


_DAYS = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _days(text: str) -> float | str:
    """A number of days as typed (``2``, ``1.5``), or the text itself for the protocol's
    reader to refuse with its own message."""
    text = text.strip()
    return float(text) if _DAYS.fullmatch(text) and math.isfinite(float(text)) else text


def _trade_off_option(items: tuple[str, ...]) -> dict[str, float | str]:
    """``--trade-off NAME=DAYS`` (repeatable) as a mapping; the protocol's reader checks
    the names and the days (``nof1.plan.sections.parse_decision``)."""
    out: dict[str, float | str] = {}
    for item in items:
        name, sep, days = item.partition("=")
        if not sep or not name.strip():
            raise click.ClickException(
                f"--trade-off {item!r} must be NAME=DAYS, a yes/no outcome and the days a "
                "week 1 point less pain is worth (e.g. diarrhoea=2)"
            )
        if name.strip() in out:
            raise click.ClickException(f"--trade-off names {name.strip()!r} twice")
        out[name.strip()] = _days(days)
    return out


def _interactive() -> bool:
    """Whether ``protocol new`` runs at a terminal, where it asks the trade-off question."""
    return sys.stdin.isatty()


def _ask_trade_off(spec: dict) -> dict[str, float]:
    """Ask the patient, per yes/no side effect, how many more days a week of it one point
    less of the primary outcome is worth; Enter skips (the primary outcome alone decides).

    A prompt answered with end of input is the command's one Error line
    (``nof1.cli.common``); an answer that is not a number of days is asked again.
    """
    fields = Fields("your answer")
    outcomes = parse_outcomes(spec.get("outcomes", []), fields)
    primary = next(o for o in outcomes if o.primary).name.replace("_", " ")
    answers: dict[str, float] = {}
    for o in outcomes:
        if o.kind != "binary" or o.role != "side-effect":
            continue
        what = o.name.replace("_", " ")
        while True:
            text = click.prompt(
                f"1 point less {primary} is worth {what} on up to how many more days a week? "
                f"(Enter to skip: {primary} alone decides)",
                default="", show_default=False,
            )  # fmt: skip
            if not text.strip():
                break
            try:
                days = parse_decision({"days_per_point": {o.name: _days(text)}}, fields,
                                      outcomes, 0.8).days_per_point[o.name]  # fmt: skip
            except ProtocolError:
                click.echo(
                    f"  {text.strip()!r} is not a number of days from more than 0 to "
                    f"{MAX_DAYS_PER_POINT:g}; type one (e.g. 2), or press Enter to skip."
                )
                continue
            answers[o.name] = days
            break
    return answers


@cli.group()
def protocol() -> None:
    """Create and show the trial protocol."""


@protocol.command("new")
@click.option(
    "--template",
    required=True,
    help="Template file or built-in name (magnesium-crps, generic-ab, magnesium-open).",
)
@trial_option()
@seed_option(
    "For demos and tests. Blinded: mixed with a random salt sealed with the allocation (the seed alone does not reproduce it); open label: reproduces it."
)
@click.option(
    "--blocks", type=Count(), default=None, help="Number of blocks (each: one A and one B period)."
)
@click.option("--period-days", type=Count(), default=None, help="Length of each period in days.")
@click.option(
    "--washout-days",
    type=Count(),
    default=None,
    help="Days at the start of each period left out of the primary analysis.",
)
@click.option(
    "--run-in-days", type=Count(), default=None, help="Baseline days before the first period."
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    default=None,
    help="Randomization scheme (default: the template's, usually block).",
)
@click.option(
    "--start",
    default=None,
    help="First day of the trial, YYYY-MM-DD (default: today; at most 3 days ago).",
)
@passphrase_option()
@click.option(
    "--sequential",
    is_flag=True,
    help="Pre-register interim looks that may stop the trial early (rule as nof1 design "
    "--sequential recommends; simulated here, which takes a while).",
)
@click.option(
    "--max-blocks",
    type=Count(),
    default=None,
    help="With --sequential: the most blocks the trial runs (default: the template's rule, "
    "else one more than its blocks).",
)
@click.option(
    "--trade-off",
    "trade_off",
    multiple=True,
    metavar="NAME=DAYS",
    help="The patient's trade-off, for scripts: 1 point less pain is worth side effect NAME "
    "(a yes/no outcome) on up to DAYS more days a week, e.g. diarrhoea=2; repeat for each. "
    "At a terminal nof1 asks instead. Without it pain alone decides.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing protocol in the folder (never an existing diary).",
)
def protocol_new(
    template,
    trial,
    seed,
    blocks,
    period_days,
    washout_days,
    run_in_days,
    scheme,
    start,
    passphrase_file,
    sequential,
    max_blocks,
    trade_off,
    force,
):
    """Randomize a new blinded protocol from a template.

    Writes protocol.toml (public) and allocation.sealed (the allocation, encrypted with the
    helper's passphrase). Give the passphrase to nobody but the helper who packs the kits.

    With --sequential the protocol also pre-registers interim looks: after some blocks the
    helper or clinician runs nof1 interim, which may stop the trial early for efficacy or
    futility. Its boundaries are simulated and calibrated now, as nof1 design --sequential
    does, so that the chance of a false alarm over all looks stays at or below 5%.

    At a terminal it asks the patient, for each yes/no side effect, how many more days a
    week of it 1 point less pain is worth (Enter skips: pain alone decides). The answer is
    registered in protocol.toml's [decision] section and weighed after unblinding.
    """
    today = date.today()
    start_date = parse_date(start, today, what="start date") if start else today
    check_start(start_date, today)
    from nof1.plan.templates import read_template

    spec = read_template(template)
    if max_blocks is not None and not sequential:
        raise click.ClickException("--max-blocks applies only with --sequential")
    if sequential and blocks is not None and max_blocks is not None and blocks != max_blocks:
        raise click.ClickException(
            f"--blocks {blocks} disagrees with --max-blocks {max_blocks}: a sequential trial's "
            "blocks are its most blocks (give one of them)"
        )
    if sequential:
        max_blocks, _ = check_sequential_options(max_blocks if max_blocks is not None else blocks)
    # Checked before the passphrase is asked for and a rule simulated, as create_trial would
    # after them: a design or start beyond the limits is refused at once.
    overrides = dict(period_days=period_days, washout_days=washout_days,
                     run_in_days=run_in_days, scheme=scheme)  # fmt: skip
    trade_offs = _trade_off_option(trade_off)
    protocol_from_template(
        spec,
        start=start_date,
        blocks=max_blocks if sequential else blocks,
        trade_off=trade_offs,
        **overrides,
    )
    if not trade_offs and "decision" not in spec and _interactive():
        trade_offs = _ask_trade_off(spec)
    blinded = spec.get("trial", {}).get("blinded", True)
    if blinded and passphrase_file is None:
        click.echo(
            f"The helper now chooses a passphrase of {PASSPHRASE_RULE}, and types it twice; "
            "only the helper should know it.",
            err=True,
        )
    passphrase = read_passphrase(passphrase_file, new=True) if blinded else None
    rule = (
        _simulate_rule(spec, max_blocks, period_days, washout_days, run_in_days, scheme)
        if sequential
        else None
    )
    p = create_trial(
        trial,
        template,
        passphrase=passphrase,
        start=start_date,
        seed=seed,
        blocks=blocks,
        period_days=period_days,
        washout_days=washout_days,
        run_in_days=run_in_days,
        scheme=scheme,
        sequential=rule,
        trade_off=trade_offs,
        force=force,
    )
    click.echo(f"Created {p.title}")
    most = "at most " if p.sequential else ""
    click.echo(
        f"  {most}{p.blocks} blocks x 2 periods of {p.period_days} days, {p.washout_days} washout "
        f"days each, run-in {p.run_in_days} days: {p.start} to {p.end} ({p.n_days} days)"
    )
    click.echo(f"  {trial / 'protocol.toml'} (public plan)")
    if p.blinded:
        click.echo(
            f"  {trial / 'allocation.sealed'} (sealed allocation: only the helper's passphrase opens it)"
        )
        if seed is not None:
            click.echo(
                "  The seed alone does not reproduce the allocation: it was mixed with a random "
                "salt sealed in allocation.sealed. The helper shows the allocation with "
                f"`nof1 kits --trial {trial}`."
            )
        click.echo(f"Next: the helper runs `nof1 kits --trial {trial}` and packs the kits.")
    click.echo(
        f"Then record every day: `nof1 record --trial {trial} --pain N`. See `nof1 protocol show --trial {trial}`."
    )
    click.echo(f"Reminders in your calendar app: `nof1 calendar --trial {trial} --out trial.ics`.")
    if p.sequential is not None:
        _echo_looks(p, trial)
    if p.decision is not None:
        click.echo("")
        click.echo("Pre-registered trade-off, weighed after unblinding:")
        for sentence in p.decision.sentences(p.primary.name.replace("_", " ")):
            click.echo(f"  {sentence}")
    _echo_safety(p.safety, "Safety (read these with your clinician before you start):")
    _echo_fingerprint(p.fingerprint)


def _simulate_rule(spec, max_blocks, period_days, washout_days, run_in_days, scheme):
    """The recommended sequential rule for the template's design with these overrides."""
    from nof1.design.looks import design_scenarios
    from nof1.design.sequential import rule_for_protocol

    design = dict(spec.get("design", {}))
    given = dict(period_days=period_days, washout_days=washout_days, run_in_days=run_in_days,
                 scheme=scheme)  # fmt: skip
    design.update({k: v for k, v in given.items() if v is not None})
    with click.progressbar(
        length=len(design_scenarios()), label="Simulating the stopping rule", file=sys.stderr
    ) as bar:
        return rule_for_protocol({**spec, "design": design}, max_blocks, progress=bar.update)


@protocol.command("upgrade")
@trial_option()
def protocol_upgrade(trial):
    """Give a protocol made by an older nof1 its commitment and fingerprint.

    The commitment then protects the protocol from now on; it cannot prove what the file
    said before, and the report says when the upgrade was made.
    """
    p = upgrade_protocol(trial)
    click.echo(
        f"Upgraded {trial / 'protocol.toml'}: it now carries a commitment over the whole plan."
    )
    _echo_fingerprint(
        p.fingerprint,
        "Give it to the clinician now. It protects the plan from today on only: it cannot "
        "prove what the protocol said before, and the report says when it was added.",
    )


@protocol.command("show")
@trial_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def protocol_show(trial, as_json):
    """The public protocol and its calendar (never the allocation of a blinded trial)."""
    p = load_protocol(trial)
    rows = calendar(p)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "title": p.title,
                    "blinded": p.blinded,
                    "scheme": p.scheme,
                    "blocks": p.blocks,
                    "period_days": p.period_days,
                    "washout_days": p.washout_days,
                    "run_in_days": p.run_in_days,
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "commitment": p.commitment,
                    "registration": p.registration,
                    "fingerprint": p.fingerprint,
                    "outcomes": [asdict(o) for o in p.outcomes],
                    "calendar": [
                        {
                            "label": r.label,
                            "start": r.start.isoformat(),
                            "end": r.end.isoformat(),
                            "kit": r.kit,
                            "washout_until": r.washout_until.isoformat()
                            if r.washout_until
                            else None,
                            **({"arm": r.arm} if r.arm else {}),
                        }
                        for r in rows
                    ],
                    "sequential": None
                    if p.sequential is None
                    else {
                        **rule_to_toml(p.sequential),
                        "rule": p.sequential.describe(p.analysis.mcid),
                        "looks_due": _looks(p),
                    },
                    "decision": None
                    if p.decision is None
                    else {
                        "days_per_point": p.decision.days_per_point,
                        "threshold": p.decision.threshold,
                    },
                },
                indent=2,
            )
        )
        return
    click.echo(p.title)
    click.echo("=" * len(p.title))
    for arm, t in p.treatments.items():
        click.echo(f"  {arm}: {t.name}: {t.description}")
    blinding = (
        "blinded: the kits look identical; which kit holds which is sealed"
        if p.blinded
        else "OPEN LABEL: no placebo, so expectation cannot be separated from the effect"
    )
    click.echo(f"  {blinding}")
    blocks = f"at most {p.blocks} blocks (sequential)" if p.sequential else f"{p.blocks} blocks"
    click.echo(
        f"  Design: {p.scheme} randomization, {blocks}, periods of {p.period_days} days "
        f"(first {p.washout_days} washout), run-in {p.run_in_days} days"
    )
    a = p.analysis
    click.echo(
        f"  Pre-registered analysis: primary outcome {p.primary.name}, prior {a.prior}, MCID {a.mcid:g}, "
        f"benefit if P(benefit >= MCID) > {a.threshold:g}"
    )
    if p.decision is not None:
        said = " ".join(p.decision.sentences(p.primary.name.replace("_", " ")))
        click.echo(
            _wrap(
                f"Pre-registered trade-off: {said} Worth continuing if P(net benefit > 0) > "
                f"{p.decision.threshold:g}.",
                indent="  ",
            )
        )
    _echo_outcomes(p)
    click.echo(f"  Allocation commitment: {p.commitment}")
    click.echo(
        f"  Fingerprint: {p.fingerprint or 'none (an older protocol: run `nof1 protocol upgrade`)'}"
    )
    click.echo("")
    click.echo("Calendar")
    for r in rows:
        kit = (
            f"take {r.kit}"
            if r.kit and not r.arm
            else (f"{r.kit}: arm {r.arm}" if r.arm else "no kit")
        )
        wash = (
            f" (its first days, to {r.washout_until}, not analysed)"
            if r.washout_until and first_days_left_out(p)
            else ""
        )
        click.echo(f"  {r.start} to {r.end}  {r.label:<28} {kit}{wash}")
    if p.sequential is not None:
        _echo_looks(p, trial)
    _echo_safety(p.safety, "Safety")


@cli.command()
@trial_option()
@passphrase_option()
def kits(trial, passphrase_file):
    """The helper's packing sheet: which kit gets which treatment. Keep it from the patient."""
    p, lines = packing_sheet(trial, read_passphrase(passphrase_file))
    click.echo(f"KIT PACKING SHEET (confidential: for the helper only) - {p.title}")
    click.echo(
        "Label each container with its kit name only. Do not tell the patient what is inside."
    )
    click.echo("")
    click.echo(f"{'Kit':<8} {'Period':<7} {'From':<11} {'To':<11} {'Contents':<30} Doses")
    for k in lines:
        click.echo(
            f"{k.kit:<8} {k.period:<7} {k.start!s:<11} {k.end!s:<11} {k.treatment:<30} {k.doses} {k.dose_unit}s"
        )
    click.echo("")
    for arm, t in p.treatments.items():
        click.echo(f"{t.name} ({arm}): {t.description}")
    if p.fingerprint:
        _echo_fingerprint(p.fingerprint)

"""The patient's page: one printable A4 page in plain words, after unblinding.

The clinician's report (``nof1.report.build``) is written for the treating clinician. The
patient, who ran the trial, gets this page: what was compared, what was found and how sure
that is (with a picture of 100 dots), the side effects, whether the kits could be told
apart, what the pre-registered decision says, and what to discuss next. It is written at a
reading age of about 12 (``tests/test_patient_page.py`` checks the Flesch-Kincaid grade)
and uses no statistical terms: every number comes with what it means.

The chances on the page are the model's probabilities for this one patient, from their own
diary; the page says so and never speaks of "people like you".

``patient_page(trial)`` opens, checks and analyses a trial and renders the page;
``build_patient_page`` renders an analysis already at hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from nof1.analysis.blinding_assessment import TELL
from nof1.errors import BlindingError
from nof1.report.build import render_template

#: The refusal before unblinding (the page names both treatments, so it would unblind).
BLINDED = (
    "the patient's page is written after unblinding, because it names the treatment of "
    "each kit: run `nof1 unblind` first"
)
#: The three kinds of dot in the picture, in the order they are drawn.
DOT_COLOURS = {"clear": "#1b7f4b", "small": "#9fd3b4", "none": "#c9c9c9"}


@dataclass(frozen=True)
class Dots:
    """The 100 dots: chances in 100 that A helps by at least the smallest change that
    matters (``clear``), helps by less (``small``), or does not help (``none``)."""

    clear: int
    small: int
    none: int

    def svg(self) -> str:
        """The dots as inline SVG, 10 by 10, filled row by row from the top left."""
        kinds = ["clear"] * self.clear + ["small"] * self.small + ["none"] * self.none
        cells = []
        for i, kind in enumerate(kinds):
            x, y = 12 + 24 * (i % 10), 12 + 24 * (i // 10)
            cells.append(f'<circle cx="{x}" cy="{y}" r="9.5" fill="{DOT_COLOURS[kind]}"/>')
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 240" width="190" '
            'height="190" role="img" aria-label="100 dots">' + "".join(cells) + "</svg>"
        )


def chances(p: float) -> int:
    """A probability as whole chances in 100, never 0 or 100 unless it is exactly so (a
    rounded "100 in 100" would promise a certainty the data do not give)."""
    n = round(100 * p)
    if n >= 100 and p < 1:
        return 99
    if n <= 0 and p > 0:
        return 1
    return int(n)


def in_100(n: int) -> str:
    """'64 chances in 100', '1 chance in 100'."""
    return f"{n} {'chance' if n == 1 else 'chances'} in 100"


def dots(p_clear: float, p_any: float) -> Dots:
    """The dots of P(benefit >= the smallest change that matters) and P(benefit > 0)."""
    clear = chances(p_clear)
    helped = max(chances(p_any), clear)
    return Dots(clear, helped - clear, 100 - helped)


def _points(x: float) -> str:
    """A size on the scale in words: 'about 1.2 points', '1 point'."""
    x = abs(x)
    text = f"{x:.1f}".removesuffix(".0")
    unit = "point" if text == "1" else "points"
    return f"{text} {unit}"


def _days_word(n: float) -> str:
    text = f"{n:.1f}".removesuffix(".0")
    return f"{text} {'day' if text == '1' else 'days'}"


def _found(s: Any, a: str, b: str, what: str) -> list[str]:
    """What we found: the best guess of the difference, and how small or large it could be."""
    better, worse = ("lower", "higher") if s.lower_is_better else ("higher", "lower")
    sign = -1.0 if s.lower_is_better else 1.0
    gain = sign * s.mean
    low, high = sorted((sign * s.hdi_low, sign * s.hdi_high))
    if abs(gain) < 0.05:
        first = f"On days with {a}, your {what} was about the same as on days with {b}."
    else:
        word = better if gain > 0 else worse
        first = (
            f"On days with {a}, your {what} was about {_points(gain)} {word} than on days "
            f"with {b}. That is our best guess."
        )

    def end(x: float) -> str:
        if abs(x) < 0.05:
            return "no difference"
        return f"{_points(x)} {better if x > 0 else worse}"

    second = f"The true difference could be anywhere from {end(low)} to {end(high)}."
    return [first, second]


def _side_effects(side_effects: Sequence[Any], a: str, b: str) -> list[str]:
    if not side_effects:
        return ["Your diary did not ask about side effects, so this page cannot compare them."]
    out = []
    for se in side_effects:
        (ya, na), (yb, nb) = se.counts["A"], se.counts["B"]
        line = (
            f"You had {se.name} on {ya} of {na} days with {a}, and on {yb} of {nb} days with {b}."
        )
        if se.reveals:
            more = a if se.p_higher_on_a >= 0.5 else b
            line += f" So it very likely comes with {more}."
        elif ya or yb:
            line += " That may be chance: it did not clearly come with one of them."
        out.append(line)
    return out


def _kits(protocol: Any, blinding: Any, a: str, b: str) -> tuple[str, list[str]]:
    """Could the patient tell the kits apart: a short answer and what it means."""
    if not protocol.blinded:
        return (
            "You knew which one you took.",
            [
                "The kits were not hidden from you. When you know, hoping for relief can "
                "change how you feel. So part of the difference may come from that hope."
            ],
        )
    status = "not-assessed" if blinding is None else blinding.status
    guesses = None if blinding is None else blinding.guesses
    said = []
    if guesses is not None and guesses.definite:
        said.append(
            f"On the days you guessed which kit it was, you were right {guesses.right} "
            f"times out of {guesses.definite}."
        )
    if status == "could-tell":
        revealing = [se.name for se in blinding.side_effects if se.reveals]
        told = guesses is not None and guesses.definite and guesses.p_tell >= TELL
        if guesses is not None and guesses.definite and not told:
            said.append("That alone is about what guessing would give.")
        if revealing:
            link = "And" if told else "But"
            said.append(f"{link} the {' and '.join(revealing)} could give the kit away.")
        said.append(
            f"What this means: if you knew when you took {a}, hoping for relief can change "
            f"how you feel by itself. So part or all of the difference may come from that "
            f"hope, not from {a}."
        )
        return "Very likely yes: you could tell the kits apart.", said
    if status == "held":
        said.append(
            f"That is no better than a coin toss. Good news: the difference is not just "
            f"from knowing when you took {a}."
        )
        return "No: you could not tell the kits apart.", said
    if status == "cannot-tell":
        said.append(
            "That is too little to be sure. If you could tell, part of the difference may "
            "come from hoping for relief, not from the treatment."
        )
        return "We cannot say for sure.", said
    said.append("Your diary has no guesses, so we cannot check this.")
    return "We do not know.", said


def _criterion(result: Any, a: str, what: str, move: str) -> str:
    c = result.verdict.criterion
    rule = (
        f"keep {a} if there are more than {in_100(chances(c.threshold))} that it "
        f"{move} your {what} by at least {_points(c.mcid)}"
    )
    before = "The rule you set before the trial" if c.preregistered else "The rule used here"
    if c.met is None:
        return f"{before}: {rule}. The check of the results failed, so the rule could not be used."
    result_words = "met" if c.met else "not met"
    return f"{before}: {rule}. The result is {in_100(chances(c.p))}, so the rule is {result_words}."


def _extra_days(cost: dict[str, float]) -> float | None:
    """The extra days a week of a side effect on A, from ``NetBenefit.side_effects``."""
    days = cost.get("extra_days")
    return None if days is None else float(days)


#: The net benefit's decision in the patient's words.
DECISION_WORDS = {
    "worth continuing": "Worth continuing: the good very likely outweighs the bad for you.",
    "not worth it": "Not worth it: the good very likely does not outweigh the bad for you.",
    "cannot tell": "We cannot tell yet whether the good outweighs the bad for you.",
}


def _decision(result: Any, decision: Any, a: str, what: str, move: str) -> dict[str, Any]:
    pain_rule = _criterion(result, a, what, move)
    if decision is None:
        return {"headline": "", "lines": [pain_rule]}
    lines = []
    for name, days in decision.trade_off.days_per_point.items():
        lines.append(
            f"Before the trial you said: 1 point less {what} is worth {name} on up to "
            f"{_days_word(days)} more a week."
        )
    costs = []
    for name, cost in decision.side_effects.items():
        extra = _extra_days(cost)
        if extra is not None and extra >= 0.05:
            costs.append(f"{name} on about {_days_word(extra)} more a week")
    moved = "lowered" if move == "lowers" else "raised"
    weigh = (
        f"{a} {moved} your {what} by about {_points(decision.gain)}"
        if decision.gain >= 0.05
        else f"{a} did not make your {what} better"
    )
    if costs:
        weigh += f", with {' and '.join(costs)}"
    lines.append(
        f"{weigh}. Weighed the way you chose: {in_100(chances(decision.p_positive))} that "
        "the good outweighs the bad."
    )
    lines.append(f"On {what} alone: {pain_rule[0].lower()}{pain_rule[1:]}")
    return {"headline": DECISION_WORDS.get(decision.decision, decision.decision), "lines": lines}


def _next_steps(
    result: Any,
    decision: Any,
    side_effects: Sequence[Any],
    names: tuple[str, str, str],
    kits_status: str,
    blinded: bool,
) -> list[str]:
    a, b, what = names
    s = result.summary
    steps = []
    choice = decision.decision if decision is not None else None
    met = result.verdict.criterion.met
    if choice == "worth continuing" or (choice is None and met):
        steps.append(f"Whether to keep taking {a}, and for how long.")
    elif choice == "not worth it" or result.verdict.tier == "harm":
        steps.append(f"Whether to stop {a}, and what else you could try.")
    elif choice is None and result.verdict.tier == "no-practical-difference":
        steps.append(f"Whether to stop {a}: it made little or no difference to your {what}.")
    else:
        steps.append(
            f"Whether a longer trial, with more turns of {a} and {b}, would give a clearer answer."
        )
    for se in side_effects:
        if se.reveals and se.p_higher_on_a >= 0.5:
            steps.append(f"The {se.name}: would a lower dose or another form cause less of it?")
    if blinded and kits_status == "could-tell":
        steps.append("How much of the relief may come from knowing which kit you took.")
    if s.diagnostics.ok:
        steps.append(f"What {a} costs you, in money and effort, and whether it is worth it.")
    steps.append("Bring this page and your clinician's report to your next visit.")
    return steps


def build_patient_page(
    result: Any,
    *,
    protocol: Any,
    integrity: Any = None,
    decision: Any = None,
    side_effects: Sequence[Any] | None = None,
    generated: date | None = None,
) -> str:
    """Render the patient's page as one self-contained HTML document.

    Parameters
    ----------
    result : ``nof1.analysis.result.AnalysisResult`` of the primary outcome, after
        unblinding; its ``decision`` (a ``nof1.analysis.decision.NetBenefit``, when the
        trial registered a trade-off) is used unless ``decision`` is given.
    protocol : the trial's ``nof1.plan.protocol.Protocol`` (treatment names, dates).
    integrity : the trial's ``nof1.trial.integrity.TrialCheck``; its diary records made
        after unblinding are mentioned.
    decision : the ``NetBenefit`` to show; None to take ``result.decision``.
    side_effects : the yes/no side effects per treatment
        (``nof1.analysis.blinding_assessment.SideEffect``); None to take those of
        ``result.blinding`` (an open-label trial has no blinding assessment: pass them).
    generated : the date printed at the foot (default: today).

    Returns
    -------
    str : the HTML document (CSS inline, the picture as inline SVG, nothing fetched).

    Example
    -------
    >>> html = build_patient_page(analyze_trial(trial), protocol=trial.protocol)  # doctest: +SKIP
    """
    s = result.summary
    decision = decision if decision is not None else getattr(result, "decision", None)
    if side_effects is None:
        side_effects = () if result.blinding is None else result.blinding.side_effects
    outcome = protocol.outcome(s.outcome)
    a, b = protocol.treatments["A"].name, protocol.treatments["B"].name
    what = outcome.name
    move = "lowers" if s.lower_is_better else "raises"
    d = dots(s.p_mcid, s.p_benefit)
    end, stopped = protocol.end, ""
    monitoring = getattr(result, "sequential", None)
    if monitoring is not None and monitoring.stopped_early:
        # The later blocks were never run: the trial ended with the block of its STOP.
        end = monitoring.block_ends[monitoring.stopped.after_block - 1]
        stopped = (
            f" The trial stopped early, on {_day(end)}, because a check planned before it "
            f"began said to stop. It was planned to end on {_day(protocol.end)}."
        )
    weeks = round(((end - protocol.start).days + 1) / 7)
    kits_answer, kits_lines = _kits(protocol, result.blinding, a, b)
    status = "open-label" if not protocol.blinded else getattr(result.blinding, "status", "")
    deviations = 0 if integrity is None else len(integrity.deviations)
    context = {
        "title": f"Your trial: {a} or {b} for your {what}",
        "a": a,
        "b": b,
        "what": what,
        "compared": (
            f"For {weeks} weeks, from {_day(protocol.start)} to {_day(end)}, you "
            f"took {a} and {b} in turns"
            + (", without knowing which was which. " if protocol.blinded else ". ")
            + f"Each day you scored your {what} from {outcome.low:g} to {outcome.high:g}"
            + (" (lower is better)." if s.lower_is_better else " (higher is better).")
            + stopped
        ),
        "found": _found(s, a, b, what),
        "ok": bool(s.diagnostics.ok),
        "dots": d,
        "dots_svg": d.svg(),
        "colours": DOT_COLOURS,
        "sure": (
            f"Like {in_100(d.clear)} that {a} {move} your {what} by at least "
            f"{_points(s.mcid)}: the smallest change that matters to you."
        ),
        "mcid": _points(s.mcid),
        "move": move,
        "move_base": "lower" if s.lower_is_better else "raise",
        "side_effects": _side_effects(side_effects, a, b),
        "kits_answer": kits_answer,
        "kits_lines": kits_lines,
        "decision": _decision(result, decision, a, what, move),
        "next_steps": _next_steps(
            result, decision, side_effects, (a, b, what), status, protocol.blinded
        ),
        "deviations": deviations,
        "generated": _day(generated or date.today()),
    }
    return render_template("patient.html", context)


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def patient_page(trial: Any, **options: Any) -> str:
    """The patient's page of an unblinded (or open-label) trial, as HTML.

    The trial is read once and checked against its commitments before anything is
    analysed. A trial whose files do not match is refused rather than shown: a one-page
    decision aid cannot both present a result and say it is not to be trusted, and the
    clinician's report (``nof1 report``) is where the damage is shown in detail.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.
    **options : keyword arguments of ``nof1.analysis.analyze.analyze`` (engine, prior, mcid,
        seed, draws, announce); absent or None means as pre-registered. A rule that is
        not the registered one is said to be so on the page.

    Returns
    -------
    str : the HTML document (``nof1.report.write_report`` writes it).

    Raises
    ------
    ProtocolError : no trial in the folder.
    IntegrityError : the folder does not match its commitments (tampered or damaged).
    BlindingError : the trial is still blinded.
    DataError, ModelError : the primary outcome cannot be analysed as asked.

    Example
    -------
    >>> write_report("summary.html", patient_page("mytrial"))  # doctest: +SKIP
    """
    from nof1.analysis.analyze import analyze_trial
    from nof1.analysis.blinding_assessment import assess_trial_table
    from nof1.analysis.series import trial_table
    from nof1.trial.handle import as_trial
    from nof1.trial.integrity import verify_trial
    from nof1.trial.monitoring import read_monitoring

    trial = as_trial(trial)
    integrity = verify_trial(trial, action="write the patient's page of")
    if trial.protocol.blinded and integrity.unblinding is None:
        raise BlindingError(BLINDED)
    options = {k: v for k, v in options.items() if k not in ("outcome", "verify")}
    result = analyze_trial(trial, verify=False, **options)
    side_effects = None
    if result.blinding is None:
        # Open label: no blinding to assess, but the side effects per treatment still count.
        table = trial_table(trial)
        monitoring = read_monitoring(trial)
        if monitoring is not None:
            table = table[monitoring.analysed(table["block"])]
        side_effects = assess_trial_table(table, trial.protocol.outcomes).side_effects
    return build_patient_page(
        result, protocol=trial.protocol, integrity=integrity, side_effects=side_effects
    )


__all__: Sequence[str] = (
    "BLINDED",
    "Dots",
    "build_patient_page",
    "chances",
    "dots",
    "patient_page",
)

"""``nof1 record``, ``status``, ``history``, ``import``, ``export`` and ``unblind``.

Nothing here ever shows an arm before ``unblind``: status and export are built from the
diary and the public protocol only.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from nof1.cli import cli
from nof1.cli.common import (
    PathArg,
    date_format_option,
    force_option,
    passphrase_option,
    read_passphrase,
    trial_option,
)
from nof1.diary.entries import (
    RECALL_DAYS,
    Entry,
    adherence_text,
    check_date,
    check_recordable,
    parse_adherence,
    parse_date,
    parse_guess,
    parse_value,
    takes_a_dose,
)
from nof1.diary.records import Record
from nof1.diary.store import check_frozen
from nof1.diary.view import DiaryView
from nof1.errors import DiaryError
from nof1.plan.calendar import FIRST_DAYS, first_days_left_out
from nof1.plan.files import check_output
from nof1.plan.protocol import DayInfo, Outcome, Protocol
from nof1.trial.handle import open_trial
from nof1.trial.status import Status, trial_status
from nof1.trial.writes import (
    check_unblind,
    import_diary,
    record_day,
    trial_stopped,
    unblind_trial,
)


def _checked(check):
    """A click ``value_proc`` that re-asks with the library's message on a bad answer."""

    def proc(text: str):
        try:
            return check(text)
        except DiaryError as exc:
            raise click.UsageError(str(exc)) from None

    return proc


def _ask_outcome(o: Outcome, current: float | None, correcting: bool) -> str | float | None:
    """Ask one outcome. A correction shows the day's current value as the default (Enter
    keeps it); a yes/no question has no default otherwise (Enter asks again, never 'no')."""
    # Enter skips an optional score, and keeps a correction's unanswered question so; a
    # yes/no question is always answered in a first entry.
    skip = correcting or not (o.primary or o.kind == "binary")
    if current is not None:
        shown = ("yes" if current else "no") if o.kind == "binary" else f"{current:g}"
        hint, default = "", shown
    elif skip:
        hint, default = ", Enter to skip", ""
    else:
        hint, default = "", None
    scale = "yes/no" if o.kind == "binary" else f"{o.low:g}-{o.high:g}"
    answer = click.prompt(
        f"{o.question} ({scale}{hint})",
        default=default,
        show_default=current is not None,
        value_proc=_checked(lambda t: "" if t == "" and skip else parse_value(o, t)),
    )
    return None if answer == "" else answer


def _day_line(protocol: Protocol, info: DayInfo, today: date) -> str:
    """The day and kit an interactive entry is for, e.g. ``Mon 2026-01-12: period 1, Kit 1``."""
    when = f"{info.date:%a} {info.date}"
    if info.date < today:
        days = (today - info.date).days
        # Only a correction can be that late (``record`` refuses a first entry).
        ago = "1 day" if days == 1 else f"{days} days"
        when += f" ({ago} ago: a {'late' if days > RECALL_DAYS else 'recall'} entry)"
    if info.period is None:
        return f"Diary for {when}: run-in (baseline), no kit."
    p = info.period
    what = f"period {p.index} of {len(protocol.periods)}, {p.kit}, day {info.day - (p.start - protocol.start).days + 1} of {protocol.period_days}"
    if protocol.open_allocation:
        what += f" ({protocol.treatments[protocol.open_allocation[p.index - 1]].name})"
    first = f", {FIRST_DAYS}" if info.washout and first_days_left_out(protocol) else ""
    return f"Diary for {when}: {what}{first}."


def _ask(
    protocol: Protocol, info: DayInfo, current: Entry | None = None, unblinded: bool = False
) -> tuple[dict[str, float], str | None, float | None, str]:
    """Ask for each outcome, and on a kit day the guess and adherence, then a note.

    ``current``: the entry a correction replaces; each question shows its value as the
    default, and Enter keeps it. Run-in days have no kit: no guess and no adherence are
    asked (``check_kit_answers`` refuses them). An open-label trial has nothing to guess,
    and neither has an unblinded one (the patient knows: a correction keeps the guess made
    while blinded). Enter on adherence stores nothing (never a dose).
    """
    correcting = current is not None
    old = current or Entry(info.date)
    values = {}
    for o in protocol.outcomes:
        answer = _ask_outcome(o, old.values.get(o.name), correcting)
        if answer is not None:
            values[o.name] = answer
    guess, adherence = (old.guess if unblinded else None), None
    if info.period is not None and protocol.blinded and not unblinded:
        a, b = protocol.treatments["A"].name, protocol.treatments["B"].name
        skip = " (Enter to skip)" if correcting and old.guess is None else ""
        guess = click.prompt(
            f"What do you think {info.period.kit} holds: A ({a}), B ({b}) or unsure?{skip}",
            default=old.guess or ("" if correcting else "unsure"),
            show_default=not skip,
            value_proc=_checked(lambda t: parse_guess(t, protocol)),
        )
    if takes_a_dose(protocol, info.date):
        adherence = click.prompt(
            f"Did you take today's doses of {info.period.kit}? (yes, no, or a part: 0.5 or "
            f"taken/planned, 1/2{'' if old.adherence is not None else '; Enter to skip'})",
            default=adherence_text(old.adherence),
            show_default=old.adherence is not None,
            value_proc=_checked(parse_adherence),
        )
    note = click.prompt(
        "Note" + ("" if old.note else " (Enter to skip)"),
        default=old.note,
        show_default=bool(old.note),
    )
    return values, guess, adherence, note


def _current_entry(handle, day: date) -> Entry:
    """The entry a correction of ``day`` replaces (refused before asking when none)."""
    records = [] if handle.diary is None else handle.diary.history(day)
    current = [r.entry for r in records if r.current]
    if not current:
        raise DiaryError(f"{day} has no entry to correct; record it without --correct")
    return current[0]


def _describe(record: Record, protocol: Protocol) -> str:
    e = record.entry
    parts = [
        f"{name}={'yes' if value else 'no'}"
        if protocol.outcome(name).kind == "binary"
        else f"{name}={value:g}"
        for name, value in e.values.items()
    ]
    if e.guess is not None:
        parts.append(f"guess={e.guess}")
    if e.adherence is not None:
        parts.append(f"adherence={adherence_text(e.adherence)}")
    if e.note:
        parts.append(f"note={e.note!r}")
    return " ".join(parts)


def _after_unblinding_options(command):
    """``--after-unblinding --reason TEXT``: the only way into a diary closed by unblinding."""
    command = click.option(
        "--reason",
        default=None,
        help="With --after-unblinding: why the entry is made after unblinding (kept with it).",
    )(command)
    return click.option(
        "--after-unblinding",
        is_flag=True,
        help="Record after unblinding, as a deviation from the protocol (needs --reason); "
        "the report lists it and shows the result without it.",
    )(command)


def _deviation(after_unblinding: bool, reason: str | None) -> str | None:
    """The deviation reason to record, or None; refuses a flag without the other."""
    if after_unblinding and not (reason or "").strip():
        raise DiaryError("--after-unblinding needs --reason TEXT: why the entry is made now")
    if reason is not None and not after_unblinding:
        raise DiaryError("--reason applies only with --after-unblinding")
    return reason.strip() if after_unblinding else None


@cli.command()
@trial_option()
@click.option("--date", "day", default="today", show_default=True, help="Day (YYYY-MM-DD).")
@click.option("--pain", default=None, help="Score of the primary outcome (pain 0-10).")
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    metavar="NAME=X",
    help="Another outcome's value (repeatable); yes/no for yes/no outcomes.",
)
@click.option(
    "--guess",
    default=None,
    help="What you think today's kit holds: A (the active treatment), B (the control), "
    "unsure, or a treatment's name.",
)
@click.option(
    "--adherence",
    default=None,
    help="Doses taken as planned: yes, no, or a part: a share (0.5, 50%) or taken/planned (1/2).",
)
@click.option("--note", default=None, help="Free text.")
@click.option(
    "--correct",
    is_flag=True,
    help="Correct this day's entry: values you give replace the old ones, the rest stay (the "
    "old entry is kept in the history). Without values, each question shows the entry's "
    "value and Enter keeps it; a correction that changes nothing is not stored.",
)
@_after_unblinding_options
def record(
    trial, day, pain, outcomes, guess, adherence, note, correct, after_unblinding, reason
) -> None:
    """Record one day's blinded diary entry (asks for each value when none is given).

    A missed day can be recorded later with --date, up to 3 days back: it is kept as a
    recall entry (typed after the day). Older days stay missing. Future days are refused.
    """
    deviation = _deviation(after_unblinding, reason)
    today = date.today()
    d = parse_date(day, today)
    values: dict[str, str | float] = {}
    for item in outcomes:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DiaryError(f"--outcome {item!r} must look like NAME=VALUE")
        if name.strip() in values:  # which one was meant? neither is guessed
            raise DiaryError(
                f"--outcome {name.strip()} is given twice ({values[name.strip()]!r} and "
                f"{value!r}); give each outcome once"
            )
        values[name.strip()] = value
    handle = open_trial(trial)
    protocol = handle.protocol
    if all(v is None for v in (pain, guess, adherence, note)) and not values:
        check_date(protocol, d)  # a bad --date is refused before the questions
        check_recordable(d, today, recall_days=None if correct else RECALL_DAYS)
        # a closed diary is said before the questions, not after they were all answered
        unblinding = None if handle.diary is None else handle.diary.unblinding()
        check_frozen(unblinding, deviation)
        current = _current_entry(handle, d) if correct else None
        info = protocol.day_info(d)
        click.echo(_day_line(protocol, info, today))
        values, guess, adherence, note = _ask(protocol, info, current, unblinding is not None)
    elif pain is not None:
        primary = protocol.primary.name
        if primary in values:
            raise DiaryError(
                f"--pain {pain!r} and --outcome {primary}={values[primary]!r} both give "
                f"{primary}; give it once"
            )
        values[primary] = pain
    rec = record_day(
        handle, d, values, guess, adherence, note, correct=correct, today=today, deviation=deviation
    )
    what = "Correction recorded" if rec.supersedes is not None else "Recorded"
    click.echo(f"{what} for {rec.entry.date}: {_describe(rec, protocol)}")
    if trial_stopped(handle):  # the diary as it is now, this entry included
        click.echo(
            "The trial stopped at an interim look: no more kits to take. The helper can "
            "unblind it now (`nof1 status` says how)."
        )


@cli.command()
@trial_option()
@click.option("--date", "day", default="today", show_default=True, help="Day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(trial, day, as_json) -> None:
    """Today's period and kit, days recorded and missing (never the allocation).

    After unblinding (or a STOP at an interim look) it says the trial is over and what to
    run next. With --json the blinding is one field, "blinding": "blinded", "unblinded"
    (with "unblinded_on") or "open-label".
    """
    from nof1.trial.integrity import check_trial

    handle = open_trial(trial)
    if handle.diary is not None:
        handle.diary.refuse_damaged()
    s = trial_status(handle, parse_date(day))
    # What does not hold is said first, in red: a look or an unblinding nof1 will not act
    # on (not signed by the helper), a changed protocol, a rewritten diary.
    for problem in check_trial(handle).problems:
        click.secho(f"WARNING: {problem}", fg="red", err=True)
    if as_json:
        click.echo(json.dumps(s.to_dict(), indent=2))
        return
    click.echo("\n".join(_status_lines(s, trial, handle.protocol)))


def _status_lines(s: Status, trial: Path, protocol: Protocol) -> list[str]:
    """One screen: where the patient stands, progress, and what to do next."""
    t = f" --trial {trial}" if str(trial) != "." else ""
    if s.phase == "before":
        return [
            f"{s.today}: the trial has not started (first day {s.first_day}).",
            f"Next: from {s.first_day}, record every day: nof1 record{t}",
        ]
    if s.unblinded:
        early = " (early)" if s.unblinded_early else ""
        lines = [f"{s.today}: the trial was unblinded on {s.unblinded_on}{early}; it is over."]
        if s.stopped is not None:
            lines.append(
                f"It stopped at interim look {s.stopped.look} ({s.stopped.decision}); its last "
                f"day was {s.last_day}."
            )
    elif s.phase == "after" and s.stopped is not None:
        lines = [
            f"{s.today}: the trial stopped at interim look {s.stopped.look} "
            f"({s.stopped.decision}); its last day was {s.last_day}."
        ]
    elif s.phase == "after":
        lines = [f"{s.today}: the trial is over (last day {s.last_day})."]
    elif s.phase == "run-in":
        lines = [f"{s.today}: run-in (baseline), no kit yet."]
    else:
        where = f"{s.today}: period {s.period} (block {s.block}), day {s.day_of_period} of {s.period_days}."
        if s.treatment is None:
            lines = [f"{where} Take: {s.kit}."]
        elif s.doses_per_day:
            lines = [f"{where} On: {s.treatment} ({s.kit})."]
        else:
            lines = [f"{where} On: {s.treatment}: nothing to take."]
        if s.washout and first_days_left_out(protocol):
            lines.append(
                f"{FIRST_DAYS[0].upper()}{FIRST_DAYS[1:]}: keep to the plan and record as usual; "
                "their scores are left out of the analysis, while the kit's effect builds up "
                "(and the previous kit's fades)."
            )
    recall = f", {s.recall_entries} of them recall entries" if s.recall_entries else ""
    if s.late_entries:
        recall += (
            f", {s.late_entries} of them late entries (entered more than {RECALL_DAYS} days "
            "after the day: the report shows the result without them)"
        )
    lines.append(f"Recorded {s.days_recorded} of {s.days_so_far} days so far{recall}.")
    if s.recent.strip():  # not when the last weeks lie wholly before or after the trial
        late = ", l late" if "l" in s.recent else ""
        today = ", ? today" if "?" in s.recent else ""
        lines.append(
            f"Last {len(s.recent)} days: [{s.recent}] (# recorded, r recall{late}, . missing{today})"
        )
    if s.missing:
        shown = ", ".join(str(d) for d in s.missing[-7:])
        more = f" (and {len(s.missing) - 7} earlier)" if len(s.missing) > 7 else ""
        lines.append(f"Missing {len(s.missing)}: {shown}{more}")
    if s.recallable:
        lines.append(
            f"Missed days up to {RECALL_DAYS} days back can still be recorded from memory, "
            f"as recall entries: nof1 record{t} --date {s.recallable[-1]}. "
            "Older days stay missing (recall that late is not reliable)."
        )
    elif s.missing and s.unblinded:
        lines.append(
            "Missing days stay missing: after unblinding a day is recorded only as a deviation "
            f"(nof1 record{t} --after-unblinding --reason TEXT)."
        )
    elif s.missing:
        lines.append(f"Days missed more than {RECALL_DAYS} days ago stay missing; that is fine.")
    lines += _look_lines(s, t)
    if s.unblinded:
        lines.append(f"Next: nof1 analyze{t}, then nof1 report{t} --out report.html")
        return lines
    if s.stopped is not None:
        lines.append(
            f"Next: the trial can end now; the helper unblinds with the passphrase: "
            f"nof1 unblind{t}; then nof1 analyze{t} and nof1 report{t} --out report.html"
        )
        return lines
    if s.phase == "after":
        if not s.blinded:
            lines.append("Open label: no unblinding.")
            lines.append(f"Next: nof1 analyze{t}, then nof1 report{t} --out report.html")
        else:
            lines.append(
                f"Next: the helper unblinds with the passphrase: nof1 unblind{t}; "
                f"then nof1 analyze{t} and nof1 report{t} --out report.html"
            )
        return lines
    if s.recorded_today:
        lines.append("Today: recorded.")
    else:
        lines.append(f"Today: not yet recorded. Next: nof1 record{t}")
    if s.next_switch is not None:
        lines.append(f"Next switch: {s.next_switch}, to {s.next_kit}.")
    else:
        lines.append(f"Last period: it ends on {s.last_day}; then the helper unblinds.")
    return lines


def _look_lines(s: Status, t: str) -> list[str]:
    """A sequential trial's interim looks: the decisions so far (nothing else) and the next."""
    lines = [
        f"Interim look {look.look} (after block {look.after_block}, {look.at:%Y-%m-%d}): "
        f"{look.decision}"
        for look in s.looks
    ]
    if s.next_look is not None:
        who = f"the helper or clinician runs nof1 interim{t}"
        if s.next_look_on <= s.today:
            lines.append(f"Interim look after block {s.next_look}: due now ({who}).")
        else:
            lines.append(
                f"Next interim look: after block {s.next_look}, on or after {s.next_look_on} "
                f"({who})."
            )
    return lines


def _warn_if_altered(diary: DiaryView, what: str) -> None:
    """Say on stderr, first, that the diary's chain does not hold (it was altered or damaged
    outside nof1), naming every problem."""
    problems = diary.chain.problems
    if problems:
        click.echo(
            f"WARNING: this diary was altered outside nof1, so {what} may not be what was "
            f"recorded: {'; '.join(problems)}",
            err=True,
        )


@cli.command()
@trial_option()
@click.option("--date", "day", required=True, help="Day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(trial, day, as_json) -> None:
    """Every record of one day, corrections included (the last one counts)."""
    handle = open_trial(trial)
    diary = handle.existing_diary()
    diary.refuse_damaged()
    records = diary.history(day)
    _warn_if_altered(diary, "what follows")
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "date": r.entry.date.isoformat(),
                        "values": dict(r.entry.values),
                        "guess": r.entry.guess,
                        "adherence": r.entry.adherence,
                        "note": r.entry.note,
                        "recorded_at": r.recorded_at.isoformat(),
                        "supersedes": r.supersedes,
                        "current": r.current,
                        "recall": r.recall,
                        "late": r.late,
                        "after_unblinding": r.deviation,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    if not records:
        click.echo(f"No entry for {parse_date(day)}.")
    protocol = handle.protocol
    for r in records:
        mark = ("current" if r.current else "superseded") + (", recall" if r.recall else "")
        mark += ", late" if r.late else ""
        if r.deviation is not None:
            mark += f", after unblinding: {r.deviation}"
        click.echo(f"#{r.id} {r.recorded_at:%Y-%m-%d %H:%M} UTC [{mark}] {_describe(r, protocol)}")


@cli.command("import")
@trial_option()
@click.argument("csv_file", type=PathArg(dir_okay=False, path_type=Path))
@click.option("--correct", is_flag=True, help="Rows for days already recorded correct them.")
@date_format_option()
@_after_unblinding_options
def import_(trial, csv_file, correct, date_format, after_unblinding, reason) -> None:
    """Import diary rows from a CSV (date, outcomes, guess, adherence, note): all or none.

    Separated by commas, semicolons or tabs (the header line tells). Scores are plain
    decimals (6 or 6.5; in a file separated by semicolons or tabs also 6,5). Days after
    today are refused. A row for a day 1 to 3 days back is kept as a recall
    entry, one for an older day as a late entry: the report counts them and shows the
    result without them.
    """
    n = import_diary(
        trial,
        csv_file,
        correct=correct,
        deviation=_deviation(after_unblinding, reason),
        today=date.today(),
        date_format=date_format,
    )
    click.echo(f"Imported {n} entries from {csv_file}.")


@cli.command()
@trial_option()
@click.argument("csv_file", type=PathArg(dir_okay=False, path_type=Path))
@click.option(
    "--anonymise",
    is_flag=True,
    help="After unblinding: write the anonymised series for pooling (no notes, dates, kits).",
)
@force_option("CSV_FILE")
def export(trial, csv_file, anonymise, force) -> None:
    """Export every diary record, corrections marked, to a CSV (no allocation in it).

    The file is readable by you only (mode 0600): it holds dates, scores and notes. A note
    that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage
    return) is written with a leading ' so that it shows as text; nof1 import removes
    that ' again. CSV_FILE is never one of a trial's own files.
    """
    if anonymise:
        from nof1.research.anonymise import export_anonymised  # pandas: only the export needs it

        n = export_anonymised(trial, csv_file, force=force)
        click.echo(f"Exported {n} anonymised days to {csv_file} (readable by you only).")
        return
    check_output(csv_file, force=force, what="export")
    diary = open_trial(trial).existing_diary()
    diary.refuse_damaged()
    _warn_if_altered(diary, "the export")
    n = diary.export_csv(csv_file, force=force)
    click.echo(f"Exported {n} records to {csv_file} (readable by you only).")


@cli.command()
@trial_option()
@passphrase_option()
@click.option(
    "--early",
    is_flag=True,
    help="Unblind before the last period has ended (not needed after an interim look said STOP).",
)
@click.option("--reason", default="", help="Why unblinding early (kept in the diary).")
def unblind(trial, passphrase_file, early, reason) -> None:
    """Reveal and verify the allocation after the last period; it is recorded once."""
    handle = open_trial(trial)
    # Everything that can be refused is refused before the helper types the passphrase.
    today = date.today()
    # It reads the diary: a damaged one is refused before the passphrase too.
    check_unblind(handle, early, reason, today)
    passphrase = read_passphrase(passphrase_file)
    protocol, u = unblind_trial(handle, passphrase, early=early, reason=reason, today=today)
    when = "early, " if u.early else ""
    click.echo(f"Unblinded ({when}{u.unblinded_at:%Y-%m-%d %H:%M} UTC); allocation verified.")
    for p, arm in zip(protocol.periods, u.arms, strict=True):
        treatment = protocol.treatments[arm].name
        click.echo(
            f"Period {p.index} (block {p.block}, {p.start} to {p.end}) {p.kit}: {arm} = {treatment}"
        )
    if protocol.helper_key:
        click.echo(
            f"Unblinding code: {u.code}. The helper gives it to the clinician now: the report "
            "prints it again, and only comparing the two shows that the diary was not "
            "rewritten after unblinding."
        )

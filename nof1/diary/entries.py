"""Diary entries: parsing and checking one day's values against the protocol.

Everything here is pure: it reads a protocol and text, and touches no diary file, so a bad
entry or CSV is refused before ``diary.sqlite`` is opened.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from nof1.diary.cells import (
    date_pattern,
    duplicate_column,
    layout_hint,
    parse_number,
    read_date,
    sniff_delimiter,
)
from nof1.errors import DiaryError, ProtocolError
from nof1.plan.checks import check_day
from nof1.plan.files import MAX_CSV_BYTES, read_input
from nof1.plan.protocol import RECALL_DAYS, Outcome, Protocol

GUESSES = ("A", "B", "unsure")
#: Columns of a diary CSV besides the outcomes (import reads them, export writes them).
ENTRY_COLUMNS = ("guess", "adherence", "note")
#: Bookkeeping columns written by ``export_csv``; ``import_csv`` accepts and skips them.
AUDIT_COLUMNS = ("id", "recorded_at", "supersedes", "current")

#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_YES = {"yes", "y", "1", "true"}
_NO = {"no", "n", "0", "false"}


@dataclass(frozen=True)
class Entry:
    """One day's blinded diary entry, as the patient gives it.

    Parameters
    ----------
    date : the calendar day the entry is about (not when it was typed).
    values : outcome name -> value; scale outcomes within their range, binary ones 0/1.
        Outcomes not asked that day are simply absent.
    guess : the treatment the patient believes the day's kit holds: ``"A"`` (the active
        treatment), ``"B"`` (the control), ``"unsure"`` or None. A and B are the protocol's
        public treatment arms, never kit labels: which kit holds which is the allocation.
    adherence : the share of the day's planned doses taken, from 0 (none) to 1 (all, as
        planned); None if not said.
    note : free text.
    """

    date: date
    values: Mapping[str, float] = field(default_factory=dict)
    guess: str | None = None
    adherence: float | None = None
    note: str = ""


def parse_date(text: str | date, today: date | None = None, what: str = "date") -> date:
    """Parse ``YYYY-MM-DD`` (or ``today`` / ``yesterday``) into a date.

    Raises
    ------
    DiaryError : the text is not a valid date, or one outside 2000-2100 (no trial's day,
        and beyond what date arithmetic can reach from 0001-01-01 or 9999-12-31).

    Examples
    --------
    >>> parse_date("2026-01-07")
    datetime.date(2026, 1, 7)
    """
    if isinstance(text, date):
        return text
    word = str(text).strip().lower()
    today = today or date.today()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    try:
        day = date.fromisoformat(word)
    except ValueError:
        raise DiaryError(f"{what} {text!r} is not a valid date; use YYYY-MM-DD") from None
    return check_day(day, what, DiaryError)


def parse_value(
    outcome: Outcome, text: str | float | bool, *, decimal_comma: bool = False
) -> float:
    """Check one outcome value (a number or, for binary outcomes, yes/no) and return it.

    Raises
    ------
    DiaryError : not a number, not yes/no, or outside the outcome's range.

    Examples
    --------
    >>> from nof1.plan.protocol import Outcome
    >>> parse_value(Outcome("pain", "Pain", "Pain today?"), "6.5")
    6.5

    Text is read by ``nof1.diary.cells.parse_number`` ("1_0", "1e1" or "nan" is no score);
    ``decimal_comma`` as there.
    """
    if outcome.kind == "binary":
        if isinstance(text, bool):
            return float(text)
        word = str(text).strip().lower()
        if word in _YES | _NO:
            return float(word in _YES)
        if word in ("0.0", "1.0"):  # as stored, and as pandas writes it back
            return float(word)
        raise DiaryError(f"{outcome.name} must be yes or no, not {text!r}")
    if isinstance(text, numbers.Real):
        value = float(text)
    elif isinstance(text, str):
        try:
            value = parse_number(text, f"{outcome.name} score", decimal_comma)
        except ValueError as exc:
            raise DiaryError(str(exc)) from None
    else:
        raise DiaryError(f"{outcome.name} score {text!r} is not a number")
    if not math.isfinite(value) or not outcome.low <= value <= outcome.high:
        # 400 typed digits overflow to inf: name what was typed, not "inf"
        shown = f"{value:g}" if math.isfinite(value) or not isinstance(text, str) else None
        if shown is None:
            typed = text.strip()
            shown = typed if len(typed) <= 40 else f"{typed[:20]}...({len(typed)} digits)"
        raise DiaryError(
            f"{outcome.name} score {shown} is outside {outcome.low:g}-{outcome.high:g}"
        )
    return value


def parse_guess(text: str | None, protocol: Protocol | None = None) -> str | None:
    """Normalise a guess (``a``, ``B``, ``unsure``, ``?``) or raise ``DiaryError``.

    With the protocol, a treatment's name (``magnesium``, ``Placebo``: any case) is the
    guess of its arm. The guess is what the patient believes the kit holds, and the arm of
    each treatment is public (``protocol.toml``), so the mapping reveals nothing: the stored
    guess is the same whichever arm the kit really is.

    Examples
    --------
    >>> parse_guess(" b "), parse_guess("?")
    ('B', 'unsure')
    """
    if text is None or str(text).strip() == "":
        return None
    word = str(text).strip()
    if word.upper() in GUESSES[:2]:
        return word.upper()
    if word.lower() in ("unsure", "?", "don't know", "dont know"):
        return "unsure"
    names = {} if protocol is None else guess_names(protocol)
    if word.casefold() in names:
        return names[word.casefold()]
    raise DiaryError(f"guess {text!r} must be A, B or unsure{_name_hint(protocol)}")


def guess_names(protocol: Protocol) -> dict[str, str]:
    """Each treatment's name (case-folded) -> its arm, for a guess typed as a name.

    A name that is also a guess word (``a``, ``unsure``) or that both treatments share is
    left out: it could not say which arm is meant.
    """
    names = [(t.name.strip().casefold(), arm) for arm, t in protocol.treatments.items()]
    reserved = {"a", "b", "unsure", "?", "don't know", "dont know"}
    counts = {name: sum(n == name for n, _ in names) for name, _ in names}
    return {n: arm for n, arm in names if n and n not in reserved and counts[n] == 1}


def _name_hint(protocol: Protocol | None) -> str:
    if protocol is None or not guess_names(protocol):
        return ""
    names = ", ".join(repr(t.name) for t in protocol.treatments.values())
    return f" (or a treatment's name: {names})"


#: What ``parse_adherence`` accepts, for its messages.
ADHERENCE_FORMS = "yes, no, a share of the planned doses (0.5 or 50%) or doses taken/planned (1/2)"


def parse_adherence(text: str | float | None) -> float | None:
    """The share of the day's planned doses taken, from 0 to 1, or raise ``DiaryError``.

    Accepts yes/no (1/0, true/false), a share from 0 to 1 (``0.5``), a percentage
    (``50%``) and doses taken out of doses planned (``3/4``); True and False are 1 and 0.

    Examples
    --------
    >>> parse_adherence("yes"), parse_adherence("0.5"), parse_adherence("3/4"), parse_adherence("50%")
    (1.0, 0.5, 0.75, 0.5)
    """
    if text is None:
        return None
    if isinstance(text, bool):
        return float(text)
    word = str(text).strip().lower()
    if word == "":
        return None
    if word in _YES | _NO:
        return float(word in _YES)
    share = None
    try:
        if word.endswith("%"):
            share = float(word[:-1]) / 100
        elif "/" in word:
            taken, planned = (float(part) for part in word.split("/"))
            if math.isfinite(planned) and planned > 0 and 0 <= taken <= planned:
                share = taken / planned
            else:
                raise DiaryError(
                    f"adherence {text!r}: doses taken/planned needs 0 <= taken <= planned and "
                    "planned above 0"
                )
        else:
            share = float(word)
    except ValueError:
        share = None
    if share is None or not (math.isfinite(share) and 0 <= share <= 1):
        raise DiaryError(f"adherence {text!r} must be {ADHERENCE_FORMS}")
    return share


def adherence_text(share: float | None) -> str:
    """Adherence as the diary shows and exports it: ``yes``, ``no``, a share (``0.75``) or ""."""
    if share is None:
        return ""
    return {1.0: "yes", 0.0: "no"}.get(float(share), f"{share:.4g}")


def neutralise_text(text: str) -> str:
    """Free text made safe for a CSV cell that a spreadsheet may open.

    Text starting with ``= + - @``, a tab or a carriage return gets a leading ``'``, so a
    spreadsheet shows it instead of running it as a formula. Text that already starts with
    ``'`` before such a character gets one more, which keeps the change reversible
    (``restore_text``): an exported diary imports back unchanged.

    Example
    -------
    >>> neutralise_text("=HYPERLINK(...)"), neutralise_text("-2 after a walk")
    ("'=HYPERLINK(...)", "'-2 after a walk")
    >>> neutralise_text("fine")
    'fine'
    """
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def restore_text(text: str) -> str:
    """Undo ``neutralise_text``: the text as it was recorded."""
    return text[1:] if text.startswith("'") and neutralise_text(text[1:]) == text else text


def check_text(text: str, what: str) -> str:
    """Refuse text that cannot be stored: SQLite keeps UTF-8, and a command line may hand
    over undecodable bytes (as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # show the bytes as they were given (undecodable bytes arrive as surrogates)
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            shown = text.encode("utf-8", "backslashreplace").decode()
        raise DiaryError(f"{what} {shown!r} is not valid UTF-8 text") from None
    return text


def make_entry(
    protocol: Protocol,
    day: str | date,
    values: Mapping[str, str | float] | None = None,
    guess: str | None = None,
    adherence: str | float | None = None,
    note: str | None = None,
    *,
    correction: bool = False,
    decimal_comma: bool = False,
) -> Entry:
    """Build an ``Entry`` from raw (typed or text) values and check it against the protocol.

    ``correction``: the entry corrects an existing one, so it may restate only a guess,
    adherence or note (the superseded entry's values stay); it must change something.
    ``decimal_comma``: scores may be written with a decimal comma (``parse_number``).

    Raises
    ------
    DiaryError : a malformed or out-of-trial date, an unknown outcome, a bad value, guess
        or adherence (``parse_guess``, ``parse_adherence``), a guess or adherence on a day
        without a kit, or an entry with nothing in it.
    """
    d = parse_date(day)
    parsed = {}
    for name, raw in (values or {}).items():
        try:
            outcome = protocol.outcome(name)
        except ProtocolError as exc:
            raise DiaryError(str(exc)) from None
        parsed[name] = parse_value(outcome, raw, decimal_comma=decimal_comma)
    note = check_text((note or "").strip(), "note")
    entry = Entry(d, parsed, parse_guess(guess, protocol), parse_adherence(adherence), note)
    if correction and not (entry.values or entry.note) and entry.guess is entry.adherence is None:
        raise DiaryError(
            f"the correction for {d} changes nothing; give a value, --guess, --adherence or --note"
        )
    validate_entry(protocol, entry, require_value=not correction)
    return entry


def check_date(protocol: Protocol, day: date) -> None:
    """Raise ``DiaryError`` unless ``day`` is a trial day (run-in included)."""
    if day < protocol.start:
        raise DiaryError(f"date {day} is before the trial's first day {protocol.start}")
    if day > protocol.end:
        raise DiaryError(f"date {day} is after the trial's last day {protocol.end}")


def check_recordable(day: date, today: date, recall_days: int | None = RECALL_DAYS) -> None:
    """Refuse a day that cannot be recorded honestly today: a future day, or one missed
    more than ``recall_days`` ago (it stays missing; None: no limit, as for corrections).

    Raises
    ------
    DiaryError : ``day`` is after ``today`` or more than ``recall_days`` before it.

    Examples
    --------
    >>> check_recordable(date(2026, 1, 6), today=date(2026, 1, 7))
    """
    if day > today:
        raise DiaryError(f"date {day} is in the future (today is {today})")
    if recall_days is not None and (today - day).days > recall_days:
        raise DiaryError(
            f"date {day} is {(today - day).days} days ago: a missed day can be recorded up to "
            f"{recall_days} days back (as a recall entry); older days stay missing"
        )


def lateness(day: date, today: date, correction: bool = False) -> tuple[bool, bool]:
    """How late an entry made ``today`` for ``day`` is: ``(recall, late)``.

    A first entry made 1 to ``RECALL_DAYS`` days after its day is a recall entry (typed
    from memory); any entry, a correction too, made more than ``RECALL_DAYS`` days after
    its day is a late entry, which the report counts and shows the result without. Only an
    import or a correction can be late: ``record`` refuses a first entry that late.

    Examples
    --------
    >>> lateness(date(2026, 1, 5), today=date(2026, 1, 7))
    (True, False)
    >>> lateness(date(2026, 1, 5), today=date(2026, 2, 1))
    (False, True)
    """
    days = (today - day).days
    late = days > RECALL_DAYS
    return (days > 0 and not late and not correction), late


def validate_entry(protocol: Protocol, entry: Entry, require_value: bool = True) -> None:
    """Check an entry against the protocol (everything but the duplicate-day rule).

    ``require_value``: refuse an entry without any outcome value (a correction may have none).

    Raises
    ------
    DiaryError : date outside the trial (run-in counts as inside), unknown outcome, value
        out of range, bad guess or adherence, a guess or adherence on a day without a kit
        (``check_kit_answers``), or no outcome value at all.
    """
    check_date(protocol, entry.date)
    if require_value and not entry.values:
        names = ", ".join(o.name for o in protocol.outcomes)
        raise DiaryError(f"the entry for {entry.date} has no outcome value; give one of: {names}")
    for name, value in entry.values.items():
        try:
            outcome = protocol.outcome(name)
        except ProtocolError as exc:
            raise DiaryError(str(exc)) from None
        parse_value(outcome, value)
    if entry.guess is not None and entry.guess not in GUESSES:
        raise DiaryError(f"guess {entry.guess!r} must be A, B or unsure")
    a = entry.adherence
    if a is not None and not (isinstance(a, int | float) and math.isfinite(a) and 0 <= a <= 1):
        raise DiaryError(f"adherence {a!r} must be {ADHERENCE_FORMS}")
    check_kit_answers(protocol, entry)


def takes_a_dose(protocol: Protocol, day: date) -> bool:
    """Whether ``day`` has doses to take: a kit day of a blinded trial (placebo too), or a
    period of an open-label trial on a treatment with doses; never a run-in day."""
    period = protocol.day_info(day).period
    if period is None:
        return False
    if protocol.open_allocation:
        return protocol.treatments[protocol.open_allocation[period.index - 1]].doses_per_day > 0
    return True


def check_kit_answers(protocol: Protocol, entry: Entry) -> None:
    """Refuse a guess or an adherence on a day that has no kit to guess or dose to take.

    A run-in day has no kit (so neither); an open-label trial has nothing to guess; an
    open-label period on a treatment without doses (no magnesium) has no dose to take.
    Washout days are kit days: the kit is taken, only the score is left out.

    Raises
    ------
    DiaryError : naming the day and why it takes no guess or no adherence.
    """
    d = entry.date
    run_in = protocol.day_info(d).phase == "run-in"
    if entry.guess is not None and (run_in or not protocol.blinded):
        why = "a run-in day has no kit" if run_in else "the trial is open-label, with no kit"
        raise DiaryError(f"guess {entry.guess!r} for {d}: {why} to guess")
    if entry.adherence is not None and not takes_a_dose(protocol, d):
        if run_in:
            why = "a run-in day has no kit, so no dose"
        else:
            arm = protocol.open_allocation[protocol.day_info(d).period.index - 1]
            why = f"that day's treatment ({protocol.treatments[arm].name}) has no dose"
        raise DiaryError(f"adherence {adherence_text(entry.adherence)!r} for {d}: {why} to take")


def _read_csv(path: Path, protocol: Protocol) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """Rows of a diary CSV with their line numbers, header checked, superseded rows dropped;
    and its delimiter (``,``, ``;`` or tab: ``nof1.diary.cells.sniff_delimiter``)."""
    try:
        text = read_input(path, MAX_CSV_BYTES, "a CSV file", DiaryError).decode("utf-8-sig")
    except OSError as exc:
        raise DiaryError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DiaryError(f"{path} is not a readable CSV file: {exc}") from None
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = reader.fieldnames or []
        known = {o.name for o in protocol.outcomes} | set(ENTRY_COLUMNS) | set(AUDIT_COLUMNS)
        if "date" not in header:
            raise DiaryError(f"{path} line 1: no 'date' column in the header")
        for col in header:
            if col not in known | {"date"}:
                expected = ", ".join(["date", *(o.name for o in protocol.outcomes), *ENTRY_COLUMNS])
                raise DiaryError(f"{path} line 1: unknown column {col!r}; expected {expected}")
        twice = duplicate_column(header)
        if twice is not None:
            raise DiaryError(
                f"{path} line 1: column {twice!r} is in the header twice; which one is meant "
                "cannot be known (give each column once)"
            )
        rows = []
        for row in reader:
            if None in row:
                raise DiaryError(f"{path} line {reader.line_num}: more cells than header columns")
            if row.get("current", "1").strip() == "0":
                continue
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
        return rows, delimiter
    except csv.Error as exc:
        raise DiaryError(f"{path} is not a readable CSV file: {exc}") from None


def read_entries_csv(
    path: str | Path,
    protocol: Protocol,
    today: date | None = None,
    date_format: str | None = None,
) -> list[tuple[int, Entry]]:
    """Read and check every row of a diary CSV against the protocol, touching no diary.

    Separated by commas, semicolons or tabs (the header line tells); scores as
    ``nof1.diary.cells`` reads them (with semicolons or tabs, a decimal comma too).

    Parameters
    ----------
    path : the CSV file.
    protocol : the trial's protocol.
    today : when given, a row for a later day is refused (an import obeys the rule of
        ``record``: nothing is entered ahead of its day); the command line always gives it.
    date_format : the layout of the dates, e.g. ``"DD.MM.YYYY"``
        (``nof1.diary.cells.date_pattern``); None: ``YYYY-MM-DD``.

    Returns
    -------
    list of (line number, Entry), in file order.

    Raises
    ------
    DiaryError : unreadable file, bad header (a column twice), a bad row (named by its
        line), a day after ``today``, a day twice in the file, or no rows at all.
    """
    path = Path(path)
    try:
        pattern = date_pattern(date_format) if date_format is not None else None
    except ValueError as exc:
        raise DiaryError(str(exc)) from None
    entries = []
    seen: dict[date, int] = {}
    rows, delimiter = _read_csv(path, protocol)
    for line, row in rows:
        try:
            entry = make_entry(
                protocol,
                _row_date(row.get("date", ""), pattern),
                {o.name: row[o.name] for o in protocol.outcomes if row.get(o.name, "")},
                row.get("guess"),
                row.get("adherence"),
                restore_text(row.get("note") or ""),
                decimal_comma=delimiter != ",",
            )
            if today is not None:
                check_recordable(entry.date, today, recall_days=None)
        except DiaryError as exc:
            raise DiaryError(f"{path} line {line}: {exc}") from None
        if entry.date in seen:
            raise DiaryError(f"{path} line {line}: {entry.date} is also on line {seen[entry.date]}")
        seen[entry.date] = line
        entries.append((line, entry))
    if not entries:
        raise DiaryError(f"{path} has no diary rows")
    return entries


def _row_date(text: str, pattern) -> str | date:
    """A CSV row's date: read with ``--date-format`` when given; else left to
    ``parse_date``, except that a local layout (05.01.2026) is named with its fix."""
    try:
        if pattern is not None:
            return read_date(text, pattern)
        hint = layout_hint(text.strip())
        if hint:
            return read_date(text, None)  # raises, with the hint
    except ValueError as exc:
        raise DiaryError(str(exc)) from None
    return text

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
    guess : the patient's guess of the arm, ``"A"``, ``"B"``, ``"unsure"`` or None.
    adherence : True if the day's doses were taken, False if not, None if not said.
    note : free text.
    """

    date: date
    values: Mapping[str, float] = field(default_factory=dict)
    guess: str | None = None
    adherence: bool | None = None
    note: str = ""


def parse_date(text: str | date, today: date | None = None, what: str = "date") -> date:
    """Parse ``YYYY-MM-DD`` (or ``today`` / ``yesterday``) into a date.

    Raises
    ------
    DiaryError : the text is not a valid date.

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
        return date.fromisoformat(word)
    except ValueError:
        raise DiaryError(f"{what} {text!r} is not a valid date; use YYYY-MM-DD") from None


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
        raise DiaryError(
            f"{outcome.name} score {value:g} is outside {outcome.low:g}-{outcome.high:g}"
        )
    return value


def parse_guess(text: str | None) -> str | None:
    """Normalise a guess (``a``, ``B``, ``unsure``, ``?``) or raise ``DiaryError``."""
    if text is None or str(text).strip() == "":
        return None
    word = str(text).strip()
    if word.upper() in ("A", "B"):
        return word.upper()
    if word.lower() in ("unsure", "?", "don't know", "dont know"):
        return "unsure"
    raise DiaryError(f"guess {text!r} must be A, B or unsure")


def parse_adherence(text: str | bool | None) -> bool | None:
    """Normalise adherence (yes/no, 1/0, true/false) or raise ``DiaryError``."""
    if text is None or isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word == "":
        return None
    if word in _YES | _NO:
        return word in _YES
    raise DiaryError(f"adherence {text!r} must be yes or no")


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


def _check_text(text: str, what: str) -> str:
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
    adherence: str | bool | None = None,
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
        or adherence, or an entry with nothing in it.
    """
    d = parse_date(day)
    parsed = {}
    for name, raw in (values or {}).items():
        try:
            outcome = protocol.outcome(name)
        except ProtocolError as exc:
            raise DiaryError(str(exc)) from None
        parsed[name] = parse_value(outcome, raw, decimal_comma=decimal_comma)
    note = _check_text((note or "").strip(), "note")
    entry = Entry(d, parsed, parse_guess(guess), parse_adherence(adherence), note)
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
        out of range, bad guess or adherence, or no outcome value at all.
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
    if entry.adherence not in (None, True, False):
        raise DiaryError(f"adherence {entry.adherence!r} must be yes or no")


def _read_csv(path: Path, protocol: Protocol) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """Rows of a diary CSV with their line numbers, header checked, superseded rows dropped;
    and its delimiter (``,``, ``;`` or tab: ``nof1.diary.cells.sniff_delimiter``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
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

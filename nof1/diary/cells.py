"""What a typed value or a CSV cell may hold: plain decimal scores, dates, the delimiter.

The rules of one place, for ``nof1 record``, ``nof1 import`` and ``nof1 analyze --csv`` /
``nof1 report --csv`` alike:

- **A score** is digits 0-9 with at most one decimal point (``6``, ``6.5``), a leading minus
  for a scale below 0, spaces around it ignored. Python's ``float()`` also reads ``1_0`` (as
  10), ``1e1``, ``+5``, ``infinity``, ``nan`` and digits of other scripts (``١٠``); none is a
  score a person wrote, so none is taken. A decimal comma (``6,5``) is taken where the file
  is separated by semicolons or tabs, as spreadsheets in much of Europe write it; elsewhere
  it is refused with the fix.
- **The delimiter** of a CSV is the one of ``,``, ``;`` and tab that its header line holds
  most often (a comma on a tie).
- **Dates** are ``YYYY-MM-DD``, or the layout given by ``--date-format`` (``DD.MM.YYYY``,
  ``MM/DD/YYYY``, ...: ``DD``, ``MM`` and ``YYYY`` once each, between ``.``, ``/``, ``-`` or
  spaces). A date in another layout is refused with the layout it seems to have.
- **A header** names each column once: with ``pain`` twice, which one is meant cannot be
  known.

Each function raises ``ValueError`` with a finished message; the caller adds where (the
file, the line) and raises its own error class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

#: The score rule in words, for messages.
SCORE_RULE = "digits 0-9 with at most one decimal point, e.g. 6.5"
_PLAIN = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_PLAIN_COMMA = re.compile(r"-?(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)")
DELIMITERS = (",", ";", "\t")


def parse_number(text: str, what: str, decimal_comma: bool = False) -> float:
    """Read a score written as plain decimal digits (``SCORE_RULE``).

    ``decimal_comma``: also take a decimal comma (``6,5``); otherwise it is refused with a
    hint. Raises ``ValueError`` whose message starts with ``what`` and the text.

    Examples
    --------
    >>> parse_number(" 6.5 ", "pain score"), parse_number("6,5", "pain", decimal_comma=True)
    (6.5, 6.5)
    """
    word = text.strip()
    # + 0.0: "-0" is the score 0, stored and shown as 0 (not -0)
    if _PLAIN.fullmatch(word):
        return float(word) + 0.0
    if _PLAIN_COMMA.fullmatch(word):
        if decimal_comma:
            return float(word.replace(",", ".")) + 0.0
        raise ValueError(
            f"{what} {text!r} has a decimal comma; write {word.replace(',', '.')} (a decimal point)"
        )
    try:
        float(word)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    raise ValueError(f"{what} {text!r} is not a plain decimal number; write {SCORE_RULE}")


def is_whole_number(text: str) -> bool:
    """Whether ``text`` is a whole number in plain digits (``12``, ``-3``, ``12.0``)."""
    return re.fullmatch(r"-?[0-9]+(?:\.0*)?", text.strip()) is not None


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of a CSV from its header line: the most frequent of ``, ; tab``.

    Examples
    --------
    >>> sniff_delimiter("date;pain;note"), sniff_delimiter("date,pain"), sniff_delimiter("pain")
    (';', ',', ',')
    """
    counts = [header_line.count(d) for d in DELIMITERS]
    return DELIMITERS[counts.index(max(counts))] if max(counts) > 0 else ","


def duplicate_column(header: Sequence[str]) -> str | None:
    """The first column name that occurs twice in ``header``, or None."""
    seen: set[str] = set()
    for name in header:
        if name in seen:
            return name
        seen.add(name)
    return None


_TOKENS = {
    "YYYY": r"(?P<year>[0-9]{4})",
    "MM": r"(?P<month>[0-9]{1,2})",
    "DD": r"(?P<day>[0-9]{1,2})",
}


def date_pattern(spec: str) -> re.Pattern[str]:
    """The pattern of a ``--date-format`` such as ``DD.MM.YYYY`` (case does not matter).

    Raises ``ValueError`` unless ``DD``, ``MM`` and ``YYYY`` each occur once, separated by
    ``.``, ``/``, ``-`` or spaces.

    Examples
    --------
    >>> date_pattern("DD.MM.YYYY").fullmatch("05.01.2026")["month"]
    '01'
    """
    parts = re.split(r"(YYYY|MM|DD)", spec.strip().upper())
    tokens = parts[1::2]
    separators = parts[0::2]
    if sorted(tokens) != sorted(_TOKENS) or any(
        not re.fullmatch(r"[./ -]*", s) for s in separators
    ):
        raise ValueError(
            f"--date-format {spec!r} must hold DD, MM and YYYY once each, between . / - or "
            "spaces (e.g. DD.MM.YYYY)"
        )
    return re.compile("".join(_TOKENS.get(p, re.escape(p)) for p in parts))


def read_date(text: str, pattern: re.Pattern[str] | None, what: str = "date") -> date:
    """A date in the layout ``pattern`` (``date_pattern``), or ``YYYY-MM-DD`` when None.

    Raises ``ValueError`` naming the text, and for a date in another layout the
    ``--date-format`` that would read it.

    Examples
    --------
    >>> read_date("05.01.2026", date_pattern("DD.MM.YYYY"))
    datetime.date(2026, 1, 5)
    """
    word = text.strip()
    if pattern is None:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", word):
            try:
                return date.fromisoformat(word)
            except ValueError:
                raise ValueError(f"{what} {text!r} is not a day of the calendar") from None
        raise ValueError(f"{what} {text!r} is not a date (YYYY-MM-DD){layout_hint(word)}")
    m = pattern.fullmatch(word)
    if m is None:
        raise ValueError(f"{what} {text!r} does not have the layout of --date-format")
    try:
        return date(int(m["year"]), int(m["month"]), int(m["day"]))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a day of the calendar") from None


def layout_hint(word: str) -> str:
    """``; it looks like DD.MM.YYYY: give --date-format DD.MM.YYYY`` for a local layout."""
    m = re.fullmatch(r"([0-9]{1,2})([./ -])([0-9]{1,2})\2([0-9]{4})", word)
    if m is not None:
        first, sep, second = int(m[1]), m[2], int(m[3])
        layouts = [f"DD{sep}MM{sep}YYYY", f"MM{sep}DD{sep}YYYY"]
        if first > 12:
            layouts = layouts[:1]
        elif second > 12:
            layouts = layouts[1:]
    else:
        m = re.fullmatch(r"[0-9]{4}([./ ])[0-9]{1,2}\1[0-9]{1,2}", word)
        if m is None:
            return ""
        layouts = [f"YYYY{m[1]}MM{m[1]}DD"]
    give = " or ".join(f"--date-format {layout}" for layout in layouts)
    return f"; it looks like {' or '.join(layouts)}: give {give}"

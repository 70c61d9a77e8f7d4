"""The checks every value of a plan passes, in a template and in ``protocol.toml`` alike.

TOML gives typed values, but not the types a plan needs: ``true`` is not the whole number
1, ``2026-01-05T00:00:00`` is a date and time rather than a day, ``nan`` and ``inf`` are
floats, and any key may hold a string, a list or a table where a number belongs. A file
edited by hand may hold any of them. ``Fields`` reads the values of one document, each
checked for its type and range, and its errors name the document, the key as a dotted path
(``schedule.periods[3].washout_days``, counted from 1) and the value found, so that a bad
edit is one ``Error:`` line, never a crash further on.

The limits of a design (``check_design``, ``check_dates``) live here too: making a protocol
from a template (``nof1.plan.templates``) and reading one back (``nof1.plan.protocol``) hold
it to the same bounds, so every later stage can trust a protocol's numbers and dates. This
module imports nothing from nof1 but its errors.
"""

from __future__ import annotations

import math
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from nof1.errors import Nof1Error, ProtocolError

#: Randomization schemes (``nof1.analysis.randomization`` draws and enumerates them).
SCHEMES = ("block", "alternating", "random-pairs")
#: Limits of a design. Beyond them a "trial" is a typo, not a plan, and the calendar, the
#: randomization test and the analyses would be asked for unbounded work: 64 blocks are
#: 128 periods, a 365-day period is a year, and every date lies in 2000-2100.
MAX_BLOCKS = 64
MAX_PERIOD_DAYS = 365
MAX_RUN_IN_DAYS = 365
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
#: The largest magnitude of an outcome's scale bound: far beyond any rating scale or count.
MAX_SCALE = 1_000_000
#: The most doses a day a treatment may prescribe.
MAX_DOSES = 100
#: The most outcomes a protocol records every day.
MAX_OUTCOMES = 20
#: How deeply tables and arrays may nest in a template or protocol.toml (a plan needs 4).
MAX_DEPTH = 8


def load_toml(text: str, what: str) -> dict[str, Any]:
    """A TOML document parsed, refused when it is not TOML or nests absurdly deep.

    Parameters
    ----------
    text : the document.
    what : how messages name it (``template x.toml``, a protocol.toml's path).

    Raises
    ------
    ProtocolError : not TOML, or nested deeper than ``MAX_DEPTH`` (Python's TOML reader
        itself gives up on a few hundred levels with a RecursionError).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"{what} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ProtocolError(
            f"{what} nests arrays or tables too deeply to be a plan (at most {MAX_DEPTH} levels)"
        ) from None
    if _depth(data) > MAX_DEPTH:
        raise ProtocolError(
            f"{what} nests arrays or tables too deeply to be a plan (at most {MAX_DEPTH} levels)"
        )
    return data


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def shown(value: Any) -> str:
    """A value as a message shows it: its TOML type where the text alone would mislead.

    Examples
    --------
    >>> shown("3"), shown(True), shown(date(2026, 1, 5)), shown({"a": 1})
    ("'3'", 'true', '2026-01-05 (a date)', 'a table')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return f"{value.isoformat()} (a date and time)"
    if isinstance(value, date):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, time):
        return f"{value.isoformat()} (a time of day)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if len(repr(value)) > 40 else f"the array {value!r}"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Fields:
    """Read the values of one document, each checked; errors name the document and key.

    Parameters
    ----------
    document : how messages name the document: ``/trial/protocol.toml``,
        ``template my.toml``.

    Example
    -------
    >>> Fields("protocol.toml").whole("3", "schedule.periods[3].washout_days", 0, 364, "days")
    Traceback (most recent call last):
    nof1.errors.ProtocolError: protocol.toml: schedule.periods[3].washout_days must be a whole number of days, not '3'
    """

    document: str

    def error(self, key: str, problem: str) -> ProtocolError:
        """``document: key problem`` as a ProtocolError."""
        return ProtocolError(f"{self.document}: {key} {problem}")

    def required(self, section: dict[str, Any], name: str, key: str) -> Any:
        """``section[name]``; an error naming ``key`` when it is missing."""
        if name not in section:
            raise self.error(key, "is missing")
        return section[name]

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table of keys, not {shown(value)}")
        return value

    def tables(self, value: Any, key: str, most: int) -> list[dict[str, Any]]:
        """An array of tables (``[[key]]``), at most ``most`` of them."""
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables ([[{key}]]), not {shown(value)}")
        if len(value) > most:
            raise self.error(key, f"has {len(value)} entries; at most {most} make sense")
        for i, item in enumerate(value):
            self.table(item, f"{key}[{i + 1}]")
        return value

    def text(self, value: Any, key: str, *, required: bool = False, line: bool = False) -> str:
        """Text; ``required``: not empty; ``line``: one line. Control characters (which
        could rewrite what a terminal shows) are refused, newlines and tabs excepted."""
        if not isinstance(value, str):
            raise self.error(key, f"must be text, not {shown(value)}")
        if required and not value.strip():
            raise self.error(key, "must not be empty")
        for ch in value:
            if ch in "\n\t" and not line:
                continue
            if unicodedata.category(ch) == "Cc":
                raise self.error(key, f"must not hold the control character {ch!r}")
        return value

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        """An array of text (one line or paragraph each)."""
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of text, not {shown(value)}")
        return tuple(self.text(v, f"{key}[{i + 1}]") for i, v in enumerate(value))

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            names = ", ".join(repr(c) for c in choices)
            raise self.error(key, f"must be one of {names}, not {shown(value)}")
        return value

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {shown(value)}")
        return value

    def whole(self, value: Any, key: str, low: int, high: int, unit: str = "") -> int:
        """A whole number (not true or false, not 3.0) from ``low`` to ``high``."""
        of = f" of {unit}" if unit else ""
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number{of}, not {shown(value)}")
        if not low <= value <= high:
            raise self.error(key, f"must be {low}-{high}{' ' + unit if unit else ''}, not {value}")
        return value

    def number(
        self, value: Any, key: str, low: float, high: float, *, above: bool = False, why: str = ""
    ) -> float:
        """A finite number from ``low`` (exclusive with ``above``) to ``high``; ``why`` is
        added to the message of a number out of range."""
        if not _is_number(value) or not math.isfinite(value):
            raise self.error(key, f"must be a finite number, not {shown(value)}")
        if not ((low < value) if above else (low <= value)) or value > high:
            bound = f"above {low:g}" if above else f"at least {low:g}"
            why = f" ({why})" if why else ""
            raise self.error(key, f"must be {bound} and at most {high:g}{why}, not {value:g}")
        return float(value)

    def day(self, value: Any, key: str) -> date:
        """A date (``2026-01-05``, not a date and time) from ``FIRST_DAY`` to ``LAST_DAY``."""
        if type(value) is not date:
            raise self.error(key, f"must be a date (YYYY-MM-DD), not {shown(value)}")
        if not FIRST_DAY <= value <= LAST_DAY:
            raise self.error(key, f"must lie between {FIRST_DAY} and {LAST_DAY}, not {value}")
        return value


def check_day(d: date, what: str = "date", error: type[Nof1Error] = ProtocolError) -> date:
    """``d`` if it lies in ``FIRST_DAY``..``LAST_DAY``, the days any trial can have.

    Raises
    ------
    error : a day outside them (``0001-01-01``, ``9999-12-31``), which no trial holds and
        whose neighbours date arithmetic cannot always reach.
    """
    if not FIRST_DAY <= d <= LAST_DAY:
        raise error(f"{what} {d} must be between {FIRST_DAY} and {LAST_DAY}")
    return d


def check_design(
    blocks: int, period_days: int, washout_days: int, run_in_days: int, scheme: str
) -> None:
    """Refuse designs that cannot work or are beyond any real trial, naming the value.

    At least 2 blocks (one A/B pair cannot separate the effect from chance) and at most
    ``MAX_BLOCKS``, periods of 2 to ``MAX_PERIOD_DAYS`` days, washout shorter than the
    period, a run-in of 0 to ``MAX_RUN_IN_DAYS`` days, one of the ``SCHEMES``.
    """
    if blocks < 2:
        raise ProtocolError(
            f"blocks must be 2 or more, got {blocks}: one A/B pair cannot separate an effect from chance"
        )
    if blocks > MAX_BLOCKS:
        raise ProtocolError(f"blocks must be at most {MAX_BLOCKS}, got {blocks}")
    if period_days < 2:
        raise ProtocolError(f"period-days must be 2 or more, got {period_days}")
    if period_days > MAX_PERIOD_DAYS:
        raise ProtocolError(
            f"period-days must be at most {MAX_PERIOD_DAYS} (a year), got {period_days}"
        )
    if washout_days < 0:
        raise ProtocolError(f"washout-days must be 0 or more, got {washout_days}")
    if washout_days >= period_days:
        raise ProtocolError(
            f"washout-days ({washout_days}) must be shorter than period-days ({period_days}): "
            "no day of a period would be analysed"
        )
    if run_in_days < 0:
        raise ProtocolError(f"run-in-days must be 0 or more, got {run_in_days}")
    if run_in_days > MAX_RUN_IN_DAYS:
        raise ProtocolError(
            f"run-in-days must be at most {MAX_RUN_IN_DAYS} (a year), got {run_in_days}"
        )
    if scheme not in SCHEMES:
        raise ProtocolError(f"scheme {scheme!r} must be one of {', '.join(SCHEMES)}")


def check_dates(start: date, n_days: int) -> None:
    """Refuse a trial that would start before ``FIRST_DAY`` or end after ``LAST_DAY``."""
    check_day(start, "start date")
    end = start.toordinal() + n_days - 1
    if end > LAST_DAY.toordinal():
        raise ProtocolError(
            f"a trial of {n_days} days from {start} would end after {LAST_DAY}; start earlier "
            "or plan fewer or shorter periods"
        )

"""Any CSV as a ``Series``: the way in for data that did not come from a nof1 trial folder.

One row per day, separated by commas, semicolons or tabs (the header line tells). Required:
an outcome column and a treatment column with exactly two values. Optional: a time column
(integer day numbers, or dates: ISO or the layout given as ``date_format``; row order
otherwise) and a block column. Scores are plain decimals (``nof1.diary.cells``: "1_0" or
"1e1" is refused; with semicolons or tabs a decimal comma is taken). Periods are runs of the same treatment in time order (within a block
when blocks are given); without a block column, consecutive pairs of periods form the
blocks. Missing outcome values (empty, ``NA``, ``NaN``) stay as gap days.

Read with the standard ``csv`` module rather than pandas: ``nof1 analyze --csv`` should
start fast, and the checks below name rows and values in their own words anyway. A pandas
DataFrame (``series_from_frame``) goes through the same reader and the same checks.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from nof1.analysis.series import Series
from nof1.diary.cells import (
    date_pattern,
    is_whole_number,
    layout_hint,
    parse_number,
    read_date,
    sniff_delimiter,
)
from nof1.errors import DataError
from nof1.plan.files import MAX_CSV_BYTES, read_input

if TYPE_CHECKING:
    import pandas as pd

MISSING = {"", "na", "nan", "null", "none", "."}
#: Treatment labels read as the control arm when --active is not given.
CONTROL_WORDS = ("placebo", "control", "usual", "baseline", "none", "no treatment", "sham")


#: Values of a column listed in a message at most; the rest are counted.
SHOW_VALUES = 5


def _read_rows(source: str | Path | IO[str]) -> tuple[list[list[str]], str, str, str]:
    """The rows of a CSV path or open text file, how to name it in messages, its short name
    and its delimiter (``nof1.diary.cells.sniff_delimiter``)."""
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        what = f"CSV data {name!r}" if isinstance(name, str) else "the CSV data"
        short = "the data"
        try:
            text = source.read(MAX_CSV_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {what}: {exc}") from None
        if len(text) > MAX_CSV_BYTES:
            raise DataError(
                f"{what} is too large to be a CSV file (over {MAX_CSV_BYTES} characters)"
            )
    else:
        path = Path(source)
        what = f"CSV file {str(path)!r}"
        short = path.name
        try:
            text = read_input(path, MAX_CSV_BYTES, "a CSV file", DataError).decode("utf-8-sig")
        except FileNotFoundError:
            raise DataError(f"{what} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {what}: {exc}") from None
    delimiter = sniff_delimiter(text.lstrip("\ufeff").split("\n", 1)[0])
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"cannot read {what}: {exc}") from None
    return rows, what, short, delimiter


def series_from_csv(
    source: str | Path | IO[str],
    outcome: str,
    treatment: str,
    active: str | None = None,
    time: str | None = None,
    block: str | None = None,
    lower_is_better: bool = True,
    low: float | None = None,
    high: float | None = None,
    date_format: str | None = None,
) -> Series:
    """Read one outcome of one patient from a CSV file.

    Parameters
    ----------
    source : the CSV (header row; separated by commas, semicolons or tabs, as its header
        line shows): a path, or an open text file such as ``io.StringIO`` (read from its
        current position).
    outcome : column with the daily scores.
    treatment : column with the arm of each day (exactly two distinct values).
    active : the value of ``treatment`` that is the active arm (A). When None: the value
        that does not name a control (placebo, control, usual, baseline, none, sham) if
        exactly one does; ``A`` of ``A``/``B``; the larger of two numbers (the nof1ins
        convention: 1 baseline, 2 treatment); otherwise an error asks for it.
    time : column of day numbers (integers) or ISO dates; row order when None. Gaps in
        time become gaps in the series.
    block : column of block labels; when None, pairs of consecutive periods form blocks.
    lower_is_better : True for pain-like outcomes.
    low, high : bounds of the scale (e.g. 0 and 10); None when unknown (the priors then
        scale to the observed SD).
    date_format : the layout of dates in ``time``, e.g. ``"DD.MM.YYYY"``
        (``nof1.diary.cells.date_pattern``); None: day numbers or ``YYYY-MM-DD``.

    Returns
    -------
    Series : scheme ``"block"``; day from ``time`` (1 = first day) or the row number.

    Raises
    ------
    DataError : missing file, missing column (the message lists the columns), a column
        twice in the header, an outcome that is not a plain decimal number (row and value
        named), a treatment without exactly two values,
        an ``active`` value that does not occur, duplicated or unreadable time values.

    Example
    -------
    >>> s = series_from_csv("nof1ins_readme_example.csv", "Y", "Treat", active="2",
    ...                     time="Day", block="Block")          # doctest: +SKIP
    """
    rows, what_source, short, delimiter = _read_rows(source)
    return _series_from_rows(
        rows, what_source, short, outcome, treatment, active, time, block, lower_is_better,
        low, high, decimal_comma=delimiter != ",", date_format=date_format,
    )  # fmt: skip


def _series_from_rows(
    rows: list[list[str]],
    what_source: str,
    short: str,
    outcome: str,
    treatment: str,
    active: str | None,
    time: str | None,
    block: str | None,
    lower_is_better: bool,
    low: float | None,
    high: float | None,
    *,
    decimal_comma: bool = False,
    date_format: str | None = None,
    written_by_pandas: bool = False,
) -> Series:
    _check_scale(low, high)
    try:
        pattern = date_pattern(date_format) if date_format is not None else None
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if not rows:
        raise DataError(f"{what_source} is empty")
    header = [h.strip().lstrip("\ufeff") for h in rows[0]]
    data = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not data:
        raise DataError(f"{what_source} has a header but no rows")
    if len(data) > MAX_SPAN_DAYS:  # one row a day (the --time check says it of a span)
        raise DataError(
            f"{what_source} has {len(data):,} rows; a series covers at most "
            f"{MAX_SPAN_DAYS:,} days (100 years), one row a day"
        )
    for i, r in enumerate(data):
        if any(cell.strip() for cell in r[len(header) :]):  # a cell beyond the header
            raise DataError(
                f"row {i + 1} of {short} has {len(r)} cells, more than the {len(header)} "
                "columns of its header: which column each cell belongs to cannot be known"
            )

    def column(name: str, what: str) -> list[str]:
        if name not in header:
            raise DataError(
                f"{what} column {name!r} is not in {short}; its columns are: "
                + _some(header, "columns", most=20)
            )
        if header.count(name) > 1:
            raise DataError(
                f"{what} column {name!r} is in the header of {short} {header.count(name)} "
                "times; which one is meant cannot be known (give each column once)"
            )
        j = header.index(name)
        return [(r[j].strip() if j < len(r) else "") for r in data]

    y_raw = column(outcome, "outcome")
    t_raw = column(treatment, "treatment")
    time_raw = column(time, "time") if time is not None else None
    block_raw = column(block, "block") if block is not None else None

    # A frame's floats come back as pandas writes them (1e-05): numbers, not typed scores.
    read = _machine_number if written_by_pandas else _number
    y = np.array([read(v, i, outcome, decimal_comma) for i, v in enumerate(y_raw)])
    outside = (low is not None and y < low) | (high is not None and y > high)
    if np.any(outside):
        i = int(np.argmax(outside))
        raise DataError(
            f"row {i + 1}: outcome {outcome!r} value {y_raw[i]!r} is outside the scale "
            f"{_scale_text(low, high)} given by --low/--high"
        )
    for i, v in enumerate(t_raw):
        if v.lower() in MISSING:
            raise DataError(f"row {i + 1}: treatment {treatment!r} is missing")
    labels = sorted(set(t_raw))
    if len(labels) != 2:
        raise DataError(
            f"treatment column {treatment!r} must have exactly 2 values, it has "
            f"{len(labels)}: " + _some(labels, "values")
        )
    arm_a = _active_label(labels, active, treatment)
    is_active = np.array([v == arm_a for v in t_raw], dtype=int)

    day = _days(time_raw, time, pattern) if time_raw is not None else np.arange(1, len(data) + 1)
    values, counts = np.unique(day, return_counts=True)
    if np.any(counts > 1):
        rows_dup = np.flatnonzero(day == values[np.argmax(counts > 1)])
        raise DataError(
            f"time column {time!r} has the value {time_raw[rows_dup[0]]!r} more than once "
            f"(rows {rows_dup[0] + 1} and {rows_dup[1] + 1}); one row per day is needed"
        )
    order = np.argsort(day, kind="stable")
    y, is_active, day = y[order], is_active[order], day[order]
    blk_labels = [block_raw[i] for i in order] if block_raw is not None else None

    period = np.empty(len(day), dtype=int)
    blocks = np.empty(len(day), dtype=int)
    p = 0
    block_ids: dict[str, int] = {}
    for i in range(len(day)):
        new_block = blk_labels is not None and (i == 0 or blk_labels[i] != blk_labels[i - 1])
        if i == 0 or is_active[i] != is_active[i - 1] or new_block:
            p += 1
        period[i] = p
        if blk_labels is not None:
            blocks[i] = block_ids.setdefault(blk_labels[i], len(block_ids) + 1)
        else:
            blocks[i] = (p + 1) // 2
    return Series(
        y=y,
        active=is_active,
        day=day,
        block=blocks,
        period=period,
        outcome=outcome,
        lower_is_better=lower_is_better,
        low=low,
        high=high,
        scheme="block",
    )


def series_from_frame(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    active: str | None = None,
    time: str | None = None,
    block: str | None = None,
    lower_is_better: bool = True,
    low: float | None = None,
    high: float | None = None,
) -> Series:
    """Read one outcome of one patient from a pandas DataFrame, one row per day.

    The columns mean what they mean in ``series_from_csv``, and the same checks apply
    (the frame goes through the same reader). A time column may hold day numbers, ISO date
    strings or datetimes. The frame is not changed.

    Raises
    ------
    DataError : as in ``series_from_csv``.

    Example
    -------
    >>> s = series_from_frame(df, "pain", "arm", active="magnesium", time="date")  # doctest: +SKIP
    """
    text = io.StringIO()
    frame.to_csv(text, index=False, date_format="%Y-%m-%d")
    rows = list(csv.reader(io.StringIO(text.getvalue())))
    return _series_from_rows(
        rows, "the DataFrame", "the DataFrame", outcome, treatment, active, time, block,
        lower_is_better, low, high, written_by_pandas=True,
    )  # fmt: skip


def _some(values: list[str], what: str, most: int = SHOW_VALUES) -> str:
    """At most ``most`` values, quoted, and how many more there are."""
    shown = ", ".join(repr(v) for v in values[:most])
    rest = len(values) - most
    return shown + (f" and {rest} more {what}" if rest > 0 else "")


def _number(value: str, i: int, column: str, decimal_comma: bool = False) -> float:
    if value.lower() in MISSING:
        return math.nan
    try:
        return parse_number(value, f"outcome {column!r} value", decimal_comma)
    except ValueError as exc:
        raise DataError(f"row {i + 1}: {exc}") from None


def _machine_number(value: str, i: int, column: str, decimal_comma: bool = False) -> float:
    if value.lower() in MISSING:
        return math.nan
    try:
        x = float(value)
    except ValueError:
        raise DataError(
            f"row {i + 1}: outcome {column!r} value {value!r} is not a number"
        ) from None
    if not math.isfinite(x):
        raise DataError(f"row {i + 1}: outcome {column!r} value {value!r} is not a finite number")
    return x


def _active_label(labels: list[str], active: str | None, column: str) -> str:
    if active is not None:
        if active not in labels:
            raise DataError(
                f"--active value {active!r} does not occur in treatment column {column!r}; "
                "its values are " + " and ".join(repr(v) for v in labels)
            )
        return active
    controls = [v for v in labels if any(w in v.lower() for w in CONTROL_WORDS)]
    if len(controls) == 1:
        return next(v for v in labels if v != controls[0])
    if {v.upper() for v in labels} == {"A", "B"}:
        return next(v for v in labels if v.upper() == "A")
    try:  # numbers as people write them: "1_0" is no label for 10
        return max(labels, key=lambda v: parse_number(v, "treatment"))
    except ValueError:
        raise DataError(
            f"cannot tell which value of treatment column {column!r} is the active arm: "
            "give --active " + " or --active ".join(repr(v) for v in labels)
        ) from None


def _check_scale(low: float | None, high: float | None) -> None:
    """Refuse bounds that are not numbers, or a range that is empty or upside down."""
    for name, value in (("--low", low), ("--high", high)):
        if value is not None and not math.isfinite(value):
            raise DataError(f"{name} {value} must be a finite number")
    if low is not None and high is not None and not low < high:
        raise DataError(
            f"--low {low:g} must be below --high {high:g}: the scale "
            f"{'is empty' if low == high else 'is upside down'}"
        )


def _scale_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g}-{high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


#: The longest series a CSV may describe: 100 years of days. Day numbers beyond it are
#: typos (or an attempt to make nof1 allocate a huge calendar), not a trial.
MAX_SPAN_DAYS = 36_525


def _days(values: list[str], column: str | None, pattern=None) -> np.ndarray:
    """Day numbers from whole numbers or dates (ISO, or ``pattern``), the first day being 1."""
    try:
        nums = None if pattern is not None else [float(v) for v in values]
    except ValueError:
        nums = None
    if nums is not None:
        whole = [
            is_whole_number(v) and math.isfinite(x) and abs(x) <= 1e9
            for v, x in zip(values, nums, strict=True)
        ]
        if not all(whole):
            bad = values[whole.index(False)]
            raise DataError(
                f"time column {column!r} value {bad!r} is not a whole day number "
                "(from -1,000,000,000 to 1,000,000,000)"
            )
        days = np.array(nums, dtype=np.int64)
    else:
        ords = []
        for i, v in enumerate(values):
            try:
                ords.append(read_date(v, pattern, f"time column {column!r} value").toordinal())
            except ValueError as exc:
                if pattern is None and not layout_hint(v):
                    raise DataError(
                        f"row {i + 1}: time column {column!r} value {v!r} is neither a day "
                        "number nor a date (YYYY-MM-DD)"
                    ) from None
                raise DataError(f"row {i + 1}: {exc}") from None
        days = np.array(ords, dtype=np.int64)
    span = int(days.max() - days.min())
    if span > MAX_SPAN_DAYS:
        raise DataError(
            f"time column {column!r} spans {span:,} days, from {values[int(days.argmin())]!r} "
            f"to {values[int(days.argmax())]!r}; a series covers at most {MAX_SPAN_DAYS:,} "
            "days (100 years)"
        )
    return days - days.min() + 1

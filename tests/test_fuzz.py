"""Property-based fuzzing of the input readers (issue 22): ``record``, ``import`` and
``analyze --csv`` fed generated scores, cells, headers and dates.

Whatever they are given, each command either succeeds (exit 0) or gives exactly one
``Error:`` line with exit 1: never a traceback. A refused input leaves every file of the
trial byte for byte as it was; an accepted one stores (or analyses) only finite values
within the outcome's scale. Examples are derandomized, so a failure reproduces; one trial
folder per test is restored between examples (creating a trial costs a scrypt run).
"""

from __future__ import annotations

import math
import shutil
import string
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nof1.analysis.csv_input import MISSING, series_from_csv
from nof1.cli import cli
from nof1.errors import Nof1Error
from nof1.trial.handle import open_trial

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
START = date(2026, 1, 5)

#: Characters that make numbers, near-numbers and what Python's float() reads but a score
#: is not: signs, exponents, underscores, commas, words, digits of other scripts, spaces.
_NUMBERISH = st.text(
    alphabet="0123456789.,-+eE_ xXinfatyINF\u0660\u0661\u0665\uff16\u00a0\t",
    min_size=0,
    max_size=8,
)
#: Scores a diary takes: whole or with one decimal, within 0-10, sometimes padded or empty.
VALID = st.one_of(
    st.integers(0, 10).map(str),
    st.floats(0, 10).map(lambda x: f"{x:.1f}"),
    st.integers(0, 10).map(lambda i: f" {i} "),
)
NOISE = st.one_of(
    st.integers(-3, 14).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-2, 12).map(lambda x: f"{x:.1f}"),
    st.sampled_from(["nan", "inf", "-inf", "Infinity", "1_0", "1e1", "+5", "0x10", "6,5", ""]),
    _NUMBERISH,
    st.text(max_size=5),
)
#: Half valid, half what no score is: both paths are exercised.
SCORES = st.one_of(VALID, NOISE)


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _restore(folder: Path, template: Path) -> None:
    shutil.rmtree(folder)
    shutil.copytree(template, folder)


def _check_outcome(res, before: dict, folder: Path) -> bool:
    """No traceback; a failure is one Error line and nothing changed. True if it succeeded."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1), res.output
    event(f"exit {res.exit_code}")  # --hypothesis-show-statistics: both paths are taken
    if res.exit_code == 1:
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
        assert _snapshot(folder) == before
        return False
    return True


def _check_stored(folder: Path) -> None:
    """Every stored value is finite and within its outcome's scale."""
    handle = open_trial(folder)
    for record in handle.existing_diary().records:
        for name, value in record.entry.values.items():
            o = handle.protocol.outcome(name)
            assert math.isfinite(value) and o.low <= value <= o.high, (name, value)


@pytest.fixture
def fuzz_trial(trial, tmp_path) -> tuple[Path, Path]:
    """The trial folder and an untouched copy of it to restore from."""
    template = tmp_path / "template"
    shutil.copytree(trial, template)
    return trial, template


@settings(FUZZ, max_examples=150)
@given(
    pain=st.one_of(st.none(), VALID, SCORES),
    outcomes=st.lists(
        st.one_of(
            st.tuples(st.just("side_effects"), st.sampled_from(["yes", "no", "1", "0"])),
            st.tuples(st.sampled_from(["pain", "side_effects", "mood", "", " pain"]), SCORES),
        ),
        max_size=2,
        unique_by=lambda item: item[0].strip(),  # twice: tests/test_tracebacks.py
    ),
)
def test_record_never_crashes_and_stores_only_scores(fuzz_trial, freeze_today, pain, outcomes):
    folder, template = fuzz_trial
    freeze_today(START + timedelta(days=1))
    args = ["record", "--trial", str(folder), "--date", str(START + timedelta(days=1))]
    if pain is not None:
        args.append(f"--pain={pain}")
    args += [f"--outcome={name}={value}" for name, value in outcomes]
    if pain is None and not outcomes:
        args.append("--note=fuzz")  # never the interactive questions
    before = _snapshot(folder)
    res = CliRunner().invoke(cli, args)
    if _check_outcome(res, before, folder):
        _check_stored(folder)
        _restore(folder, template)


_DATES = st.one_of(
    st.just("{iso}"),
    st.just("{iso}"),
    st.just("{local}"),
    st.integers(0, 20).map(lambda i: f"{START + timedelta(days=i):%m/%d/%Y}"),
    st.sampled_from(["", "today", "2026-02-30", "0001-01-01", "9999-12-31", "20260105"]),
    st.text(alphabet=string.digits + "-./", max_size=10),
)
#: What each column of a diary CSV holds: right (``True``) or anything (``False``).
_CELLS = {
    True: {
        "pain": VALID,
        "side_effects": st.sampled_from(["yes", "no", "1", "0", ""]),
        "guess": st.sampled_from(["A", "b", "unsure", "?", ""]),
        "adherence": st.sampled_from(["yes", "no", ""]),
        "note": st.text(alphabet=string.ascii_letters + " ", max_size=6),
    },
    False: {
        "pain": SCORES,
        "side_effects": st.one_of(st.sampled_from(["yes", "no", "1", "0", ""]), SCORES),
        "guess": st.one_of(st.sampled_from(["A", "b", "unsure", "?", ""]), st.text(max_size=3)),
        "adherence": st.one_of(st.sampled_from(["yes", "no", ""]), st.text(max_size=3)),
        "note": st.text(max_size=6),
    },
}


@st.composite
def diary_csv(draw) -> tuple[str, str | None]:
    """A diary CSV's text and the --date-format to import it with: half of them clean
    (every cell right, days distinct), half with anything anywhere."""
    clean = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    formats = [None, "DD.MM.YYYY"] if clean else [None, "DD.MM.YYYY", "YYYY", "DD.MM.YYYY.YYYY"]
    date_format = draw(st.sampled_from(formats))
    columns = st.sampled_from(["pain", "side_effects", "guess", "adherence", "note"])
    if clean:
        header = ["date", "pain", *draw(st.lists(columns, max_size=3, unique=True))]
        header = list(dict.fromkeys(header))
    else:
        header = ["date", *draw(st.lists(st.one_of(columns, st.just("mood")), max_size=4))]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    offsets = st.lists(st.integers(0, 20), max_size=4, unique=clean, min_size=int(clean))
    lines = [delimiter.join(header)]
    for offset in draw(offsets):
        day = START + timedelta(days=offset)
        local = f"{day:%d.%m.%Y}" if date_format == "DD.MM.YYYY" else str(day)
        row_date = local if clean else draw(_DATES).format(iso=day, local=local)
        cells = [
            row_date if col == "date" else draw(_CELLS[clean].get(col, VALID)) for col in header
        ]
        lines.append(delimiter.join(cells))
    return "\n".join(lines) + "\n", date_format


@settings(FUZZ, max_examples=150)
@given(source=diary_csv())
def test_import_never_crashes_and_stores_only_scores(fuzz_trial, freeze_today, tmp_path, source):
    folder, template = fuzz_trial
    freeze_today(START + timedelta(days=25))
    text, date_format = source
    src = tmp_path / "in.csv"
    src.write_text(text, encoding="utf-8")
    args = ["import", "--trial", str(folder), str(src)]
    args += ["--date-format", date_format] if date_format else []
    before = _snapshot(folder)
    res = CliRunner().invoke(cli, args)
    if _check_outcome(res, before, folder):
        _check_stored(folder)
        _restore(folder, template)


@st.composite
def any_csv(draw) -> tuple[str, list[str], str, tuple[str, ...]]:
    """An ABAB series as CSV text, its pain cells as written, its delimiter and the bound
    options: half of them clean (every score valid), half with anything in the cells."""
    clean = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    # Cells never hold the delimiter, a quote or a line break: the reader would split them
    # into other cells than the ones written, and the check below compares cell by cell.
    cell = (VALID if clean else SCORES).filter(
        lambda c: delimiter not in c and not set(c) & set('"\r\n')
    )
    pain = draw(st.lists(cell, min_size=8, max_size=16))
    layout = ["A" if i // 2 % 2 == 0 else "B" for i in range(len(pain))]
    arms = layout if clean else [draw(st.sampled_from([a, a, "mg", ""])) for a in layout]
    bounds = draw(
        st.sampled_from([(), ("--low", "0", "--high", "10"), ("--low", "nan"), ("--high", "1e1")])
    )
    rows = [delimiter.join([str(i + 1), arms[i], pain[i]]) for i in range(len(pain))]
    text = delimiter.join(["day", "arm", "pain"]) + "\n" + "\n".join(rows) + "\n"
    return text, pain, delimiter, bounds


@settings(FUZZ, max_examples=80)
@given(source=any_csv(), days=st.booleans())
def test_analyze_csv_never_crashes_and_reads_only_scores(tmp_path, source, days):
    text, pain, delimiter, bounds = source
    src = tmp_path / "in.csv"
    src.write_text(text, encoding="utf-8")
    args = ["analyze", "--csv", str(src), "--outcome", "pain", "--treatment", "arm"]
    args += [*bounds, *(["--time", "day"] if days else []), "--active", "A"]
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(cli, args)
    if not _check_outcome(res, before, tmp_path):
        return
    low = high = None
    if bounds == ("--low", "0", "--high", "10"):
        low, high = 0.0, 10.0
    try:
        series = series_from_csv(src, "pain", "arm", active="A", low=low, high=high)
    except Nof1Error as exc:  # pragma: no cover - the command just read the same file
        pytest.fail(f"the command accepted what the reader refuses: {exc}")
    observed = [y for y in series.y if not math.isnan(y)]
    assert observed and all(math.isfinite(y) for y in observed)
    if low is not None:
        assert all(low <= y <= high for y in observed)
    # What was read as a score is a plain decimal (or a decimal comma beside semicolons).
    for cell, y in zip(pain, series.y, strict=True):
        if cell.strip().lower() in MISSING:
            continue
        written = cell.strip().replace(",", ".") if delimiter != "," else cell.strip()
        assert set(written) <= set("0123456789.-") and float(written) == y, (cell, y)

"""Property-based fuzzing of the template reader and the protocol reader (issue 22).

A valid template (generic-ab) and a valid ``protocol.toml`` have one value replaced at a
time (or removed) by a generated one: whole numbers small and huge, floats with nan, inf
and 1e308, text with control characters, true and false, arrays, tables, dates, date-times
and times of day. Whatever is generated, reading either gives a ``Protocol`` or the
project's own ``ProtocolError``, never another exception; and what is accepted holds only
finite numbers, dates and counts within the limits of a design, so every later stage can
trust it (its calendar is computed as a check).

Generated changes find what nobody thought of but rarely hit one key with one kind of
value; so every value of both documents is also replaced, in turn, by one value of each
kind a hand edit may leave (``KINDS``), which is exhaustive and still takes seconds.
"""

from __future__ import annotations

import copy
import math
import shutil
import tomllib
from datetime import date, datetime, time
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nof1.errors import ProtocolError
from nof1.plan.calendar import calendar
from nof1.plan.checks import (
    FIRST_DAY,
    LAST_DAY,
    MAX_BLOCKS,
    MAX_DOSES,
    MAX_PERIOD_DAYS,
    MAX_RUN_IN_DAYS,
)
from nof1.plan.protocol import PROTOCOL_FILE, Protocol, load_protocol
from nof1.plan.templates import builtin_templates, protocol_from_template, read_template

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
#: Values that once crashed a command, or were accepted where no trial could run with them.
NASTY = [
    float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 0.0, -1.0, 0.5, 1.0, 3.0, 2.5,
    0, 1, -1, 2, 3, 4, 7, 10, 11, 13, 14, 64, 65, 100, 101, 365, 366, 10**9, 2**63 - 1,
    0.1, 9.5, 10.5, 1e6, True, False,
    "", " ", "3", "zero", "\x1b[2J", "scale", "binary", "block", "A", "B",
    date(1, 1, 1), date(1999, 12, 31), date(2026, 1, 5), date(2101, 1, 1), date(9999, 12, 31),
    datetime(2026, 1, 5), [], [1], {}, {"name": "x"},
]  # fmt: skip
_scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.times(),
)
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.recursive(
        _scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["a", "name", "low"]), inner, max_size=2),
        ),
        max_leaves=6,
    ),
)
#: A replacement: a generated value, or ``DROP`` to remove the key.
DROP = object()
CHANGES = st.one_of(VALUES, st.just(DROP))
#: Keys a valid document may leave out, so that setting them is fuzzed too.
OPTIONAL = [
    ("outcomes", 0, "role"), ("outcomes", 1, "low"), ("outcomes", 1, "high"),
    ("outcomes", 1, "primary"), ("analysis", "carryover"), ("treatments", "A", "dose_unit"),
    ("sequential", "simulated"), ("safety", "extra"),
]  # fmt: skip


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key and element of a document, tables and arrays included."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _mutated(document: dict[str, Any], changes: list[tuple[tuple, Any]]) -> str:
    doc = copy.deepcopy(document)
    for path, change in changes:
        where = doc
        try:
            for key in path[:-1]:
                where = where[key]
            if change is DROP:
                where.pop(path[-1])
            else:
                where[path[-1]] = change
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier change took this path away
    return tomli_w.dumps(doc)


def _changes(document: dict[str, Any]):
    """One or two changes of a document: a value (a leaf) three times as often as a table
    or array, a curated nasty value as often as a generated one."""
    paths = _paths(document) + OPTIONAL
    leaves = [p for p in _paths(document) if not isinstance(_at(document, p), dict | list)]
    leaves += OPTIONAL
    where = st.one_of(st.sampled_from(leaves), st.sampled_from(leaves), st.sampled_from(paths))
    return st.lists(st.tuples(where, CHANGES), min_size=1, max_size=2)


def _at(document: Any, path: tuple) -> Any:
    for key in path:
        document = document[key]
    return document


def _finite(x: Any) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def _a_day(d: Any) -> bool:
    return type(d) is date and FIRST_DAY <= d <= LAST_DAY


def _whole(x: Any, low: int, high: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and low <= x <= high


def _assert_trustworthy(p: Protocol) -> None:
    """What every stage after the reader relies on."""
    assert isinstance(p.title, str) and p.title.strip() and isinstance(p.blinded, bool)
    assert _whole(p.blocks, 2, MAX_BLOCKS) and _whole(p.period_days, 2, MAX_PERIOD_DAYS)
    assert _whole(p.washout_days, 0, p.period_days - 1)
    assert _whole(p.run_in_days, 0, MAX_RUN_IN_DAYS)
    assert len(p.periods) == 2 * p.blocks and _a_day(p.start)
    for i, q in enumerate(p.periods):
        assert (q.index, q.block) == (i + 1, i // 2 + 1)
        assert _a_day(q.start) and _a_day(q.end) and q.start <= q.end
        assert (q.end - q.start).days < MAX_PERIOD_DAYS
        assert _whole(q.washout_days, 0, (q.end - q.start).days) and isinstance(q.kit, str)
    for t in p.treatments.values():
        assert isinstance(t.name, str) and _whole(t.doses_per_day, 0, MAX_DOSES)
    assert sum(o.primary for o in p.outcomes) == 1
    for o in p.outcomes:
        assert _finite(o.low) and _finite(o.high) and o.low < o.high
        assert isinstance(o.lower_is_better, bool) and isinstance(o.question, str)
    a = p.analysis
    assert _finite(a.mcid) and 0 < a.mcid <= p.primary.high - p.primary.low
    assert _finite(a.threshold) and 0.5 <= a.threshold < 1
    assert all(isinstance(v, bool) for v in (a.ar1, a.carryover, a.exclude_washout))
    if p.sequential is not None:
        assert all(_finite(u) for u in (*p.sequential.efficacy, *p.sequential.futility))
        assert p.sequential.looks[-1] == p.blocks
    assert all(isinstance(n, str) for n in p.safety)
    calendar(p)
    p.day_info(p.start)


TEMPLATE = tomllib.loads(builtin_templates()["generic-ab"].read_text())


@SETTINGS
@given(changes=_changes(TEMPLATE))
def test_the_template_reader_accepts_only_what_a_trial_can_run(tmp_path, changes):
    file = tmp_path / "fuzzed.toml"
    file.write_text(_mutated(TEMPLATE, changes), encoding="utf-8")
    try:
        p = protocol_from_template(read_template(file), start=date(2026, 1, 5))
    except ProtocolError:
        return
    _assert_trustworthy(p)


@pytest.fixture(scope="module")
def protocol_document(_template_trial) -> dict[str, Any]:
    return tomllib.loads((_template_trial / PROTOCOL_FILE).read_text(encoding="utf-8"))


@SETTINGS
@given(data=st.data())
def test_the_protocol_reader_accepts_only_what_a_trial_can_run(tmp_path, protocol_document, data):
    changes = data.draw(_changes(protocol_document))
    folder = tmp_path / "fuzzed"
    folder.mkdir(exist_ok=True)
    (folder / PROTOCOL_FILE).write_text(_mutated(protocol_document, changes), encoding="utf-8")
    try:
        p = load_protocol(folder)
    except ProtocolError:
        return
    _assert_trustworthy(p)


def test_the_unchanged_documents_are_read(tmp_path, _template_trial):
    """The fuzzing starts from documents the readers accept."""
    _assert_trustworthy(protocol_from_template(read_template("generic-ab"), start=date(2026, 1, 5)))
    shutil.copy(_template_trial / PROTOCOL_FILE, tmp_path / PROTOCOL_FILE)
    _assert_trustworthy(load_protocol(tmp_path))


#: One value of each kind that a hand edit may leave where a plan value belongs.
KINDS = [
    float("nan"), float("inf"), -1, 100, 10**9, 2.5, True, "3",
    date(9999, 12, 31), datetime(2026, 1, 5), time(8, 0), [], {},
]  # fmt: skip


def _leaves(document: dict[str, Any]) -> list[tuple]:
    """Every value, but of the periods only the first and the last (the others repeat them)."""
    last = len(document.get("schedule", {}).get("periods", [])) - 1
    return [
        p
        for p in _paths(document)
        if not isinstance(_at(document, p), dict | list)
        and not (p[:2] == ("schedule", "periods") and p[2] not in (0, last))
    ]


def _every_kind_everywhere(document: dict[str, Any], read) -> int:
    """Put each of ``KINDS`` in place of each value of ``document`` in turn and read it:
    a ProtocolError or a trustworthy protocol. Returns how many were accepted."""
    accepted = 0
    for path in _leaves(document) + OPTIONAL:
        for value in KINDS:
            try:
                p = read(_mutated(document, [(path, value)]))
            except ProtocolError:
                continue
            _assert_trustworthy(p)
            accepted += 1
    return accepted


def test_every_kind_of_value_in_every_key_of_a_template(tmp_path):
    file = tmp_path / "edited.toml"

    def read(text: str) -> Protocol:
        file.write_text(text, encoding="utf-8")
        return protocol_from_template(read_template(file), start=date(2026, 1, 5))

    # Some are fine: a description "3", a condition "", a blocks of 10^9 refused, ...
    assert 0 < _every_kind_everywhere(TEMPLATE, read) < len(KINDS) * len(_leaves(TEMPLATE))


def test_every_kind_of_value_in_every_key_of_protocol_toml(tmp_path, protocol_document):
    def read(text: str) -> Protocol:
        (tmp_path / PROTOCOL_FILE).write_text(text, encoding="utf-8")
        return load_protocol(tmp_path)

    accepted = _every_kind_everywhere(protocol_document, read)
    assert 0 < accepted < len(KINDS) * len(_leaves(protocol_document))

"""The diary's hash chain: every record linked to the one before, so history can be proven.

The ``chain`` table of ``diary.sqlite`` holds one row per record of any kind, in the order
they were made: ``seq`` (1, 2, 3, ... without gaps), ``kind``, ``content`` (the record as
canonical JSON), ``prev`` (the hash of the row before; 64 zeros for the first) and ``hash``
= SHA-256 of ``prev``, ``kind`` and ``content``. Kinds so far:

- ``entry``: a diary row, every column of ``entries`` (content, day, time, what it
  supersedes, whether it is a deviation);
- ``unblinding``: the unblinding row;
- ``protocol``: the protocol the diary belongs to (its commitment and canonical text), so a
  protocol replaced later is named, field by field;
- ``migration``: an older diary given its chain; it says which entries came before.

A new kind needs no new table: ``append`` any JSON object under a new name (an interim
look, say), and ``verify`` checks its link like any other.

An edit, a deletion or an insertion that bypasses nof1 (dropping SQLite's triggers is
enough) breaks a hash, a link, the id sequence or the match between a table row and its
record; ``verify`` names which. So does damage to the chain itself: a record whose content
is not the JSON object its kind holds (``decode``), or a chain table dropped or rebuilt
without a column; the rows it covered are still read, and nothing proves them. Someone who rewrites the whole chain consistently is not
caught here: ``docs/security.md`` says what is.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nof1.plan.stopping import DECISIONS

#: The ``prev`` of the first record.
GENESIS = "0" * 64
#: The chain's table, and its columns in the order ``read`` selects them.
TABLE = "chain"
COLUMNS = ("seq", "kind", "content", "prev", "hash")
#: What the content of each kind of record must hold for nof1 to use it, and of which type
#: (``decode``); other keys may be there too. "time" is UTC ISO 8601 text.
_FIELDS: dict[str, dict[str, str]] = {
    "entry": {"id": "int", "date": "text", "outcomes": "text", "recorded_at": "time"},
    "unblinding": {
        "id": "int",
        "unblinded_at": "time",
        "early": "int",
        "reason": "text",
        "arms": "text",
        "salt": "text",
    },  # fmt: skip
    "protocol": {"registration": "text", "document": "text"},
    "migration": {"entries_before": "int", "at": "time"},
    "look": {"look": "int", "after_block": "int", "decision": "text", "at": "time"},
    "look-refused": {"look": "int", "after_block": "int", "at": "time"},
}

_SCHEMA = (
    """CREATE TABLE chain (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,  -- 1, 2, 3, ... without gaps
        kind    TEXT NOT NULL,                      -- entry, unblinding, protocol, ...
        content TEXT NOT NULL,                      -- the record, canonical JSON
        prev    TEXT NOT NULL,                      -- hash of the record before
        hash    TEXT NOT NULL UNIQUE                -- SHA-256 of prev, kind, content
    )""",
    """CREATE TRIGGER chain_no_update BEFORE UPDATE ON chain
        BEGIN SELECT RAISE(ABORT, 'the diary chain is append-only'); END""",
    """CREATE TRIGGER chain_no_delete BEFORE DELETE ON chain
        BEGIN SELECT RAISE(ABORT, 'the diary chain is append-only'); END""",
)


def canonical(content: dict[str, Any]) -> str:
    """A record as canonical JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev: str, kind: str, content: str) -> str:
    """SHA-256 (hex) of one chain record, which covers the hash of the record before."""
    return hashlib.sha256(f"{prev}\n{kind}\n{content}".encode()).hexdigest()


def shown(value: object) -> str:
    """A stored value as an error message names it: NULL, a BLOB's size, or a short repr."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"a BLOB of {len(value)} bytes"
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "...'"


def is_utc_time(value: object) -> bool:
    """Whether ``value`` is ISO 8601 text of a time with its offset, as nof1 stores times."""
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _field_problem(key: str, value: object, kind: str) -> str | None:
    if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        return f"its {key!r} is {shown(value)}, not a whole number"
    if kind == "text" and not isinstance(value, str):
        return f"its {key!r} is {shown(value)}, not text"
    if kind == "time" and not is_utc_time(value):
        return f"its {key!r} is {shown(value)}, not a UTC time"
    return None


def decode(kind: str, text: object) -> dict[str, Any]:
    """The content of one chain record, checked to hold what its kind needs (``_FIELDS``).

    Raises
    ------
    ValueError : what is wrong, as a phrase ("its content is not JSON").
    """
    if not isinstance(text, str):
        raise ValueError(f"its content is {shown(text)}, not text")
    try:
        content = json.loads(text)
    except ValueError:
        raise ValueError("its content is not JSON") from None
    if not isinstance(content, dict):
        raise ValueError("its content is not a JSON object")
    for key, field_kind in _FIELDS.get(kind, {}).items():
        problem = _field_problem(key, content.get(key), field_kind)
        if problem is not None:
            raise ValueError(problem)
    if kind == "look" and content["decision"] not in DECISIONS:
        raise ValueError(f"its decision {shown(content['decision'])} is not one nof1 makes")
    if kind == "protocol":
        try:
            document = json.loads(content["document"])
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ValueError("its protocol document is not a JSON object")
    return content


def row(con: sqlite3.Connection, table: str, row_id: int) -> dict[str, Any]:
    """One row of ``entries`` or ``unblinding`` as a dict of every column."""
    cur = con.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
    values = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], values, strict=True))


def head(con: sqlite3.Connection) -> tuple[int, str]:
    """The last record's (seq, hash), or (0, GENESIS) for an empty chain."""
    last = con.execute("SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if last is None else (last[0], last[1])


def append(
    con: sqlite3.Connection, kind: str, content: dict[str, Any], after: tuple[int, str]
) -> tuple[int, str]:
    """Append one record inside the caller's write transaction.

    Parameters
    ----------
    con : the diary connection, in a write transaction.
    kind : the record's kind (``entry``, ``unblinding``, ``protocol``, ...).
    content : the record, JSON-serialisable.
    after : ``head(con)``, or what the previous ``append`` returned (saves a query).

    Returns
    -------
    (seq, hash) of the new record: the new head.
    """
    text = canonical(content)
    digest = link_hash(after[1], kind, text)
    con.execute(
        "INSERT INTO chain (seq, kind, content, prev, hash) VALUES (?, ?, ?, ?, ?)",
        (after[0] + 1, kind, text, after[1], digest),
    )
    return after[0] + 1, digest


def create(con: sqlite3.Connection) -> None:
    """Migration: add the chain to a diary, linking the rows it already holds.

    Rows from before the chain are linked as they are now, after a ``migration`` record
    that says how many there were: the chain proves nothing about their earlier history.
    """
    for statement in _SCHEMA:
        con.execute(statement)
    last = con.execute("SELECT max(id) FROM entries").fetchone()[0]
    unblinded = con.execute("SELECT 1 FROM unblinding").fetchone() is not None
    if last is None and not unblinded:
        return
    at = head(con)
    at = append(
        con,
        "migration",
        {
            "entries_before": last or 0,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        at,
    )
    for (row_id,) in con.execute("SELECT id FROM entries ORDER BY id").fetchall():
        at = append(con, "entry", row(con, "entries", row_id), at)
    if unblinded:
        append(con, "unblinding", row(con, "unblinding", 1), at)


@dataclass(frozen=True)
class ChainCheck:
    """What verifying a diary's chain found.

    Parameters
    ----------
    n_entries : diary entries (rows of ``entries``, corrections included).
    problems : one sentence per break, naming the entry; empty when the chain holds.
    holds_from : the first entry id recorded under the chain; 1 for a diary that always
        had it; ``entries_before + 1`` for one given its chain later.
    migrated_at : when an older diary was given its chain (UTC ISO), or "".
    anchors : the ``protocol`` records, oldest first (each a dict with ``registration``
        and ``document``).
    damage : those of ``problems`` that say the chain itself is damaged (its table dropped
        or rebuilt without a column, a record of the wrong type or not the JSON its kind
        holds), not merely that a record or row was changed: the reading commands refuse
        such a diary (``nof1.diary.schema.damaged``), where they only warn about a change.
    """

    n_entries: int
    problems: tuple[str, ...]
    holds_from: int = 1
    migrated_at: str = ""
    anchors: tuple[dict[str, Any], ...] = ()
    damage: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(entry: dict[str, Any]) -> str:
    return f"entry #{entry.get('id')} ({entry.get('date', 'no date')})"


@dataclass(frozen=True)
class ChainRows:
    """A diary's tables as read in one transaction: what ``check`` verifies.

    Parameters
    ----------
    chain : the chain's rows (seq, kind, content, prev, hash), in order.
    entries : every row of ``entries`` as a dict of its columns, by id.
    unblinding : the row of ``unblinding`` as a dict, or None.
    sequences : ``sqlite_sequence`` (table name -> last id given).
    tables : every table of the file and its columns, as the file's own schema says (so a
        reader can refuse a column it does not know).
    missing : why the chain could not be read at all (its table dropped, or rebuilt without
        a column), or "" when it was.
    """

    chain: tuple[tuple[int, str, str, str, str], ...]
    entries: dict[int, dict[str, Any]]
    unblinding: dict[str, Any] | None
    sequences: dict[str, int]
    tables: dict[str, tuple[str, ...]]
    missing: str = ""


def read(con: sqlite3.Connection) -> ChainRows:
    """Read the chain and the tables it covers in one transaction, so a writer in another
    process cannot make the reader see half a record."""
    con.execute("BEGIN")
    try:
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        tables = {
            name: tuple(r[1] for r in con.execute(f"PRAGMA table_info('{name}')"))
            for (name,) in names
        }
        lacking = [c for c in COLUMNS if c not in tables.get(TABLE, COLUMNS)]
        if TABLE not in tables:
            missing = f"the diary has no table {TABLE!r} (its hash chain)"
        elif lacking:
            missing = f"the diary's table {TABLE!r} has no column {lacking[0]!r}"
        else:
            missing = ""
        chain = ()
        if not missing:
            cur = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY seq")
            chain = tuple(cur.fetchall())
        cur = con.execute("SELECT * FROM entries ORDER BY id")
        columns = [d[0] for d in cur.description]
        entries = {r[0]: dict(zip(columns, r, strict=True)) for r in cur.fetchall()}
        cur = con.execute("SELECT * FROM unblinding")
        unblinding = cur.fetchone()
        if unblinding is not None:
            unblinding = dict(zip([d[0] for d in cur.description], unblinding, strict=True))
        sequences = dict(con.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    finally:
        con.execute("COMMIT")
    return ChainRows(chain, entries, unblinding, sequences, tables, missing)


def check(rows: ChainRows) -> ChainCheck:
    """Verify the chain of rows read by ``read``: its links, its id sequences and its match
    with the tables."""
    if rows.missing:
        # Nothing to link the rows to: one problem, not one per row.
        problem = f"{rows.missing}, so nothing proves the diary's history"
        return ChainCheck(len(rows.entries), (problem,), damage=(problem,))
    return _check(rows.chain, rows.entries, rows.unblinding, rows.sequences)


def verify(con: sqlite3.Connection) -> ChainCheck:
    """Verify a diary's chain, its id sequences and its match with the tables (``read``
    then ``check``).

    Returns
    -------
    ChainCheck
    """
    return check(read(con))


def _check(chain, entries, unblinding, sequences) -> ChainCheck:  # noqa: C901 (one pass, one list)
    problems: list[str] = []
    damage: list[str] = []
    prev, holds_from, migrated_at = GENESIS, 1, ""
    linked: dict[int, dict[str, Any]] = {}
    unblinding_record = None
    anchors = []
    expected = 1
    for seq, kind, text, link, digest in chain:
        bad = next(
            (f"its {name} is {shown(v)}, not {'a whole number' if name == 'seq' else 'text'}"
             for name, v in zip(COLUMNS, (seq, kind, text, link, digest), strict=True)
             if not isinstance(v, int if name == "seq" else str)),
            None,
        )  # fmt: skip
        if bad is not None:
            damage.append(f"diary record {shown(seq)} of the chain is damaged: {bad}")
            problems.append(damage[-1])
            if isinstance(seq, int):  # its place still counts: no gap is reported for it
                expected = seq + 1
            prev = digest if isinstance(digest, str) else prev
            continue
        if seq != expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
            problems.append(f"diary record {gap} of the chain is missing (deleted)")
        elif link != prev:
            problems.append(f"the diary chain's link before record {seq} is broken")
        try:
            content = decode(kind, text)
        except ValueError as exc:
            content = None
            damage.append(f"diary record {seq} of the chain ({kind}) is damaged: {exc}")
            problems.append(damage[-1])
        if digest != link_hash(link, kind, text):
            problems.append(f"diary record {seq} of the chain ({kind}) was altered")
        # Go on past a break, so that every later record is still matched with its row.
        prev, expected = digest, seq + 1
        if content is None:
            continue
        if kind == "entry":
            linked[content["id"]] = content
        elif kind == "unblinding":
            unblinding_record = content
        elif kind == "protocol":
            anchors.append(content)
        elif kind == "migration":
            holds_from, migrated_at = content["entries_before"] + 1, content["at"]
    last = chain[-1][0] if chain else 0
    if sequences.get("chain", 0) != last:
        problems.append(
            f"the diary chain ends at record {last} but had {sequences.get('chain', 0)}: "
            "its last records were deleted"
        )
    for row_id, content in linked.items():
        stored = entries.get(row_id)
        if stored is None:
            problems.append(f"diary {_describe(content)} was deleted")
        elif any(stored.get(k) != v for k, v in content.items()):
            problems.append(f"diary {_describe(content)} was changed after it was recorded")
    for row_id, stored in entries.items():
        if row_id not in linked:
            problems.append(f"diary {_describe(stored)} was added outside nof1 (not in the chain)")
    ids = sorted(set(entries) | set(linked))
    top = max([*ids, sequences.get("entries", 0)]) if ids or "entries" in sequences else 0
    missing = sorted(set(range(1, top + 1)) - set(entries) - set(linked))
    if missing:
        listed = ", ".join(f"#{i}" for i in missing[:5])
        problems.append(f"diary entries {listed} are missing: the ids have gaps (deleted)")
    if (unblinding is None) != (unblinding_record is None):
        problems.append(
            "the unblinding record was deleted"
            if unblinding is None
            else "the unblinding record was added outside nof1 (not in the chain)"
        )
    elif unblinding is not None and any(
        unblinding.get(k) != v for k, v in unblinding_record.items()
    ):
        problems.append("the unblinding record was changed after it was made")
    return ChainCheck(
        len(entries), tuple(problems), holds_from, migrated_at, tuple(anchors), tuple(damage)
    )

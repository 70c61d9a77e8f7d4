"""A diary read once: every record, the unblinding and the looks, with its chain verified.

``read_view`` reads the whole diary in one read transaction and checks its hash chain on
exactly the rows it read, so what was verified is what every later stage sees: a writer in
another process cannot slip a row in between the check and the analysis. Everything a
reader asks of a diary (the current entries, a day's history, the deviations, the looks)
is then answered from those rows, in memory.

Every row is checked as it is read (``record_from_row``, ``unblinding_from_row``): a value
nof1 would never have stored (outcomes that are not JSON, a date that is not a date, a text
where a number belongs, a NULL) is a ``DamagedDiaryError`` naming the row, the column and
the value, so no command goes on with a diary it cannot read as it was written.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nof1.diary import chain
from nof1.diary.chain import shown
from nof1.diary.entries import (
    ENTRY_COLUMNS,
    GUESSES,
    Entry,
    adherence_text,
    neutralise_text,
    parse_date,
)
from nof1.diary.records import Look, Record, Unblinding
from nof1.diary.schema import damaged
from nof1.plan.files import check_output, write_output
from nof1.plan.sealing import Allocation
from nof1.plan.signing import code

if TYPE_CHECKING:
    import pandas as pd


#: The chain records only the helper may make (``nof1.diary.signed``).
HELPER_KINDS = ("unblinding", "look", "look-refused")


@dataclass(frozen=True)
class HelperRecord:
    """A chain record only the helper may make, as stored: its place, kind, content and the
    hash of the chain record before it."""

    seq: int
    kind: str
    content: dict[str, Any]
    prev: str


@dataclass(frozen=True)
class DiaryView:
    """Everything one diary held when it was read, and its chain as verified then.

    Parameters
    ----------
    path : the diary file.
    outcomes : the protocol's outcome names, in order (the columns of ``export_frame``).
    records : every record, corrections included, by date then recording order.
    chain : the hash chain as verified over exactly these rows (``nof1.diary.chain``).
    unblinding_record : the unblinding, None while blinded.
    tables : every table of the file and its columns, as its own schema says.
    helper_records : the records only the helper may make (unblinding, looks, refused
        looks), in chain order, for ``nof1.diary.signed`` to check.
    """

    path: Path
    outcomes: tuple[str, ...]
    records: tuple[Record, ...]
    chain: chain.ChainCheck
    unblinding_record: Unblinding | None
    tables: dict[str, tuple[str, ...]]
    helper_records: tuple[HelperRecord, ...]

    def refuse_damaged(self) -> None:
        """Refuse a diary whose chain itself is damaged (``ChainCheck.damage``): a reading
        command shows nothing from it, as from any other damaged diary. A chain that merely
        does not hold (a record changed) is only warned about; the report shows both in red.

        Raises
        ------
        DamagedDiaryError : naming every piece of damage.
        """
        if self.chain.damage:
            raise damaged(self.path, "; ".join(self.chain.damage))

    def current_entries(
        self, without_deviations: bool = False, without_late: bool = False
    ) -> list[Record]:
        """The latest record of every recorded day, by date.

        ``without_deviations``: as the diary stood before unblinding, ignoring every record
        made after it (a day then keeps its latest earlier record, or has none).
        ``without_late``: ignoring every late entry (``Record.late``: made more than
        ``RECALL_DAYS`` after its day), in the same way.
        """
        if not (without_deviations or without_late):
            return [r for r in self.records if r.current]
        latest = {
            r.entry.date: r
            for r in self.records
            if not (without_deviations and r.deviation is not None)
            and not (without_late and r.late)
        }
        return list(latest.values())

    def late_entries(self) -> list[Record]:
        """The current records that are late entries (made more than ``RECALL_DAYS`` after
        their day: an import or a correction), by date: what a result includes of them."""
        return [r for r in self.records if r.current and r.late]

    def deviations(self) -> list[Record]:
        """The records made after unblinding (``--after-unblinding``), in recording order."""
        return sorted((r for r in self.records if r.deviation is not None), key=lambda r: r.id)

    def history(self, day: str | date) -> list[Record]:
        """Every record of one day, oldest first (the last one is current)."""
        d = parse_date(day)
        return [r for r in self.records if r.entry.date == d]

    def all_records(self) -> list[Record]:
        """Every record, corrections included, by date then recording order."""
        return list(self.records)

    def recall_days(self) -> set[date]:
        """Days whose first entry was a recall entry (recorded later, from memory)."""
        return {r.entry.date for r in self.records if r.supersedes is None and r.recall}

    def looks(self) -> tuple[Look, ...]:
        """Every interim look recorded, oldest first (a repeated look appears each time),
        signed or not: ``nof1.diary.signed`` says which nof1 may act on."""
        return tuple(look_from_content(r.content) for r in self.helper_records if r.kind == "look")

    def unblinding(self) -> Unblinding | None:
        """The unblinding record, or None while the trial is blinded."""
        return self.unblinding_record

    def allocation(self) -> Allocation | None:
        """The revealed allocation, or None before unblinding."""
        u = self.unblinding_record
        return None if u is None else Allocation(arms=u.arms, salt=u.salt)

    def export_frame(self) -> pd.DataFrame:
        """Every record as a table; never an arm, whether unblinded or not.

        Returns
        -------
        DataFrame with columns ``id``, ``date`` (ISO text), one column per protocol outcome
        (float, NaN when missing), ``guess``, ``adherence`` ("yes", "no", the share of the
        doses taken such as "0.75", or ""), ``note``,
        ``recorded_at`` (UTC ISO), ``supersedes`` (id or <NA>), ``current`` (1 for the
        latest record of its day, 0 for a superseded one).
        """
        import pandas as pd  # here: record, status and import start faster without it

        rows = []
        for r in self.records:
            row: dict[str, object] = {"id": r.id, "date": r.entry.date.isoformat()}
            row.update({name: r.entry.values.get(name, math.nan) for name in self.outcomes})
            row["guess"] = r.entry.guess or ""
            row["adherence"] = adherence_text(r.entry.adherence)
            row["note"] = r.entry.note
            row["recorded_at"] = r.recorded_at.isoformat()
            row["supersedes"] = r.supersedes
            row["current"] = int(r.current)
            rows.append(row)
        columns = [
            "id", "date", *self.outcomes, *ENTRY_COLUMNS, "recorded_at", "supersedes", "current"
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=columns)
        frame["supersedes"] = frame["supersedes"].astype("Int64")
        return frame

    def export_csv(self, path: str | Path, force: bool = False) -> int:
        """Write ``export_frame()`` to ``path`` as CSV, readable by its owner only (0600).

        Notes that a spreadsheet would run as a formula (starting with ``= + - @``, a tab
        or a carriage return) get a leading ``'`` (``entries.neutralise_text``); importing
        the file removes it again. The write is atomic: a failure leaves no file.

        Parameters
        ----------
        path : the CSV file; never one of a trial's own files.
        force : replace ``path`` if it exists.

        Returns
        -------
        int : the number of rows written.

        Raises
        ------
        OutputError : ``path`` is a trial's file, exists without ``force``, or cannot be
            written.
        """
        check_output(path, force=force, what="export")
        frame = self.export_frame()
        frame["note"] = frame["note"].map(neutralise_text)
        text = frame.to_csv(index=False, lineterminator="\n")
        write_output(path, text.encode("utf-8"), force=force, what="export")
        return len(frame)


#: Columns whose stored value an error never shows (the revealed allocation and its salt).
_UNSHOWN = ("arms", "salt")


class _Row:
    """One stored row, read column by column: a value that is not what nof1 stores raises
    ``DamagedDiaryError`` naming the row (``where``), the column and the value."""

    def __init__(self, row: dict[str, Any], path: Path, where: str) -> None:
        self.row, self.path, self.where = row, path, where

    def bad(self, column: str, expected: str) -> Exception:
        value = self.row.get(column)
        if column in _UNSHOWN:
            return damaged(self.path, f"{self.where}: {column} is not {expected}")
        if value is None:
            return damaged(self.path, f"{self.where}: {column} is NULL, not {expected}")
        return damaged(self.path, f"{self.where}: {column} {shown(value)} is not {expected}")

    def text(self, column: str, null: bool = False) -> str | None:
        value = self.row.get(column)
        if isinstance(value, str) or (null and value is None):
            return value
        raise self.bad(column, "text")

    def whole(self, column: str, null: bool = False) -> int | None:
        value = self.row.get(column)
        if isinstance(value, int) or (null and value is None):
            return value
        raise self.bad(column, "a whole number")

    def flag(self, column: str, null: bool = False, default: int | None = None) -> bool | None:
        value = self.row.get(column, default)
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        if null and value is None:
            return None
        raise self.bad(column, "0, 1 or NULL" if null else "0 or 1")

    def share(self, column: str) -> float | None:
        """A share from 0 to 1 (partial adherence: 0.5, 0.75), or NULL."""
        value = self.row.get(column)
        if value is None:
            return None
        if isinstance(value, int | float) and 0 <= value <= 1:
            return float(value)
        raise self.bad(column, "a share from 0 to 1 or NULL")

    def time(self, column: str) -> datetime:
        value = self.row.get(column)
        if chain.is_utc_time(value):
            return datetime.fromisoformat(value)
        raise self.bad(column, "a UTC time (ISO 8601)")

    def json(self, column: str, kind: type, expected: str) -> Any:
        value = self.text(column)
        try:
            parsed = json.loads(value)
        except ValueError:
            raise self.bad(column, "JSON") from None
        if not isinstance(parsed, kind):
            raise self.bad(column, expected)
        return parsed


def record_from_row(row: dict[str, Any], path: Path) -> Record:
    """A ``Record`` from a row of ``entries`` (a dict of every column); ``current`` is
    filled in by the caller, who knows which rows were superseded.

    Raises
    ------
    DamagedDiaryError : a column holds what nof1 never stores (naming it and the value).
    """
    r = _Row(row, path, f"entry {shown(row.get('id'))}")
    row_id = r.whole("id")
    r.where = f"entry #{row_id}"
    day_text = r.text("date")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise r.bad("date", "a date (YYYY-MM-DD)") from None
    r.where = f"entry #{row_id} ({day})"
    values = r.json("outcomes", dict, "a JSON object of outcome values")
    for name, value in values.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise damaged(path, f"{r.where}: outcome {name!r} holds {shown(value)}, not a number")
    guess = r.text("guess", null=True)
    if guess is not None and guess not in GUESSES:
        raise r.bad("guess", "A, B, unsure or NULL")
    return Record(
        id=row_id,
        entry=Entry(
            date=day,
            values=values,
            guess=guess,
            adherence=r.share("adherence"),
            note=r.text("note"),
        ),
        recorded_at=r.time("recorded_at"),
        supersedes=r.whole("supersedes", null=True),
        current=True,
        recall=r.flag("recall"),
        deviation=r.text("deviation", null=True),
        late=r.flag("late", default=0),  # a diary read as it is, before schema 4, has none
    )


def unblinding_from_row(row: dict[str, Any], path: Path) -> Unblinding:
    """An ``Unblinding`` from the row of the ``unblinding`` table (a dict of its columns,
    which is also the content of its chain record).

    Raises
    ------
    DamagedDiaryError : a column holds what nof1 never stores. The arms and the salt are
        named, never shown.
    """
    r = _Row(row, path, "the unblinding record")
    arms = r.json("arms", list, "a JSON list of arms")
    if not all(isinstance(arm, str) for arm in arms):
        raise r.bad("arms", "a JSON list of arms")
    r.text("salt")
    for column in ("head", "signature"):
        r.text(column, null=True)
    return Unblinding(
        r.time("unblinded_at"),
        r.flag("early"),
        r.text("reason"),
        tuple(arms),
        row["salt"],
        code("unblinding", row),
    )


def look_from_content(content: dict[str, Any]) -> Look:
    """A ``Look`` from the content of a chain record of kind ``look`` (as
    ``chain.decode`` checked it)."""
    at = datetime.fromisoformat(content["at"])
    return Look(
        content["look"], content["after_block"], content["decision"], at, code("look", content)
    )


def read_view(con: sqlite3.Connection, path: Path, outcomes: tuple[str, ...]) -> DiaryView:
    """Read a whole diary once and verify its chain on the rows read (``DiaryView``).

    Raises
    ------
    DamagedDiaryError : a row holds what nof1 never stores, or SQLite cannot read the file
        (a damaged page).
    """
    try:
        rows = chain.read(con)
    except sqlite3.DatabaseError as exc:
        raise damaged(path, f"SQLite cannot read it ({exc})") from None
    records = sorted(
        (record_from_row(e, path) for e in rows.entries.values()),
        key=lambda r: (r.entry.date, r.id),
    )
    superseded = {r.supersedes for r in records} - {None}
    records = [replace(r, current=False) if r.id in superseded else r for r in records]
    u = rows.unblinding
    unblinding = None if u is None else unblinding_from_row(u, path)
    helper = []
    for seq, kind, text, prev, _ in rows.chain:
        if kind not in HELPER_KINDS or not isinstance(seq, int) or not isinstance(prev, str):
            continue
        try:
            content = chain.decode(kind, text)
        except ValueError:
            continue  # damaged: the chain's check says so, and nof1 never acts on it
        helper.append(HelperRecord(seq, kind, content, prev))
    return DiaryView(
        path, outcomes, tuple(records), chain.check(rows), unblinding, rows.tables, tuple(helper),
    )  # fmt: skip

"""The anonymise stage: an unblinded trial as a series that can be pooled with others.

The export follows an allow-list, never a deny-list: every field of ``protocol.toml`` and
of the diary must be known here, either as something exported (outcome scores, the arm,
the design position of each day) or as something deliberately dropped (notes, dates, kit
labels, timestamps, treatment descriptions, free text). A field this module does not know
stops the export with a ``DataError`` naming it, so a later version of the diary that
grows, say, a ``location`` column cannot leak it silently.

The file format, "nof1-anonymised" version 1, is described in ``docs/anonymised-format.md``.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nof1.analysis.series import SCHEMES, trial_table
from nof1.diary.entries import takes_a_dose
from nof1.errors import BlindingError, DataError
from nof1.plan.files import check_output, write_output
from nof1.plan.protocol import PROTOCOL_FILE
from nof1.trial.handle import Trial, as_trial
from nof1.trial.integrity import verify_trial
from nof1.trial.monitoring import read_monitoring

if TYPE_CHECKING:
    from nof1.design.simulate import SimulatedTrial

FORMAT = "nof1-anonymised"
FORMAT_VERSION = 1
#: Columns of an anonymised file before the outcome columns, in order.
LEAD_COLUMNS = ("series_id", "format_version", "day", "block", "period", "arm", "washout", "run_in")
#: Columns after the outcome columns.
TAIL_COLUMNS = ("guess", "adherence")
#: Names an outcome may not take, as they would collide with the fixed columns.
RESERVED = frozenset(LEAD_COLUMNS + TAIL_COLUMNS)

# ---- the allow-list: every field nof1 knows, and what happens to it
# protocol.toml, by section: the keys exported (in the header) or deliberately dropped.
_PROTOCOL_FIELDS: dict[str, frozenset[str]] = {
    "nof1": frozenset({"format_version", "created", "template", "upgraded"}),
    "trial": frozenset({"title", "condition", "blinded", "rationale"}),
    "design": frozenset(
        {"scheme", "blocks", "period_days", "washout_days", "run_in_days", "rationale"}
    ),
    "analysis": frozenset(
        {"prior", "mcid", "threshold", "engine", "ar1", "trend", "carryover", "exclude_washout"}
    ),
    "safety": frozenset({"notes"}),
    "schedule": frozenset({"start", "end", "periods"}),
    "blinding": frozenset({"commitment", "commitment_method", "sealed_sha256", "helper_key"}),
    "commitment": frozenset({"sha256", "method"}),
    # A sequential trial's stopping rule and its design simulation: no personal data, and
    # not part of the pooled series (dropped). The looks' decisions live in the diary's
    # chain, whose records are never exported.
    "sequential": frozenset(
        {"looks", "efficacy", "futility", "shape", "false_positive_target", "simulated"}
    ),
}
_TREATMENT_FIELDS = frozenset({"name", "description", "doses_per_day", "dose_unit"})
_PERIOD_FIELDS = frozenset({"period", "block", "start", "end", "washout_days", "kit", "arm"})
#: Outcome fields: name, kind, bounds, direction, primary and role are exported; label and
#: question (free text a patient may have edited) are dropped.
_OUTCOME_FIELDS = frozenset(
    {"name", "label", "question", "kind", "low", "high", "lower_is_better", "primary", "role"}
)
_OUTCOME_KINDS = frozenset({"scale", "binary"})
# The diary (SQLite): tables and columns. Exported: outcome values, guess, adherence and the
# revealed arms; dropped: ids, dates (become day numbers), notes, timestamps, reasons, salt,
# the recall and late marks (data-quality flags of the diary, not part of the pooled
# series), the unblinding's chain head and signature.
_DIARY_TABLES: dict[str, frozenset[str]] = {
    "entries": frozenset(
        {
            "id",
            "date",
            "outcomes",
            "guess",
            "adherence",
            "note",
            "recorded_at",
            "supersedes",
            "recall",
            "deviation",
            "late",
        }
    ),
    "unblinding": frozenset(
        {"id", "unblinded_at", "early", "reason", "arms", "salt", "head", "signature"}
    ),
    "chain": frozenset({"seq", "kind", "content", "prev", "hash"}),
    "sqlite_sequence": frozenset({"name", "seq"}),
}
# trial_table's columns: ``date`` and ``kit`` are dropped, the rest exported.
_TABLE_DROPPED = frozenset({"date", "kit"})
_TABLE_KEPT = frozenset(
    {"day", "block", "period", "arm", "washout", "run_in", "guess", "adherence"}
)


@dataclass(frozen=True)
class OutcomeMeta:
    """What a pooled analysis needs to know about an outcome column (no free text).

    Parameters
    ----------
    name : column name.
    kind : ``"scale"`` or ``"binary"``.
    low, high : bounds of the scale.
    lower_is_better : direction: True when a lower score is better (pain).
    primary : the protocol's primary outcome.
    role : ``"efficacy"`` or ``"side-effect"``.
    """

    name: str
    kind: str
    low: float
    high: float
    lower_is_better: bool
    primary: bool
    role: str

    def header_line(self) -> str:
        """The ``# outcome: ...`` header line of this outcome."""
        return (
            f"# outcome: {self.name} kind={self.kind} low={self.low:g} high={self.high:g} "
            f"lower_is_better={int(self.lower_is_better)} primary={int(self.primary)} "
            f"role={self.role}"
        )


def anonymise_trial(trial: Trial | str | Path) -> pd.DataFrame:
    """The anonymised day-by-day table of one unblinded trial.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.

    Returns
    -------
    pandas.DataFrame, one row per protocol day (run-in included), columns

    - ``series_id`` (str): 16 random hex digits from ``secrets``, new on every call;
    - ``format_version`` (int): 1;
    - ``day`` (int): days since the first day of the trial (0-based);
    - ``block``, ``period`` (int): 1-based, 0 on run-in days;
    - ``arm`` (str): ``"A"`` (active) or ``"B"`` (control), ``""`` on run-in days;
    - ``washout``, ``run_in`` (int 0/1);
    - one float column per protocol outcome (NaN when not recorded);
    - ``guess`` (``"A"``, ``"B"``, ``"unsure"`` or ``""``; always ``""`` on a day without a
      kit), ``adherence`` (the share of the day's doses taken, 0 to 1, or <NA>; always <NA>
      on a day without doses).

    ``frame.attrs`` holds ``format`` ("nof1-anonymised"), ``format_version``, ``scheme``
    (the randomization scheme) and ``outcomes`` (a tuple of ``OutcomeMeta``).

    Raises
    ------
    IntegrityError : the folder does not match its commitments (``nof1.trial.integrity``).
    ProtocolError : no trial in the folder.
    BlindingError : the trial is blinded and not unblinded yet.
    DataError : the protocol or the diary holds a field this module does not know how to
        anonymise, or an outcome named like a fixed column.

    Example
    -------
    >>> frame = anonymise_trial("mytrial")  # doctest: +SKIP
    >>> write_anonymised(frame, "pool/mine.csv")  # doctest: +SKIP
    """
    trial = as_trial(trial)
    verify_trial(trial, action="export")
    protocol = trial.protocol
    check_known_fields(trial)
    for o in protocol.outcomes:
        if o.name in RESERVED:
            raise DataError(f"outcome {o.name!r} has the name of a fixed anonymised column")
    table = trial_table(trial)
    monitoring = read_monitoring(trial)
    if monitoring is not None:
        # A trial stopped at an interim look was never run past it: its series ends there,
        # as its own final analysis does.
        table = table[monitoring.analysed(table["block"])].reset_index(drop=True)
    unknown = (
        set(table.columns) - _TABLE_DROPPED - _TABLE_KEPT - {o.name for o in protocol.outcomes}
    )
    if unknown:
        raise DataError(
            f"the trial table has column(s) {', '.join(sorted(unknown))} that the anonymised "
            "export does not know how to anonymise"
        )
    treated = ~table["run_in"]
    if table.loc[treated, "arm"].isna().any():
        raise BlindingError(
            "the trial is still blinded: run `nof1 unblind` before an anonymised export"
        )
    frame = pd.DataFrame(
        {
            "series_id": secrets.token_hex(8),
            "format_version": FORMAT_VERSION,
            "day": table["day"].to_numpy(dtype=np.int64),
            "block": table["block"].fillna(0).to_numpy(dtype=np.int64),
            "period": table["period"].fillna(0).to_numpy(dtype=np.int64),
            "arm": np.where(treated, table["arm"].fillna("").to_numpy(dtype=object), ""),
            "washout": table["washout"].to_numpy(dtype=np.int64),
            "run_in": table["run_in"].to_numpy(dtype=np.int64),
        }
    )
    for o in protocol.outcomes:
        frame[o.name] = table[o.name].to_numpy(dtype=float)
    # A guess or an adherence on a day without a kit (run-in; any guess of an open-label
    # trial; a day on a treatment without doses) is refused when recorded, but a diary of
    # an older nof1 may hold one: it is dropped, never exported.
    guessable = treated.to_numpy() & protocol.blinded
    dosed = np.array([takes_a_dose(protocol, d) for d in table["date"].dt.date], dtype=bool)
    frame["guess"] = np.where(guessable, table["guess"].fillna("").to_numpy(dtype=object), "")
    frame["adherence"] = table["adherence"].astype("Float64").where(dosed).to_numpy()
    frame.attrs.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        scheme=protocol.scheme,
        outcomes=tuple(
            OutcomeMeta(
                o.name, o.kind, float(o.low), float(o.high), o.lower_is_better, o.primary, o.role
            )
            for o in protocol.outcomes
        ),
    )
    return frame


def check_known_fields(trial: Trial | str | Path) -> None:
    """Refuse a trial whose protocol or diary holds a field the export does not know.

    Parameters
    ----------
    trial : the trial (``nof1.trial.handle.open_trial``) or its folder.

    Raises
    ------
    DataError : naming the first unknown section, key, table or column.
    """
    trial = as_trial(trial)
    data = trial.document
    for section, value in data.items():
        if section == "treatments":
            for arm, fields in value.items():
                _refuse_unknown(fields, _TREATMENT_FIELDS, f"{PROTOCOL_FILE} [treatments.{arm}]")
        elif section == "outcomes":
            for i, fields in enumerate(value, start=1):
                _refuse_unknown(fields, _OUTCOME_FIELDS, f"{PROTOCOL_FILE} outcome {i}")
                kind = fields.get("kind", "scale")
                if kind not in _OUTCOME_KINDS:
                    raise DataError(
                        f"outcome {fields.get('name')!r} is of kind {kind!r}, which the "
                        "anonymised export does not know how to anonymise"
                    )
        elif section in _PROTOCOL_FIELDS:
            _refuse_unknown(value, _PROTOCOL_FIELDS[section], f"{PROTOCOL_FILE} [{section}]")
            if section == "schedule":
                for fields in value.get("periods", []):
                    _refuse_unknown(fields, _PERIOD_FIELDS, f"{PROTOCOL_FILE} [schedule.periods]")
        else:
            raise DataError(
                f"{PROTOCOL_FILE} has a section [{section}] that the anonymised export does "
                "not know how to anonymise"
            )
    diary = trial.diary
    if diary is None:
        return
    outcomes = {o["name"] for o in data.get("outcomes", [])}
    # The file's real schema, as read with the diary, not the columns the diary code
    # happens to select.
    for table, columns in diary.tables.items():
        if table not in _DIARY_TABLES:
            raise DataError(
                f"the diary has a table {table!r} that the anonymised export does not "
                "know how to anonymise"
            )
        _refuse_unknown(dict.fromkeys(columns), _DIARY_TABLES[table], f"diary table {table!r}")
    extra = {name for r in diary.records for name in r.entry.values} - outcomes
    if extra:
        raise DataError(
            f"the diary holds values for {', '.join(sorted(extra))}, which the "
            "protocol does not list; the anonymised export does not know how to "
            "anonymise them"
        )


def _refuse_unknown(fields: dict, known: frozenset[str], where: str) -> None:
    extra = sorted(set(fields) - known)
    if extra:
        raise DataError(
            f"{where} has field {extra[0]!r}, which the anonymised export does not know how "
            "to anonymise"
        )


def to_csv_text(frame: pd.DataFrame) -> str:
    """The text of an anonymised file: header comment lines, then the CSV table.

    Parameters
    ----------
    frame : a table from ``anonymise_trial`` (``attrs`` must hold its metadata).

    Returns
    -------
    str : the file's content.

    Raises
    ------
    DataError : the frame lacks the anonymised metadata.
    """
    outcomes = frame.attrs.get("outcomes")
    if frame.attrs.get("format") != FORMAT or not outcomes:
        raise DataError("the table is not an anonymised series (use anonymise_trial)")
    scheme = frame.attrs.get("scheme", "block")
    if scheme not in SCHEMES:
        raise DataError(f"unknown randomization scheme {scheme!r}")
    lines = [
        f"# format: {FORMAT}",
        f"# format_version: {FORMAT_VERSION}",
        f"# scheme: {scheme}",
        *(o.header_line() for o in outcomes),
    ]
    body = io.StringIO()
    frame.to_csv(body, index=False, lineterminator="\n", float_format="%.10g")
    return "\n".join(lines) + "\n" + body.getvalue()


def write_anonymised(frame: pd.DataFrame, path: str | Path, force: bool = False) -> int:
    """Write an anonymised table to ``path``, readable by its owner only (mode 0600).

    The write is atomic: a failure leaves no file behind. ``path`` is never one of a
    trial's own files; an existing file is replaced only with ``force``.

    Returns
    -------
    int : the number of data rows written.

    Raises
    ------
    DataError : the frame is not an anonymised table.
    OutputError : ``path`` is a trial's file, exists without ``force``, or cannot be written.
    """
    text = to_csv_text(frame)
    write_output(path, text.encode("utf-8"), force=force, what="anonymised export")
    return len(frame)


def export_anonymised(trial: Trial | str | Path, path: str | Path, force: bool = False) -> int:
    """Anonymise a trial and write it (what ``nof1 export --anonymise FILE`` does).

    Parameters
    ----------
    trial : the unblinded trial (``open_trial``) or its folder.
    path : the CSV file to write (mode 0600); checked before the trial is read.
    force : replace ``path`` if it exists.

    Returns
    -------
    int : the number of rows (protocol days) written.

    Raises
    ------
    As ``anonymise_trial`` and ``write_anonymised``; nothing is written on error.
    """
    check_output(path, force=force, what="anonymised export")
    return write_anonymised(anonymise_trial(trial), path, force=force)


#: The primary outcome of simulated trials (``nof1.design.simulate``): pain on a 0-10 NRS.
SIMULATED_PAIN = OutcomeMeta("pain", "scale", 0.0, 10.0, True, True, "efficacy")


def anonymise_simulated(trials: Sequence[SimulatedTrial]) -> pd.DataFrame:
    """Simulated trials as one anonymised table (for tests, benchmarks and examples).

    Parameters
    ----------
    trials : ``nof1.design.simulate.SimulatedTrial`` objects (their ``frame`` is used).

    Returns
    -------
    pandas.DataFrame in the layout of ``anonymise_trial``, the trials one after the other,
    each under its own random ``series_id``; ``attrs`` describe pain on 0-10. Simulated pain
    beyond the scale is clipped to 0-10, as a patient's diary would hold it (it refuses
    anything else), so the table pools as a real export does.

    Example
    -------
    >>> from nof1.design.simulate import simulate_pool
    >>> table = anonymise_simulated(simulate_pool(3, mu=-1.0, tau_between=0.5, rng=0))
    >>> table["series_id"].nunique()
    3
    """
    parts = []
    for t in trials:
        f = t.frame
        run_in = f["run_in"].to_numpy(dtype=bool)
        parts.append(
            pd.DataFrame(
                {
                    "series_id": secrets.token_hex(8),
                    "format_version": FORMAT_VERSION,
                    "day": f["day"].to_numpy(dtype=np.int64) - int(f["day"].iloc[0]),
                    "block": f["block"].to_numpy(dtype=np.int64),
                    "period": f["period"].to_numpy(dtype=np.int64),
                    "arm": np.where(run_in, "", f["arm"].fillna("").to_numpy(dtype=object)),
                    "washout": f["washout"].to_numpy(dtype=np.int64),
                    "run_in": run_in.astype(np.int64),
                    "pain": np.clip(
                        f["pain"].to_numpy(dtype=float), SIMULATED_PAIN.low, SIMULATED_PAIN.high
                    ),
                    "guess": np.where(run_in, "", f["guess"].fillna("").to_numpy(dtype=object)),
                    # No kit on a run-in day, so no adherence (as in a trial's export).
                    "adherence": np.where(run_in, np.nan, f["adherence"].to_numpy(dtype=float)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    scheme = trials[0].series.scheme if trials else "block"
    frame.attrs.update(
        format=FORMAT, format_version=FORMAT_VERSION, scheme=scheme, outcomes=(SIMULATED_PAIN,)
    )
    return frame

"""The protocol: what a trial compares, on which days, and how it will be analysed.

``Protocol`` is a concrete trial: treatments A and B, dated periods in blocks with their kit
labels, the outcomes, the pre-registered analysis, the commitment to a random allocation
that stays sealed (``nof1.plan.sealing``) and, for a sequential trial, its stopping rule
(``nof1.plan.stopping``). ``protocol.toml`` in the trial folder is its public,
human-readable record: ``protocol_to_toml`` writes it, ``load_protocol`` reads it back. It
never holds the allocation of a blinded trial.

The sections a template shares with ``protocol.toml`` are read by ``nof1.plan.sections``
(their dataclasses, ``Treatment``, ``Outcome`` and ``Analysis``, are re-exported here), so
that making a new protocol (``nof1.plan.templates``) and reading one back use the same
checks; every value's type and range is checked by ``nof1.plan.checks``, and a bad edit is
an error naming the key and the value, with a note when the file no longer matches its own
commitment. The commitment over the whole document is ``nof1.plan.registration``; the
calendar read off the periods is ``nof1.plan.calendar``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from nof1.errors import ProtocolError
from nof1.plan.checks import MAX_BLOCKS, MAX_PERIOD_DAYS, Fields, load_toml
from nof1.plan.checks import SCHEMES as SCHEMES
from nof1.plan.files import MAX_TOML_BYTES, read_input
from nof1.plan.registration import (
    COMMITMENT_METHOD,
    COMMITMENT_SECTION,
    fingerprint,
    registration_digest,
)
from nof1.plan.sections import (
    ARMS,
    TEMPLATE_SECTIONS,
    Analysis,
    Outcome,
    TradeOff,
    Treatment,
    check_keys,
    parse_analysis,
    parse_decision,
    parse_design,
    parse_outcomes,
    parse_safety,
    parse_treatments,
    parse_trial,
    unknown_keys,
)
from nof1.plan.sections import PRIOR_NAMES as PRIOR_NAMES
from nof1.plan.sections import TRENDS as TRENDS
from nof1.plan.stopping import SequentialRule, parse_rule, rule_to_toml

# SCHEMES, PRIOR_NAMES and TRENDS, the vocabularies a protocol is written in, are defined
# with the checks that use them and re-exported here, where the stages above look for them.

#: How many days back a missed day may still be recorded with ``nof1 record --date``, as a
#: recall entry. Recalled pain agrees less with the pain rated at the time as the recall
#: period grows (Broderick et al. 2008, Pain 139:146-157), so an older day stays missing;
#: for the same reason a trial cannot start further back (``nof1.trial.create.check_start``).
RECALL_DAYS = 3

PROTOCOL_FILE = "protocol.toml"
#: Version 2 added the commitment over the whole protocol (``[commitment]``) and the sealed
#: allocation's SHA-256; version 1 files are still read (``nof1 protocol upgrade``).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

#: The sections nof1 writes itself into protocol.toml, and their keys.
_NOF1_KEYS = {"format_version", "created", "template", "upgraded"}
_SCHEDULE_KEYS = {"start", "end", "periods"}
_PERIOD_KEYS = {"period", "block", "start", "end", "washout_days", "kit", "arm"}
_BLINDING_KEYS = {"commitment", "commitment_method", "sealed_sha256", "helper_key"}
_COMMITMENT_KEYS = {"sha256", "method"}
_PROTOCOL_SECTIONS = TEMPLATE_SECTIONS | {"nof1", "schedule", "blinding", COMMITMENT_SECTION}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Period:
    """One treatment period: its dates (inclusive), block, kit label and washout days."""

    index: int
    block: int
    start: date
    end: date
    washout_days: int
    kit: str

    @property
    def analysis_start(self) -> date:
        """First day counted in the primary analysis (after the washout days)."""
        return self.start + timedelta(days=self.washout_days)

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


@dataclass(frozen=True)
class DayInfo:
    """Where a calendar day falls in the protocol. Never says which arm."""

    date: date
    day: int
    phase: str  # "before", "run-in", "period", "after"
    period: Period | None = None
    washout: bool = False


@dataclass(frozen=True)
class Protocol:
    """A concrete trial protocol. See ``protocol.toml`` for its public form."""

    title: str
    condition: str
    blinded: bool
    treatments: dict[str, Treatment]
    scheme: str
    blocks: int
    period_days: int
    washout_days: int
    run_in_days: int
    start: date
    periods: tuple[Period, ...]
    outcomes: tuple[Outcome, ...]
    analysis: Analysis
    commitment: str = ""
    open_allocation: tuple[str, ...] | None = None
    safety: tuple[str, ...] = ()
    rationale: str = ""
    design_rationale: str = ""
    created: str = ""
    template: str = ""
    sealed_sha256: str = ""
    #: The helper's public key (``nof1.plan.signing``), which verifies the records only the
    #: helper may make; "" for an open-label trial or one made before records were signed.
    helper_key: str = ""
    registration: str = ""
    format_version: int = FORMAT_VERSION
    upgraded: str = ""
    #: Pre-registered interim looks (``nof1.plan.stopping``); None for a fixed-length trial.
    sequential: SequentialRule | None = None
    #: The patient's pre-registered trade-off (``[decision]``); None: pain alone decides.
    decision: TradeOff | None = None

    @property
    def fingerprint(self) -> str:
        """The short form of ``registration`` a clinician keeps ("" when there is none)."""
        return fingerprint(self.registration) if _SHA256.match(self.registration) else ""

    @property
    def end(self) -> date:
        """The last day of the trial."""
        return self.periods[-1].end

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def primary(self) -> Outcome:
        return next(o for o in self.outcomes if o.primary)

    def outcome(self, name: str) -> Outcome:
        """The outcome called ``name``; ProtocolError naming the known ones otherwise."""
        for o in self.outcomes:
            if o.name == name:
                return o
        known = ", ".join(o.name for o in self.outcomes)
        raise ProtocolError(f"unknown outcome {name!r}; this protocol records: {known}")

    def day_info(self, d: date) -> DayInfo:
        """Phase, period and washout flag of a calendar day."""
        day = (d - self.start).days
        if d < self.start:
            return DayInfo(d, day, "before")
        if d > self.end:
            return DayInfo(d, day, "after")
        for p in self.periods:
            if p.contains(d):
                return DayInfo(d, day, "period", p, d < p.analysis_start)
        return DayInfo(d, day, "run-in")


# -------------------------------------------------------------------- protocol.toml I/O


def protocol_to_toml(p: Protocol) -> dict[str, Any]:
    """The public document: everything needed to run and check the trial, no secret."""
    nof1: dict[str, Any] = {
        "format_version": p.format_version,
        "created": p.created,
        "template": p.template,
    }
    if p.upgraded:
        nof1["upgraded"] = p.upgraded
    doc: dict[str, Any] = {
        "nof1": nof1,
        "trial": {
            "title": p.title,
            "condition": p.condition,
            "blinded": p.blinded,
            "rationale": p.rationale,
        },
        "treatments": {
            arm: {
                "name": t.name,
                "description": t.description,
                "doses_per_day": t.doses_per_day,
                "dose_unit": t.dose_unit,
            }
            for arm, t in p.treatments.items()
        },
        "design": {
            "scheme": p.scheme,
            "blocks": p.blocks,
            "period_days": p.period_days,
            "washout_days": p.washout_days,
            "run_in_days": p.run_in_days,
            "rationale": p.design_rationale,
        },
        "outcomes": [asdict(o) for o in p.outcomes],
        "analysis": asdict(p.analysis),
        "safety": {"notes": list(p.safety)},
        **(
            {}
            if p.decision is None
            else {
                "decision": {
                    "threshold": p.decision.threshold,
                    "days_per_point": dict(p.decision.days_per_point),
                }
            }
        ),
        "schedule": {
            "start": p.start,
            "end": p.end,
            "periods": [
                {
                    "period": q.index,
                    "block": q.block,
                    "start": q.start,
                    "end": q.end,
                    "washout_days": q.washout_days,
                    "kit": q.kit,
                    **({"arm": p.open_allocation[q.index - 1]} if p.open_allocation else {}),
                }
                for q in p.periods
            ],
        },
        "blinding": {
            "commitment": p.commitment,
            "commitment_method": "SHA-256 of the canonical JSON {arms, salt} sealed in allocation.sealed",
            **({"sealed_sha256": p.sealed_sha256} if p.sealed_sha256 else {}),
            **({"helper_key": p.helper_key} if p.helper_key else {}),
        },
    }
    if p.sequential is not None:
        doc["sequential"] = rule_to_toml(p.sequential)
    if p.registration:
        doc[COMMITMENT_SECTION] = {"sha256": p.registration, "method": COMMITMENT_METHOD}
    return doc


def read_document(trial_dir: Path | str) -> dict[str, Any]:
    """``protocol.toml`` of a trial folder as parsed TOML, its keys and version checked.

    A ``protocol.toml`` that is a symbolic link is refused rather than followed: it could
    lead to another trial's protocol, and the diary would be recorded under that one.

    Raises
    ------
    ProtocolError : no such folder or file, a symbolic link, not TOML, unknown keys or
        format version.
    """
    trial_dir = Path(trial_dir)
    path = trial_dir / PROTOCOL_FILE
    if not trial_dir.is_dir():
        raise ProtocolError(f"no trial folder at {trial_dir}: create one with `nof1 protocol new`")
    if path.is_symlink():
        raise ProtocolError(
            f"{path} is a symbolic link; nof1 reads only a protocol file itself, never a link "
            "(put the file it points to in its place)"
        )
    if not path.is_file():
        raise ProtocolError(f"no trial at {trial_dir}: {PROTOCOL_FILE} not found")
    try:
        text = read_input(path, MAX_TOML_BYTES, "a protocol.toml", ProtocolError).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read {path}: {exc}") from None
    data = load_toml(text, str(path))
    with _edited(data):
        check_keys(data, _PROTOCOL_SECTIONS, str(path))
        for name, known in (("nof1", _NOF1_KEYS), ("blinding", _BLINDING_KEYS),
                            (COMMITMENT_SECTION, _COMMITMENT_KEYS)):  # fmt: skip
            unknown_keys(data.get(name, {}), known, f"{path} [{name}]")
        version = data.get("nof1", {}).get("format_version")
        if isinstance(version, bool) or version not in READABLE_VERSIONS:
            raise ProtocolError(
                f"{path} has format version {version!r}; this nof1 reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
    return data


@contextmanager
def _edited(document: dict[str, Any]) -> Iterator[None]:
    """Add to a ProtocolError that the file was edited, when it no longer matches its own
    commitment: a protocol.toml that nof1 wrote is never malformed."""
    try:
        yield
    except ProtocolError as exc:
        commitment = document.get(COMMITMENT_SECTION)
        stated = commitment.get("sha256") if isinstance(commitment, dict) else None
        if isinstance(stated, str) and stated != registration_digest(document):
            raise ProtocolError(
                f"{exc} ({PROTOCOL_FILE} was edited after the trial was created: it no longer "
                "matches its own commitment)"
            ) from None
        raise


def load_protocol(trial_dir: Path | str) -> Protocol:
    """Read ``protocol.toml`` from a trial folder.

    The commitment it states is read, not checked: ``nof1.trial.integrity`` checks it.

    Raises
    ------
    ProtocolError : no such folder or file, or the file is not a valid protocol.
    """
    return parse_protocol(read_document(trial_dir), Path(trial_dir) / PROTOCOL_FILE)


def parse_protocol(data: dict[str, Any], path: Path | str = PROTOCOL_FILE) -> Protocol:
    """The ``Protocol`` of a ``protocol.toml`` already read (``read_document``), so that a
    command that also checks the document's commitment parses the file once.

    Parameters
    ----------
    data : the parsed document.
    path : where it was read from, for messages.

    Raises
    ------
    ProtocolError : the document is not a valid protocol.
    """
    with _edited(data):
        return _parse(data, Fields(str(path)))


def _parse(data: dict[str, Any], fields: Fields) -> Protocol:
    trial = parse_trial(data, fields, template=False)
    design = parse_design(data, fields, template=False)
    outcomes = parse_outcomes(fields.required(data, "outcomes", "[[outcomes]]"), fields)
    primary = next(o for o in outcomes if o.primary)
    analysis = parse_analysis(data.get("analysis", {}), fields, primary)
    schedule = fields.table(fields.required(data, "schedule", "[schedule]"), "schedule")
    unknown_keys(schedule, _SCHEDULE_KEYS, f"{fields.document} [schedule]")
    start = fields.day(fields.required(schedule, "start", "schedule.start"), "schedule.start")
    fields.day(fields.required(schedule, "end", "schedule.end"), "schedule.end")
    periods, arms = _periods(schedule, fields, design["blocks"], trial["blinded"])
    nof1 = data["nof1"]
    blinding = fields.table(fields.required(data, "blinding", "[blinding]"), "blinding")
    commitment = data.get(COMMITMENT_SECTION, {})
    rule = None
    if "sequential" in data:
        rule = parse_rule(data["sequential"], fields.document, design["blocks"])
        if rule.efficacy[-1] != analysis.threshold:
            raise fields.error(
                "[sequential]",
                f"the last look's efficacy boundary {rule.efficacy[-1]:g} must be the analysis "
                f"threshold {analysis.threshold:g} (the last look is the final analysis)",
            )
    decision = parse_decision(data.get("decision"), fields, outcomes, analysis.threshold)
    text = fields.text
    return Protocol(
        **{k: trial[k] for k in ("title", "condition", "blinded", "rationale")},
        treatments=parse_treatments(data, fields),
        **{
            k: design[k] for k in ("scheme", "blocks", "period_days", "washout_days", "run_in_days")
        },
        start=start,
        periods=periods,
        outcomes=outcomes,
        analysis=analysis,
        commitment=text(
            fields.required(blinding, "commitment", "blinding.commitment"),
            "blinding.commitment",
            line=True,
        ),
        open_allocation=arms,
        safety=parse_safety(data, fields),
        design_rationale=design["rationale"],
        created=text(nof1.get("created", ""), "nof1.created", line=True),
        template=text(nof1.get("template", ""), "nof1.template", line=True),
        sealed_sha256=text(blinding.get("sealed_sha256", ""), "blinding.sealed_sha256", line=True),
        helper_key=text(blinding.get("helper_key", ""), "blinding.helper_key", line=True),
        registration=text(commitment.get("sha256", ""), "commitment.sha256", line=True),
        format_version=nof1["format_version"],
        upgraded=text(nof1.get("upgraded", ""), "nof1.upgraded", line=True),
        sequential=rule,
        decision=decision,
    )


def _periods(
    schedule: dict[str, Any], fields: Fields, blocks: int, blinded: bool
) -> tuple[tuple[Period, ...], tuple[str, ...] | None]:
    """The dated periods of ``[[schedule.periods]]`` and, for an open-label trial, the arm
    of each. Numbered in order, two to a block, each within the limits of a period; their
    order in time is left to the integrity check, which names an edit, and the report,
    which shows it in red."""
    rows = fields.tables(
        fields.required(schedule, "periods", "schedule.periods"), "schedule.periods", 2 * MAX_BLOCKS
    )
    if len(rows) != 2 * blocks:
        raise fields.error(
            "schedule.periods", f"lists {len(rows)} periods for {blocks} blocks (2 a block)"
        )
    periods, arms = [], []
    for i, r in enumerate(rows):
        key = f"schedule.periods[{i + 1}]"
        unknown_keys(r, _PERIOD_KEYS, f"{fields.document} [[schedule.periods]] #{i + 1}")
        number = fields.whole(
            fields.required(r, "period", f"{key}.period"), f"{key}.period", 1, 2 * blocks
        )
        if number != i + 1:
            raise fields.error(
                f"{key}.period", f"must be {i + 1}: periods are numbered in order, not {number}"
            )
        block = fields.whole(fields.required(r, "block", f"{key}.block"), f"{key}.block", 1, blocks)
        if block != i // 2 + 1:
            raise fields.error(
                f"{key}.block",
                f"must be {i // 2 + 1}: each block holds two periods in order, not {block}",
            )
        first = fields.day(fields.required(r, "start", f"{key}.start"), f"{key}.start")
        last = fields.day(fields.required(r, "end", f"{key}.end"), f"{key}.end")
        days = (last - first).days + 1
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise fields.error(
                key, f"runs {first} to {last}; a period lasts 1-{MAX_PERIOD_DAYS} days"
            )
        washout = fields.whole(
            fields.required(r, "washout_days", f"{key}.washout_days"), f"{key}.washout_days",
            0, days - 1, "days",
        )  # fmt: skip
        kit = fields.text(
            fields.required(r, "kit", f"{key}.kit"), f"{key}.kit", required=True, line=True
        )
        periods.append(Period(number, block, first, last, washout, kit))
        if "arm" in r:
            if blinded:
                raise fields.error(f"{key}.arm", "must not be stated: the trial is blinded")
            arms.append(fields.choice(r["arm"], f"{key}.arm", ARMS))
        elif not blinded:
            raise fields.error(key, "has no arm: an open-label schedule states every period's arm")
    return tuple(periods), (None if blinded else tuple(arms))

"""The protocol: what a trial compares, on which days, and how it will be analysed.

``Protocol`` is a concrete trial: treatments A and B, dated periods in blocks with their kit
labels, the outcomes, the pre-registered analysis, the commitment to a random allocation
that stays sealed (``nof1.plan.sealing``) and, for a sequential trial, its stopping rule
(``nof1.plan.stopping``). ``protocol.toml`` in the trial folder is its public,
human-readable record: ``protocol_to_toml`` writes it, ``load_protocol`` reads it back. It
never holds the allocation of a blinded trial.

The checks of the sections a template shares with ``protocol.toml`` (``check_keys`` and
the ``parse_*`` functions) live here, beside the dataclasses they build, so that making a
new protocol (``nof1.plan.templates``) and reading one back use the same ones. The
commitment over the whole document is ``nof1.plan.registration``; the calendar read off
the periods is ``nof1.plan.calendar``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from nof1.errors import ProtocolError
from nof1.plan.registration import COMMITMENT_METHOD, COMMITMENT_SECTION, fingerprint
from nof1.plan.stopping import SequentialRule, parse_rule, rule_to_toml

# The vocabularies a protocol is written in live here, at the lowest stage that uses them;
# the stages above (series, models, diary) import them from here, never the other way round.
#: Randomization schemes (``nof1.analysis.randomization`` draws and enumerates them).
SCHEMES = ("block", "alternating", "random-pairs")
#: Named priors of the analysis (``nof1.analysis.models.priors`` defines them).
PRIOR_NAMES = ("vague", "neutral", "sceptical")
#: Slow trends the analysis can model (``nof1.analysis.models.regression`` builds them).
TRENDS = ("none", "linear", "block")
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
ARMS = ("A", "B")

# Keys a template may hold, by section. Anything else is a typo worth refusing: a silently
# ignored "washout_day = 7" would change the trial.
_TRIAL_KEYS = {"title", "condition", "blinded", "rationale"}
_TREATMENT_KEYS = {"name", "description", "doses_per_day", "dose_unit"}
_DESIGN_KEYS = {"scheme", "blocks", "period_days", "washout_days", "run_in_days", "rationale"}
_OUTCOME_KEYS = {
    "name",
    "label",
    "question",
    "kind",
    "low",
    "high",
    "lower_is_better",
    "primary",
    "role",
}
_ANALYSIS_KEYS = {
    "prior",
    "mcid",
    "threshold",
    "engine",
    "ar1",
    "trend",
    "carryover",
    "exclude_washout",
}
#: The sections a template may hold; protocol.toml holds them and those nof1 writes itself.
TEMPLATE_SECTIONS = frozenset({
    "trial", "treatments", "design", "outcomes", "analysis", "safety", "sequential",
})  # fmt: skip
_PROTOCOL_SECTIONS = TEMPLATE_SECTIONS | {"nof1", "schedule", "blinding", COMMITMENT_SECTION}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Treatment:
    """One arm: ``A`` is the active treatment, ``B`` the control (placebo or none)."""

    arm: str
    name: str
    description: str
    doses_per_day: int = 1
    dose_unit: str = "capsule"


@dataclass(frozen=True)
class Outcome:
    """A daily outcome. ``kind`` is ``scale`` (numeric, low..high) or ``binary`` (yes/no)."""

    name: str
    label: str
    question: str
    kind: str = "scale"
    low: float = 0.0
    high: float = 10.0
    lower_is_better: bool = True
    primary: bool = False
    role: str = "efficacy"  # or "side-effect": reported per arm in the blinding section


@dataclass(frozen=True)
class Analysis:
    """The pre-registered analysis: fixed before any data exist, stated in protocol.toml.

    ``threshold``: benefit is concluded when P(benefit >= mcid) exceeds it. The Trialist
    experience (Kravitz et al. 2018) is that the decision rule decides the verdict, hence it
    is written down in advance.

    ``carryover``: the effect builds up and fades with a time constant that the analysis
    integrates out (``nof1.analysis.models.exact``); for treatments whose template expects slow
    onset. Excluded washout days then enter as unobserved days, so the modelled exposure
    starts on each kit's first day.
    """

    prior: str = "neutral"
    mcid: float = 1.0
    threshold: float = 0.8
    engine: str = "exact"
    ar1: bool = True
    trend: str = "none"
    carryover: bool = False
    exclude_washout: bool = True


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


# -------------------------------------------------- sections shared with the templates


def check_keys(data: dict[str, Any], sections: frozenset[str], where: str) -> None:
    """Refuse any section or key that a template or ``protocol.toml`` may not hold.

    Parameters
    ----------
    data : the parsed TOML document.
    sections : the top-level sections allowed (``TEMPLATE_SECTIONS`` for a template).
    where : the document, as the error message names it.

    Raises
    ------
    ProtocolError : the first unknown key, with the keys known in its section.
    """
    _unknown(data, sections | {"_source"}, where)
    _unknown(data.get("trial", {}), _TRIAL_KEYS, f"{where} [trial]")
    _unknown(data.get("design", {}), _DESIGN_KEYS, f"{where} [design]")
    _unknown(data.get("analysis", {}), _ANALYSIS_KEYS, f"{where} [analysis]")
    treatments = data.get("treatments", {})
    _unknown(treatments, set(ARMS), f"{where} [treatments]")
    for arm, t in treatments.items():
        _unknown(t, _TREATMENT_KEYS, f"{where} [treatments.{arm}]")
    for i, o in enumerate(data.get("outcomes", [])):
        _unknown(o, _OUTCOME_KEYS, f"{where} [[outcomes]] #{i + 1}")


def _unknown(section: Any, known: set[str] | frozenset[str], where: str) -> None:
    if not isinstance(section, dict):
        raise ProtocolError(f"{where} must be a table of keys, got {section!r}")
    extra = sorted(set(section) - known)
    if extra:
        raise ProtocolError(
            f"unknown key {extra[0]!r} in {where}; known keys: {', '.join(sorted(known))}"
        )


def whole_number(value: Any, what: str) -> int:
    """``value`` if it is an int (not a bool), else a ProtocolError naming ``what``.

    Raises
    ------
    ProtocolError : ``value`` is not a whole number.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be a whole number, got {value!r}")
    return value


def parse_treatments(data: dict[str, Any]) -> dict[str, Treatment]:
    """Treatments A and B from the ``[treatments]`` tables of a document.

    Parameters
    ----------
    data : a parsed template or protocol.toml.

    Returns
    -------
    dict mapping ``"A"`` and ``"B"`` to their ``Treatment``.

    Raises
    ------
    ProtocolError : an arm is missing or unnamed, or its doses_per_day is not 0 or more.
    """
    out = {}
    for arm in ARMS:
        t = data.get("treatments", {}).get(arm)
        if not t or not t.get("name"):
            raise ProtocolError(
                f"the template must describe treatment {arm} ([treatments.{arm}] with a name)"
            )
        doses = whole_number(t.get("doses_per_day", 1), f"treatment {arm} doses_per_day")
        if doses < 0:
            raise ProtocolError(f"treatment {arm} doses_per_day must be 0 or more, got {doses}")
        out[arm] = Treatment(
            arm, t["name"], t.get("description", ""), doses, t.get("dose_unit", "capsule")
        )
    return out


def parse_outcomes(items: list[dict[str, Any]]) -> tuple[Outcome, ...]:
    """The outcomes from the ``[[outcomes]]`` tables of a document, checked together.

    Parameters
    ----------
    items : the ``[[outcomes]]`` tables, in order.

    Returns
    -------
    tuple of ``Outcome`` in the same order.

    Raises
    ------
    ProtocolError : no outcome, a bad name, kind, range or role, a name used twice, or not
        exactly one primary outcome (which must be a scale).
    """
    if not items:
        raise ProtocolError(
            "the template defines no outcomes; at least a primary outcome is needed"
        )
    outcomes = []
    for o in items:
        name = o.get("name", "")
        if not _NAME.match(str(name)):
            raise ProtocolError(f"outcome name {name!r} must be lower-case letters, digits or _")
        kind = o.get("kind", "scale")
        if kind not in ("scale", "binary"):
            raise ProtocolError(f"outcome {name!r} kind {kind!r} must be 'scale' or 'binary'")
        low, high = (
            (0.0, 1.0) if kind == "binary" else (float(o.get("low", 0)), float(o.get("high", 10)))
        )
        if low >= high:
            raise ProtocolError(f"outcome {name!r} range {low:g}-{high:g} is empty")
        role = o.get("role", "efficacy")
        if role not in ("efficacy", "side-effect"):
            raise ProtocolError(
                f"outcome {name!r} role {role!r} must be 'efficacy' or 'side-effect'"
            )
        outcomes.append(
            Outcome(
                name=name,
                label=o.get("label", name),
                question=o.get("question", o.get("label", name)),
                kind=kind,
                low=low,
                high=high,
                lower_is_better=bool(o.get("lower_is_better", True)),
                primary=bool(o.get("primary", False)),
                role=role,
            )
        )
    names = [o.name for o in outcomes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ProtocolError(f"outcome {dupes[0]!r} is defined twice")
    primaries = [o for o in outcomes if o.primary]
    if len(primaries) != 1:
        raise ProtocolError(f"exactly one outcome must be primary, found {len(primaries)}")
    if primaries[0].kind != "scale":
        raise ProtocolError(f"the primary outcome {primaries[0].name!r} must be a scale")
    return tuple(outcomes)


def parse_analysis(a: dict[str, Any]) -> Analysis:
    """The pre-registered analysis from an ``[analysis]`` table, defaults filled in.

    Parameters
    ----------
    a : the ``[analysis]`` table (may be empty).

    Returns
    -------
    Analysis

    Raises
    ------
    ProtocolError : an unknown prior, engine or trend, a flag that is not true or false, a
        non-positive mcid or a threshold outside 0.5-1.
    """
    merged = {**asdict(Analysis()), **a}
    if merged["prior"] not in PRIOR_NAMES:
        raise ProtocolError(
            f"analysis prior {merged['prior']!r} must be one of {', '.join(PRIOR_NAMES)}"
        )
    if merged["engine"] not in ("exact", "mcmc"):
        raise ProtocolError(f"analysis engine {merged['engine']!r} must be 'exact' or 'mcmc'")
    for key in ("ar1", "carryover", "exclude_washout"):
        if not isinstance(merged[key], bool):
            raise ProtocolError(f"analysis {key} {merged[key]!r} must be true or false")
    if merged["trend"] not in TRENDS:
        raise ProtocolError(
            f"analysis trend {merged['trend']!r} must be one of {', '.join(TRENDS)}"
        )
    try:
        mcid, threshold = float(merged["mcid"]), float(merged["threshold"])
    except (TypeError, ValueError):
        raise ProtocolError(
            f"analysis mcid and threshold must be numbers, got {merged['mcid']!r} and {merged['threshold']!r}"
        ) from None
    if mcid <= 0:
        raise ProtocolError(f"analysis mcid must be positive, got {mcid:g}")
    if not 0.5 <= threshold < 1:
        raise ProtocolError(f"analysis threshold must be in 0.5-1, got {threshold:g}")
    return Analysis(**{**merged, "mcid": mcid, "threshold": threshold})


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProtocolError(f"cannot read {path}: {exc}") from None
    check_keys(data, _PROTOCOL_SECTIONS, str(path))
    version = data.get("nof1", {}).get("format_version")
    if version not in READABLE_VERSIONS:
        raise ProtocolError(
            f"{path} has format version {version!r}; this nof1 reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    return data


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
    version = data["nof1"]["format_version"]
    schedule = data.get("schedule", {})
    rows = schedule.get("periods", [])
    try:
        periods = tuple(
            Period(r["period"], r["block"], r["start"], r["end"], r["washout_days"], r["kit"])
            for r in rows
        )
        arms = tuple(r["arm"] for r in rows) if rows and all("arm" in r for r in rows) else None
        design = data["design"]
        trial = data["trial"]
        protocol = Protocol(
            title=trial["title"],
            condition=trial.get("condition", ""),
            blinded=bool(trial["blinded"]),
            treatments=parse_treatments(data),
            scheme=design["scheme"],
            blocks=design["blocks"],
            period_days=design["period_days"],
            washout_days=design["washout_days"],
            run_in_days=design["run_in_days"],
            start=schedule["start"],
            periods=periods,
            outcomes=parse_outcomes(data.get("outcomes", [])),
            analysis=parse_analysis(data.get("analysis", {})),
            commitment=data["blinding"]["commitment"],
            open_allocation=arms,
            safety=tuple(data.get("safety", {}).get("notes", ())),
            rationale=trial.get("rationale", ""),
            design_rationale=design.get("rationale", ""),
            created=data["nof1"].get("created", ""),
            template=data["nof1"].get("template", ""),
            sealed_sha256=str(data["blinding"].get("sealed_sha256", "")),
            helper_key=str(data["blinding"].get("helper_key", "")),
            registration=str(data.get(COMMITMENT_SECTION, {}).get("sha256", "")),
            format_version=version,
            upgraded=str(data["nof1"].get("upgraded", "")),
            sequential=(
                parse_rule(data["sequential"], str(path), design["blocks"])
                if "sequential" in data
                else None
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"{path} is incomplete or malformed (problem at {exc})") from None
    rule = protocol.sequential
    if rule is not None and rule.efficacy[-1] != protocol.analysis.threshold:
        raise ProtocolError(
            f"{path}: the last look's efficacy boundary {rule.efficacy[-1]:g} must be the "
            f"analysis threshold {protocol.analysis.threshold:g} (the last look is the final analysis)"
        )
    if len(protocol.periods) != 2 * protocol.blocks or not protocol.periods:
        raise ProtocolError(
            f"{path} lists {len(protocol.periods)} periods for {protocol.blocks} blocks"
        )
    return protocol

"""The sections a template shares with ``protocol.toml``, and their one set of readers.

``[trial]``, ``[treatments.A]`` and ``[treatments.B]``, ``[design]``, ``[[outcomes]]``,
``[analysis]`` and ``[safety]`` mean the same in a template (``nof1.plan.templates``) and
in a trial's ``protocol.toml`` (``nof1.plan.protocol``), so both are read by the functions
here: every key is known, every value has its type and range checked
(``nof1.plan.checks.Fields``), and an error names the document, the key and the value. The
dataclasses of the shared sections live here with their readers; ``nof1.plan.protocol``
re-exports them with the rest of the protocol.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from nof1.errors import ProtocolError
from nof1.plan.checks import (
    MAX_BLOCKS,
    MAX_DOSES,
    MAX_OUTCOMES,
    MAX_PERIOD_DAYS,
    MAX_RUN_IN_DAYS,
    MAX_SCALE,
    SCHEMES,
    Fields,
    check_design,
)

# The vocabularies a protocol is written in live here, at the lowest stage that uses them;
# the stages above (series, models, diary) import them from nof1.plan.protocol.
#: Named priors of the analysis (``nof1.analysis.models.priors`` defines them).
PRIOR_NAMES = ("vague", "neutral", "sceptical")
#: Slow trends the analysis can model (``nof1.analysis.models.regression`` builds them).
TRENDS = ("none", "linear", "block")
ARMS = ("A", "B")
ENGINES = ("exact", "mcmc")
KINDS = ("scale", "binary")
ROLES = ("efficacy", "side-effect")

# Keys a template may hold, by section. Anything else is a typo worth refusing: a silently
# ignored "washout_day = 7" would change the trial.
_TRIAL_KEYS = {"title", "condition", "blinded", "rationale"}
_TREATMENT_KEYS = {"name", "description", "doses_per_day", "dose_unit"}
_DESIGN_KEYS = {"scheme", "blocks", "period_days", "washout_days", "run_in_days", "rationale"}
_OUTCOME_KEYS = {
    "name", "label", "question", "kind", "low", "high", "lower_is_better", "primary", "role",
}  # fmt: skip
_ANALYSIS_KEYS = {
    "prior", "mcid", "threshold", "engine", "ar1", "trend", "carryover", "exclude_washout",
}  # fmt: skip
_SAFETY_KEYS = {"notes"}
#: The sections a template may hold; protocol.toml holds them and those nof1 writes itself.
TEMPLATE_SECTIONS = frozenset({
    "trial", "treatments", "design", "outcomes", "analysis", "safety", "sequential", "decision",
})  # fmt: skip
_DECISION_KEYS = {"days_per_point", "threshold"}
#: The most days a week a side effect can be more frequent on A: every day.
MAX_DAYS_PER_POINT = 7.0
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: A template's design where it says nothing (``protocol.toml`` states every value).
DESIGN_DEFAULTS = {
    "scheme": "block", "blocks": 4, "period_days": 14, "washout_days": 0, "run_in_days": 0,
}  # fmt: skip


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
class TradeOff:
    """The ``[decision]`` section: what the patient said before the trial.

    Defined here, at the stage that reads it, so that ``Protocol`` can hold it;
    ``nof1.analysis.decision`` re-exports it with the net benefit it gives.

    Parameters
    ----------
    days_per_point : per side-effect outcome (a yes/no outcome of the protocol, by name),
        how many more days a week of it one point less of the primary outcome is worth.
    threshold : the probability P(net benefit > 0) must exceed for "worth continuing"
        (by default the analysis' own threshold).
    """

    days_per_point: dict[str, float]
    threshold: float

    def sentences(self, primary: str = "pain") -> list[str]:
        """The trade-off in the patient's words, one sentence per side effect.

        Example
        -------
        >>> TradeOff({"diarrhoea": 2.0}, 0.8).sentences()
        ['1 point less pain is worth diarrhoea on up to 2 more days a week.']
        """
        return [
            f"1 point less {primary} is worth {name.replace('_', ' ')} on up to {days:g} more "
            f"day{'' if days == 1 else 's'} a week."
            for name, days in self.days_per_point.items()
        ]


def check_keys(data: dict[str, Any], sections: frozenset[str], where: str) -> None:
    """Refuse any section or key that a template or ``protocol.toml`` may not hold.

    Parameters
    ----------
    data : the parsed TOML document.
    sections : the top-level sections allowed (``TEMPLATE_SECTIONS`` for a template).
    where : the document, as the error message names it.

    Raises
    ------
    ProtocolError : a section that is not a table, or the first unknown key, with the keys
        known in its section.
    """
    unknown_keys(data, sections | {"_source"}, where)
    for name, known in (
        ("trial", _TRIAL_KEYS),
        ("design", _DESIGN_KEYS),
        ("analysis", _ANALYSIS_KEYS),
        ("safety", _SAFETY_KEYS),
    ):
        unknown_keys(data.get(name, {}), known, f"{where} [{name}]")
    treatments = data.get("treatments", {})
    unknown_keys(treatments, set(ARMS), f"{where} [treatments]")
    for arm, t in treatments.items():
        unknown_keys(t, _TREATMENT_KEYS, f"{where} [treatments.{arm}]")
    outcomes = data.get("outcomes", [])
    if not isinstance(outcomes, list):
        raise ProtocolError(f"{where} [[outcomes]] must be an array of tables, got {outcomes!r}")
    for i, o in enumerate(outcomes):
        unknown_keys(o, _OUTCOME_KEYS, f"{where} [[outcomes]] #{i + 1}")


def unknown_keys(section: Any, known: set[str] | frozenset[str], where: str) -> None:
    """Refuse a section that is not a table, or holds a key not in ``known``."""
    if not isinstance(section, dict):
        shown = repr(section)
        shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
        raise ProtocolError(f"{where} must be a table of keys, got {shown}")
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


def _section(data: dict[str, Any], name: str, fields: Fields, template: bool) -> Any:
    """A section a template may leave out and protocol.toml must hold."""
    return data.get(name, {}) if template else fields.required(data, name, f"[{name}]")


def parse_trial(data: dict[str, Any], fields: Fields, *, template: bool) -> dict[str, Any]:
    """The ``[trial]`` table's values: title, condition, blinded, rationale.

    A template may leave out the title (``N-of-1 trial``) and ``blinded`` (true);
    ``protocol.toml`` states both.
    """
    trial = fields.table(_section(data, "trial", fields, template), "trial")
    if template:
        title, blinded = trial.get("title", "N-of-1 trial"), trial.get("blinded", True)
    else:
        title = fields.required(trial, "title", "trial.title")
        blinded = fields.required(trial, "blinded", "trial.blinded")
    return {
        "title": fields.text(title, "trial.title", required=True, line=True),
        "condition": fields.text(trial.get("condition", ""), "trial.condition"),
        "blinded": fields.flag(blinded, "trial.blinded"),
        "rationale": fields.text(trial.get("rationale", ""), "trial.rationale"),
    }


def parse_treatments(data: dict[str, Any], fields: Fields) -> dict[str, Treatment]:
    """Treatments A and B from the ``[treatments]`` tables of a document.

    Parameters
    ----------
    data : a parsed template or protocol.toml.
    fields : the document's reader (``nof1.plan.checks.Fields``).

    Returns
    -------
    dict mapping ``"A"`` and ``"B"`` to their ``Treatment``.

    Raises
    ------
    ProtocolError : an arm is missing or unnamed, a value of the wrong type, or
        doses_per_day outside 0-``MAX_DOSES``.
    """
    section = fields.table(data.get("treatments", {}), "treatments")
    out = {}
    for arm in ARMS:
        key = f"treatments.{arm}"
        if arm not in section:
            raise fields.error(key, f"is missing: describe treatment {arm} ([{key}] with a name)")
        t = fields.table(section[arm], key)
        name = fields.required(t, "name", f"{key}.name")
        out[arm] = Treatment(
            arm,
            fields.text(name, f"{key}.name", required=True, line=True),
            fields.text(t.get("description", ""), f"{key}.description"),
            fields.whole(t.get("doses_per_day", 1), f"{key}.doses_per_day", 0, MAX_DOSES, "doses"),
            fields.text(
                t.get("dose_unit", "capsule"), f"{key}.dose_unit", required=True, line=True
            ),
        )
    return out


def parse_design(data: dict[str, Any], fields: Fields, *, template: bool) -> dict[str, Any]:
    """The ``[design]`` table's scheme, blocks, period_days, washout_days, run_in_days and
    rationale, checked against the limits of a design (``nof1.plan.checks.check_design``).

    A template may leave out any (``DESIGN_DEFAULTS``); ``protocol.toml`` states each.

    Raises
    ------
    ProtocolError : a missing value (protocol.toml), a wrong type, or a design beyond the
        limits, naming the key.
    """
    design = fields.table(_section(data, "design", fields, template), "design")
    limits = {
        "blocks": (2, MAX_BLOCKS, "blocks"),
        "period_days": (2, MAX_PERIOD_DAYS, "days"),
        "washout_days": (0, MAX_PERIOD_DAYS - 1, "days"),
        "run_in_days": (0, MAX_RUN_IN_DAYS, "days"),
    }
    out: dict[str, Any] = {}
    for name, (low, high, unit) in limits.items():
        out[name] = fields.whole(_value(design, name, fields, template), f"design.{name}",
                                 low, high, unit)  # fmt: skip
    out["scheme"] = fields.choice(
        _value(design, "scheme", fields, template), "design.scheme", SCHEMES
    )
    try:
        check_design(**out)
    except ProtocolError as exc:
        raise fields.error("[design]", str(exc)) from None
    out["rationale"] = fields.text(design.get("rationale", ""), "design.rationale")
    return out


def _value(design: dict[str, Any], name: str, fields: Fields, template: bool) -> Any:
    if template:
        return design.get(name, DESIGN_DEFAULTS[name])
    return fields.required(design, name, f"design.{name}")


def parse_outcomes(items: Any, fields: Fields) -> tuple[Outcome, ...]:
    """The outcomes from the ``[[outcomes]]`` tables of a document, checked together.

    Parameters
    ----------
    items : the ``[[outcomes]]`` tables, in order.
    fields : the document's reader.

    Returns
    -------
    tuple of ``Outcome`` in the same order.

    Raises
    ------
    ProtocolError : no outcome, a bad name, kind, scale or role, a value of the wrong type,
        a name used twice, or not exactly one primary outcome (which must be a scale).
    """
    items = fields.tables(items, "outcomes", MAX_OUTCOMES)
    if not items:
        raise fields.error("[[outcomes]]", "are missing: at least a primary outcome is needed")
    outcomes = []
    for i, o in enumerate(items):
        key = f"outcomes[{i + 1}]"
        name = fields.text(fields.required(o, "name", f"{key}.name"), f"{key}.name")
        if not _NAME.match(name):
            raise fields.error(
                f"{key}.name", f"{name!r} must be lower-case letters, digits or _ (a letter first)"
            )
        kind = fields.choice(o.get("kind", "scale"), f"{key}.kind", KINDS)
        bounds = (0.0, 1.0) if kind == "binary" else (0.0, 10.0)
        low, high = (
            fields.number(o.get(side, default), f"{key}.{side}", -MAX_SCALE, MAX_SCALE)
            for side, default in zip(("low", "high"), bounds, strict=True)
        )
        if kind == "binary" and (low, high) != (0.0, 1.0):
            raise fields.error(
                key, f"is yes/no: its low and high are 0 and 1, not {low:g}-{high:g}"
            )
        if low >= high:
            raise fields.error(key, f"scale {low:g}-{high:g} is empty: low must be below high")
        label = fields.text(o.get("label", name), f"{key}.label", required=True, line=True)
        outcomes.append(
            Outcome(
                name=name,
                label=label,
                question=fields.text(o.get("question", label), f"{key}.question", required=True),
                kind=kind,
                low=low,
                high=high,
                lower_is_better=fields.flag(
                    o.get("lower_is_better", True), f"{key}.lower_is_better"
                ),
                primary=fields.flag(o.get("primary", False), f"{key}.primary"),
                role=fields.choice(o.get("role", "efficacy"), f"{key}.role", ROLES),
            )
        )
    names = [o.name for o in outcomes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise fields.error("[[outcomes]]", f"define {dupes[0]!r} twice")
    primaries = [o for o in outcomes if o.primary]
    if len(primaries) != 1:
        raise fields.error(
            "[[outcomes]]", f"must have exactly one primary outcome, found {len(primaries)}"
        )
    if primaries[0].kind != "scale":
        raise fields.error("[[outcomes]]", f"primary outcome {primaries[0].name!r} must be a scale")
    return tuple(outcomes)


def parse_analysis(a: Any, fields: Fields, primary: Outcome) -> Analysis:
    """The pre-registered analysis from an ``[analysis]`` table, defaults filled in.

    Parameters
    ----------
    a : the ``[analysis]`` table (may be empty).
    fields : the document's reader.
    primary : the primary outcome: the MCID is at most the width of its scale.

    Returns
    -------
    Analysis

    Raises
    ------
    ProtocolError : an unknown prior, engine or trend, a flag that is not true or false, an
        mcid that is not a finite number above 0 within the primary outcome's scale, or a
        threshold outside 0.5-1.
    """
    merged = {**asdict(Analysis()), **fields.table(a, "analysis")}
    mcid = fields.number(
        merged["mcid"], "analysis.mcid", 0, primary.high - primary.low, above=True,
        why=f"the whole scale of the primary outcome, {primary.low:g}-{primary.high:g}",
    )  # fmt: skip
    threshold = fields.number(merged["threshold"], "analysis.threshold", 0.5, 1)
    if threshold >= 1:
        raise fields.error("analysis.threshold", f"must be below 1, not {threshold:g}")
    return Analysis(
        prior=fields.choice(merged["prior"], "analysis.prior", PRIOR_NAMES),
        mcid=mcid,
        threshold=threshold,
        engine=fields.choice(merged["engine"], "analysis.engine", ENGINES),
        ar1=fields.flag(merged["ar1"], "analysis.ar1"),
        trend=fields.choice(merged["trend"], "analysis.trend", TRENDS),
        carryover=fields.flag(merged["carryover"], "analysis.carryover"),
        exclude_washout=fields.flag(merged["exclude_washout"], "analysis.exclude_washout"),
    )


def parse_safety(data: dict[str, Any], fields: Fields) -> tuple[str, ...]:
    """The ``[safety]`` notes (none when the section is absent)."""
    return fields.texts(
        fields.table(data.get("safety", {}), "safety").get("notes", []), "safety.notes"
    )


def parse_decision(
    section: Any, fields: Fields, outcomes: tuple[Outcome, ...], threshold: float
) -> TradeOff | None:
    """The pre-registered trade-off from a ``[decision]`` table; None when there is none.

    Parameters
    ----------
    section : the ``[decision]`` table, or None when the document has none (the pain-only
        rule of older protocols).
    fields : the document's reader.
    outcomes : the protocol's outcomes: every name in ``days_per_point`` must be one of its
        yes/no outcomes.
    threshold : the analysis' threshold, the default of ``decision.threshold``.

    Returns
    -------
    TradeOff or None

    Raises
    ------
    ProtocolError : an unknown key, an empty ``days_per_point``, a name that is not a
        yes/no outcome of the protocol, a number of days that is not finite, above 0 and
        at most 7 (a week), or a threshold outside 0.5-1.
    """
    if section is None:
        return None
    section = fields.table(section, "decision")
    unknown_keys(section, _DECISION_KEYS, f"{fields.document} [decision]")
    per = fields.table(
        fields.required(section, "days_per_point", "decision.days_per_point"),
        "decision.days_per_point",
    )
    if not per:
        raise fields.error(
            "decision.days_per_point",
            "is empty: name a yes/no outcome (diarrhoea = 2), or leave [decision] out "
            "(pain alone decides)",
        )
    binary = [o.name for o in outcomes if o.kind == "binary"]
    days = {}
    for name, value in per.items():
        key = f"decision.days_per_point.{name}" if _NAME.match(name) else "decision.days_per_point"
        if name not in binary:
            known = ", ".join(binary) if binary else "none"
            raise fields.error(
                key,
                f"names {name!r}, not a yes/no outcome of this protocol (yes/no outcomes: {known})",
            )
        days[name] = fields.number(value, key, 0, MAX_DAYS_PER_POINT, above=True, why="days a week")
    chosen = fields.number(section.get("threshold", threshold), "decision.threshold", 0.5, 1)
    if chosen >= 1:
        raise fields.error("decision.threshold", f"must be below 1, not {chosen:g}")
    return TradeOff(days, chosen)

"""Templates, and the new protocol made from one.

A *template* (``protocols/*.toml``; the built-in ones ship in ``nof1/templates/``) describes
what is compared (treatments A and B), the outcomes, the default design and the
pre-registered analysis. ``protocol_from_template`` checks it with the user's overrides
against the limits of a design and turns it into a dated ``Protocol`` without an
allocation; once ``nof1.trial.create`` has drawn and sealed one, ``with_allocation`` adds
its commitment and the registration over the whole protocol. ``read_template`` checks
every value as ``protocol.toml``'s are checked, by the same readers (``nof1.plan.sections``),
so a template that reads is one a protocol can be made from.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from nof1.errors import ProtocolError

# The limits of a design are re-exported here, where making a protocol meets them.
from nof1.plan.checks import MAX_BLOCKS as MAX_BLOCKS
from nof1.plan.checks import MAX_PERIOD_DAYS as MAX_PERIOD_DAYS
from nof1.plan.checks import MAX_RUN_IN_DAYS as MAX_RUN_IN_DAYS
from nof1.plan.checks import Fields, check_dates, check_design, load_toml
from nof1.plan.files import MAX_TOML_BYTES, read_input
from nof1.plan.protocol import Period, Protocol, protocol_to_toml
from nof1.plan.registration import registration_digest
from nof1.plan.sections import (
    TEMPLATE_SECTIONS,
    check_keys,
    parse_analysis,
    parse_decision,
    parse_design,
    parse_outcomes,
    parse_safety,
    parse_treatments,
    parse_trial,
    whole_number,
)
from nof1.plan.stopping import SequentialRule, parse_rule


def builtin_templates() -> dict[str, Path]:
    """Templates shipped with nof1, by name (``magnesium-crps`` -> its file)."""
    folder = resources.files("nof1") / "templates"
    return {Path(str(f)).stem: Path(str(f)) for f in folder.iterdir() if str(f).endswith(".toml")}


def read_template(template: str | Path) -> dict[str, Any]:
    """Read a template by file path or built-in name, checking every key and value.

    Every value is checked as ``protocol.toml``'s are (``nof1.plan.sections``), so a
    template that reads is one a protocol can be made from; the document is returned as
    parsed, with ``_source`` (its name) added.

    Raises
    ------
    ProtocolError : the file cannot be read, is too large or not TOML, or holds unknown
        keys or bad values (naming the key and the value).
    """
    shown = str(template) if len(str(template)) <= 60 else f"{str(template)[:60]}..."
    if "\x00" in str(template) or not str(template).strip():
        names = ", ".join(sorted(builtin_templates()))
        raise ProtocolError(f"template {shown!r} is not a file name (built-in templates: {names})")
    path = Path(template)
    try:
        path.exists()
    except OSError as exc:  # a name too long: exists() raises instead of saying False
        raise ProtocolError(f"template {shown!r}: {exc.strerror}") from None
    if not path.exists() and str(template) in builtin_templates():
        path = builtin_templates()[str(template)]
    try:
        # utf-8-sig: a byte-order mark an editor (Windows Notepad) put first is not TOML
        raw = read_input(path, MAX_TOML_BYTES, "a template", ProtocolError)
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        names = ", ".join(sorted(builtin_templates()))
        raise ProtocolError(
            f"template {str(template)!r} not found (built-in templates: {names})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"cannot read template {path}: {exc}") from None
    data = load_toml(text, f"template {path}")
    check_keys(data, TEMPLATE_SECTIONS, f"template {path}")
    check_template(data, Fields(f"template {path}"))
    if "sequential" in data:  # a malformed [sequential] table is refused here, not at first use
        parse_rule(data["sequential"], f"template {path}")
    data.setdefault("_source", path.stem)
    return data


def check_template(data: dict[str, Any], fields: Fields) -> None:
    """Check every value of a template as ``protocol.toml``'s are checked.

    Raises
    ------
    ProtocolError : naming the key and the value.
    """
    parse_trial(data, fields, template=True)
    parse_treatments(data, fields)
    parse_design(data, fields, template=True)
    outcomes = parse_outcomes(data.get("outcomes", []), fields)
    analysis = parse_analysis(
        data.get("analysis", {}), fields, next(o for o in outcomes if o.primary)
    )
    parse_safety(data, fields)
    parse_decision(data.get("decision"), fields, outcomes, analysis.threshold)


def build_periods(
    start: date, blocks: int, period_days: int, washout_days: int, run_in_days: int
) -> tuple[Period, ...]:
    """Dated periods: run-in first, then 2 periods per block back to back, kit labels in order.

    Kit labels follow the calendar ("Kit 1" for period 1, ...), so they carry no information
    about the arm; which kit holds what is known only to the helper.
    """
    first = start + timedelta(days=run_in_days)
    periods = []
    for i in range(2 * blocks):
        p_start = first + timedelta(days=i * period_days)
        periods.append(
            Period(
                index=i + 1,
                block=i // 2 + 1,
                start=p_start,
                end=p_start + timedelta(days=period_days - 1),
                washout_days=washout_days,
                kit=f"Kit {i + 1}",
            )
        )
    return tuple(periods)


def protocol_from_template(
    template: dict[str, Any],
    *,
    start: date,
    blocks: int | None = None,
    period_days: int | None = None,
    washout_days: int | None = None,
    run_in_days: int | None = None,
    scheme: str | None = None,
    sequential: SequentialRule | None = None,
    trade_off: dict[str, Any] | None = None,
) -> Protocol:
    """A protocol without its allocation yet: template + overrides, validated and dated.

    With ``sequential`` the trial has interim looks and runs at most ``sequential.max_blocks``
    blocks, which is then its number of blocks (``blocks``, if given, must agree).
    ``trade_off`` (side-effect outcome -> days a week one point less of the primary outcome
    is worth, as the patient answered ``protocol new``) replaces the template's
    ``[decision]`` days; an empty mapping or None keeps the template's (none: the primary
    outcome alone decides).

    Raises
    ------
    ProtocolError : any value the trial cannot be run with, named.
    """
    design = template.get("design", {})
    if sequential is not None:
        if blocks is not None and blocks != sequential.max_blocks:
            raise ProtocolError(
                f"--blocks {blocks} disagrees with the sequential rule's last look after block "
                f"{sequential.max_blocks}: a sequential trial runs at most that many blocks"
            )
        blocks = sequential.max_blocks
    chosen = {
        "blocks": blocks if blocks is not None else design.get("blocks", 4),
        "period_days": period_days if period_days is not None else design.get("period_days", 14),
        "washout_days": washout_days if washout_days is not None else design.get("washout_days", 0),
        "run_in_days": run_in_days if run_in_days is not None else design.get("run_in_days", 0),
    }
    for key, value in chosen.items():
        whole_number(value, key.replace("_", "-"))
    scheme = scheme or design.get("scheme", "block")
    check_design(scheme=scheme, **chosen)
    check_dates(start, chosen["run_in_days"] + 2 * chosen["blocks"] * chosen["period_days"])
    changed = [
        f"{key.replace('_', ' ')} {design[key]} -> {value}"
        for key, value in {**chosen, "scheme": scheme}.items()
        if key in design
        and design[key] != value
        and not (sequential is not None and key == "blocks")
    ]
    design_rationale = design.get("rationale", "")
    if sequential is not None:
        # The template argues for a fixed length; a sequential trial's length is its rule's.
        also = f" The template's design was also changed ({'; '.join(changed)})." if changed else ""
        own = (
            f" The template's reasoning for its own fixed-length design: {design_rationale}"
            if design_rationale
            else ""
        )
        design_rationale = f"{sequential_rationale(sequential)}{also}{own}"
    elif changed:
        # The template's reasoning was written for its own numbers: say plainly they changed.
        design_rationale = (
            f"The template's design was changed when this protocol was made ({'; '.join(changed)}). "
            f"The template's reasoning for its own design: {design_rationale}"
        )
    fields = Fields(f"template {template.get('_source', '')}")
    trial = parse_trial(template, fields, template=True)
    outcomes = parse_outcomes(template.get("outcomes", []), fields)
    primary = next(o for o in outcomes if o.primary)
    analysis = parse_analysis(template.get("analysis", {}), fields, primary)
    if sequential is not None:
        # The last look is the final analysis: its efficacy boundary is the decision rule.
        analysis = replace(analysis, threshold=sequential.efficacy[-1])
    section = template.get("decision")
    if trade_off:
        section = {**(section or {}), "days_per_point": dict(trade_off)}
        fields = Fields("--trade-off")
    decision = parse_decision(section, fields, outcomes, analysis.threshold)
    return Protocol(
        title=trial["title"],
        condition=trial["condition"],
        blinded=trial["blinded"],
        treatments=parse_treatments(template, fields),
        scheme=scheme,
        start=start,
        periods=build_periods(start, **chosen),
        outcomes=outcomes,
        analysis=analysis,
        safety=parse_safety(template, fields),
        rationale=trial["rationale"],
        design_rationale=design_rationale,
        template=template.get("_source", ""),
        sequential=sequential,
        decision=decision,
        **chosen,
    )


def sequential_rationale(rule: SequentialRule) -> str:
    """The design rationale's first sentences for a sequential protocol.

    Example
    -------
    >>> from nof1.plan.stopping import SequentialRule
    >>> sequential_rationale(SequentialRule((2, 3, 4), (0.8, 0.8, 0.8), (0.3, 0.5)))[:96]
    'This is a sequential trial: it runs at most 4 blocks, with interim looks after blocks 2 and 3 an'
    """
    before = rule.looks[:-1]
    if not before:
        looks = "with no interim look"
    elif len(before) == 1:
        looks = f"with an interim look after block {before[0]}"
    else:
        looks = (
            f"with interim looks after blocks {', '.join(map(str, before[:-1]))} and {before[-1]}"
        )
    return (
        f"This is a sequential trial: it runs at most {rule.max_blocks} blocks, {looks} "
        f"and the last look after block {rule.max_blocks}. It stops at the first look whose "
        "pre-registered boundary is crossed (the [sequential] section)."
    )


def template_rule(template: dict[str, Any]) -> SequentialRule | None:
    """The template's default sequential rule (its ``[sequential]`` table), or None.

    Raises
    ------
    ProtocolError : a malformed ``[sequential]`` table.
    """
    if "sequential" not in template:
        return None
    return parse_rule(template["sequential"], f"template {template.get('_source', '')}")


def with_allocation(
    protocol: Protocol,
    commitment: str,
    arms: tuple[str, ...],
    created: str,
    sealed_sha256: str = "",
    helper_key: str = "",
) -> Protocol:
    """The protocol with its allocation commitment, the sealed file's SHA-256 and the
    helper's public key (blinded) or the arms themselves (open label), and its commitment
    over the whole protocol."""
    protocol = replace(
        protocol,
        commitment=commitment,
        open_allocation=None if protocol.blinded else arms,
        created=created,
        sealed_sha256=sealed_sha256,
        helper_key=helper_key,
    )
    document = tomllib.loads(tomli_w.dumps(protocol_to_toml(protocol)))
    return replace(protocol, registration=registration_digest(document))

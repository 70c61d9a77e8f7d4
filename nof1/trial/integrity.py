"""Checking a trial folder against its commitments before anything is concluded from it.

What a trial folder can prove about itself (``docs/security.md`` says what it cannot):

- ``protocol.toml`` states a SHA-256 over the canonical form of all of itself except that
  line (``nof1.plan.registration.registration_digest``): schedule, kits, outcomes, analysis plan, the
  allocation's commitment and ``allocation.sealed``'s own SHA-256. An edit anywhere breaks it.
- ``allocation.sealed`` must have the SHA-256 the protocol states.
- The diary's hash chain must hold (``nof1.diary.chain``), and the protocol must be the one the
  diary was started with: the chain keeps its canonical text, so a change is named field
  by field.
- The unblinding record in the diary must match the allocation's commitment.

An attacker who rewrites the protocol *and* its commitment passes these checks; that is
why the fingerprint (the commitment's short form) goes to the clinician before the first
dose, and why the report prints it beside "compare with the one you were given".

``check_trial`` lists every problem (the report shows them in red); ``verify_trial`` raises
on any (``analyze`` and ``export --anonymise`` refuse).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from nof1.diary.chain import ChainCheck
from nof1.diary.records import Record, Unblinding
from nof1.diary.schema import DIARY_FILE
from nof1.diary.signed import SignedCheck
from nof1.errors import BlindingError, IntegrityError, ProtocolError
from nof1.plan.checks import Fields
from nof1.plan.protocol import PROTOCOL_FILE, Analysis
from nof1.plan.registration import (
    COMMITMENT_SECTION,
    canonical_document,
    changed_paths,
    registration_digest,
)
from nof1.plan.sealing import Allocation, registration_problems, verify_allocation
from nof1.plan.sections import TradeOff, parse_analysis, parse_decision, parse_outcomes
from nof1.trial.handle import Trial, as_trial


@dataclass(frozen=True)
class TrialCheck:
    """What checking a trial folder against its commitments found.

    Parameters
    ----------
    fingerprint : the short form of the commitment protocol.toml states ("" if none).
    problems : one sentence per thing that does not match, naming the file and what in it
        changed; empty when everything was verified.
    unblinding : the diary's unblinding record, None while blinded or without a diary.
    chain : the diary's hash chain as verified (``nof1.diary.chain.ChainCheck``), None without
        a diary.
    deviations : diary records made after unblinding (``--after-unblinding``), in order.
    after_unblinding : how many diary records were made after the unblinding.
    signed : the records only the helper may make, checked against the helper's signature
        (``nof1.diary.signed``); their problems are among ``problems``.
    caveats : what cannot be checked, said plainly (a trial made before signed records).
    """

    fingerprint: str
    problems: tuple[str, ...]
    unblinding: Unblinding | None = None
    chain: ChainCheck | None = None
    deviations: tuple[Record, ...] = ()
    after_unblinding: int = 0
    signed: SignedCheck | None = None
    caveats: tuple[str, ...] = ()

    @property
    def unblinding_code(self) -> str:
        """The code of the unblinding record when the helper signed it, else ""."""
        record = None if self.signed is None else self.signed.unblinding
        return record.code if record is not None and record.status == "verified" else ""

    @property
    def ok(self) -> bool:
        """True when protocol, allocation and diary all match their commitments."""
        return not self.problems


def _paths(changed: list[str]) -> str:
    shown = ", ".join(changed[:6])
    return shown + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")


def _anchor_problems(document: dict, anchors: tuple[dict, ...]) -> list[str]:
    """Does protocol.toml still say what it said when the diary was started?"""
    if not anchors:
        return []
    for before, after in itertools.pairwise(anchors):
        # Only an upgrade (a protocol without a commitment gaining one) may change it.
        if before["registration"] and after["registration"] != before["registration"]:
            changed = changed_paths(json.loads(before["document"]), json.loads(after["document"]))
            return [
                f"the diary was started under another {PROTOCOL_FILE}, replaced later "
                f"(changed: {_paths(changed) or 'its commitment'})"
            ]
    current = json.loads(canonical_document(document))
    changed = changed_paths(json.loads(anchors[-1]["document"]), current)
    if changed:
        return [
            f"{PROTOCOL_FILE} is not the one the diary was started with (changed: "
            f"{_paths(changed)})"
        ]
    return []


def refuse_other_protocol(document: dict, anchors: tuple[dict, ...], action: str) -> None:
    """Refuse to go on under a ``protocol.toml`` that the diary was not started with.

    ``record``, ``import`` and ``status`` call it, so that another trial's protocol copied
    into the folder never has days recorded, or a kit shown, under its schedule.

    Parameters
    ----------
    document : ``protocol.toml`` as parsed.
    anchors : the protocol records of the diary's chain (``ChainCheck.anchors``).
    action : what is refused, for the message ("record in this diary").

    Raises
    ------
    IntegrityError : naming the fields that differ.
    """
    problems = _anchor_problems(document, anchors)
    if problems:
        raise IntegrityError(
            f"nof1 will not {action}: {'; '.join(problems)}; put back the {PROTOCOL_FILE} "
            "the diary was started with"
        )


def check_trial(trial: Trial | str | Path) -> TrialCheck:
    """Check a trial against its commitments; every problem is listed, none raised.

    Checked: protocol.toml against its own commitment and against the protocol the diary
    was started with (naming the fields that differ), allocation.sealed against its
    SHA-256, the diary's hash chain and id sequence, and the unblinding record against the
    allocation's commitment. Everything is checked on the handle's own bytes and rows
    (``nof1.trial.handle``): what is checked is what the later stages read.

    Parameters
    ----------
    trial : the trial (``open_trial``) or its folder.

    Returns
    -------
    TrialCheck

    Raises
    ------
    ProtocolError : no trial in the folder, or protocol.toml cannot be read at all.
    DiaryError : the diary cannot be opened.

    Example
    -------
    >>> check_trial("mytrial").problems  # doctest: +SKIP
    ()
    """
    trial = as_trial(trial)
    protocol = trial.protocol
    problems = registration_problems(protocol, trial.document, trial.sealed)
    diary = trial.diary
    if diary is None:
        return TrialCheck(protocol.fingerprint, tuple(problems))
    unblinding = diary.unblinding()
    chain = diary.chain
    deviations = tuple(diary.deviations())
    after = 0
    if unblinding is not None:
        after = sum(r.recorded_at > unblinding.unblinded_at for r in diary.records)
    problems += chain.problems
    problems += _anchor_problems(trial.document, chain.anchors)
    problems += trial.signed.problems
    if unblinding is not None:
        try:
            verify_allocation(protocol, Allocation(unblinding.arms, unblinding.salt))
        except BlindingError:
            problems.append(
                f"the unblinding record in {DIARY_FILE} does not match the allocation's "
                "commitment: the revealed allocation was changed"
            )
    return TrialCheck(
        protocol.fingerprint, tuple(problems), unblinding, chain, deviations, after,
        trial.signed, trial.signed.caveats,
    )  # fmt: skip


def _registered_document(trial: Trial) -> dict | None:
    """The protocol document the trial registered (see ``registered_analysis``), or None."""
    anchors = () if trial.diary is None else trial.diary.chain.anchors
    if anchors:
        return json.loads(anchors[-1]["document"])
    document = trial.document
    stated = str(document.get(COMMITMENT_SECTION, {}).get("sha256", ""))
    if not stated or stated != registration_digest(document):
        return None
    return document


def registered_analysis(trial: Trial | str | Path) -> Analysis | None:
    """The analysis plan the trial registered, whatever ``protocol.toml`` says now.

    The diary's chain keeps the canonical text of the protocol it was started with (its
    last protocol record, after an upgrade the upgraded one): that is the registration.
    Without a diary, ``protocol.toml`` itself counts when it still matches its own
    commitment. A label "pre-registered" is given only against this plan, so a threshold
    edited into ``protocol.toml`` after the start is never called pre-registered.

    Parameters
    ----------
    trial : the trial (``open_trial``) or its folder.

    Returns
    -------
    Analysis, or None when no registered plan can be read (protocol.toml changed and no
    diary kept the original).
    """
    trial = as_trial(trial)
    document = _registered_document(trial)
    if document is None:
        return None
    try:
        fields = Fields(f"the registered {PROTOCOL_FILE}")
        return parse_analysis(document.get("analysis", {}), fields, trial.protocol.primary)
    except ProtocolError:
        return None


def registered_decision(trial: Trial | str | Path) -> TradeOff | None:
    """The trade-off the trial registered (``[decision]``), whatever ``protocol.toml`` says
    now, read as ``registered_analysis`` reads the analysis; None when the registration
    has none (pain alone decides) or cannot be read."""
    trial = as_trial(trial)
    document = _registered_document(trial)
    if document is None:
        return None
    try:
        fields = Fields(f"the registered {PROTOCOL_FILE}")
        outcomes = parse_outcomes(document.get("outcomes", []), fields)
        primary = next(o for o in outcomes if o.primary)
        analysis = parse_analysis(document.get("analysis", {}), fields, primary)
        return parse_decision(document.get("decision"), fields, outcomes, analysis.threshold)
    except ProtocolError:
        return None


def verify_trial(trial: Trial | str | Path, action: str = "analyse") -> TrialCheck:
    """``check_trial``, raising on any problem: for commands that must not go on.

    Parameters
    ----------
    trial : the trial (``open_trial``) or its folder.
    action : what is refused, for the message ("analyse", "export").

    Returns
    -------
    TrialCheck : with no problems.

    Raises
    ------
    IntegrityError : naming every problem found.
    """
    check = check_trial(trial)
    if not check.ok:
        raise IntegrityError(
            f"nof1 will not {action} this trial: {'; '.join(check.problems)} "
            "(`nof1 report` shows the details in red)"
        )
    return check

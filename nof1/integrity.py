"""Checking a trial folder against its commitments before anything is concluded from it.

What a trial folder can prove about itself (``docs/security.md`` says what it cannot):

- ``protocol.toml`` states a SHA-256 over the canonical form of all of itself except that
  line (``nof1.protocol.registration_digest``): schedule, kits, outcomes, analysis plan, the
  allocation's commitment and ``allocation.sealed``'s own SHA-256. An edit anywhere breaks it.
- ``allocation.sealed`` must have the SHA-256 the protocol states.
- The unblinding record in the diary must match the allocation's commitment.

An attacker who rewrites the protocol *and* its commitment passes these checks; that is
why the fingerprint (the commitment's short form) goes to the clinician before the first
dose, and why the report prints it beside "compare with the one you were given".

``check_trial`` lists every problem (the report shows them in red); ``verify_trial`` raises
on any (``analyze`` and ``export --anonymise`` refuse).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nof1.blinding import Allocation, registration_problems, verify_allocation
from nof1.diary import DIARY_FILE, Unblinding, open_diary
from nof1.errors import BlindingError, IntegrityError
from nof1.protocol import load_protocol


@dataclass(frozen=True)
class TrialCheck:
    """What checking a trial folder against its commitments found.

    Parameters
    ----------
    fingerprint : the short form of the commitment protocol.toml states ("" if none).
    problems : one sentence per thing that does not match, naming the file; empty when
        everything was verified.
    unblinding : the diary's unblinding record, None while blinded or without a diary.
    """

    fingerprint: str
    problems: tuple[str, ...]
    unblinding: Unblinding | None = None

    @property
    def ok(self) -> bool:
        """True when protocol, allocation and diary all match their commitments."""
        return not self.problems


def check_trial(trial_dir: str | Path) -> TrialCheck:
    """Check a trial folder against its commitments; every problem is listed, none raised.

    Parameters
    ----------
    trial_dir : the trial folder.

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
    trial_dir = Path(trial_dir)
    protocol = load_protocol(trial_dir)
    problems = registration_problems(trial_dir, protocol)
    unblinding = None
    if (trial_dir / DIARY_FILE).exists():
        with open_diary(trial_dir, protocol, create=False) as diary:
            unblinding = diary.unblinding()
    if unblinding is not None:
        try:
            verify_allocation(protocol, Allocation(unblinding.arms, unblinding.salt))
        except BlindingError:
            problems.append(
                f"the unblinding record in {DIARY_FILE} does not match the allocation's "
                "commitment: the revealed allocation was changed"
            )
    return TrialCheck(protocol.fingerprint, tuple(problems), unblinding)


def verify_trial(trial_dir: str | Path, action: str = "analyse") -> TrialCheck:
    """``check_trial``, raising on any problem: for commands that must not go on.

    Parameters
    ----------
    trial_dir : the trial folder.
    action : what is refused, for the message ("analyse", "export").

    Returns
    -------
    TrialCheck : with no problems.

    Raises
    ------
    IntegrityError : naming every problem found.
    """
    check = check_trial(trial_dir)
    if not check.ok:
        raise IntegrityError(
            f"nof1 will not {action} this trial: {'; '.join(check.problems)} "
            "(`nof1 report` shows the details in red)"
        )
    return check

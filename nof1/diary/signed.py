"""The records only the helper may make, checked against the helper's signature.

The unblinding, each interim look and each refused look are signed by the helper's key
(``nof1.plan.signing``) over their content and the chain head they were made on. Here a
diary read once (``nof1.diary.view.DiaryView``) is checked against the public key its
protocol states: a record without a valid signature, or one whose head is not the chain
record before it (cut out and appended again: a replay), is a problem, and is never acted
on. A trial made before records were signed, or an open-label one (no helper, no key), has
records nobody can check: that is said, never called verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from nof1.diary.records import Look, first_stop
from nof1.diary.view import DiaryView, HelperRecord, look_from_content
from nof1.plan.protocol import Protocol
from nof1.plan.signing import HEAD_FIELD, code, verify

#: What each kind of helper record is called in a sentence.
_NAMES = {
    "unblinding": "the unblinding record",
    "look": "interim look",
    "look-refused": "refused look",
}


def head_text(seq: int, digest: str) -> str:
    """A chain head as a signed record states it: ``"seq:hash"``."""
    return f"{seq}:{digest}"


@dataclass(frozen=True)
class SignedRecord:
    """One helper record as checked.

    Parameters
    ----------
    seq : its place in the chain.
    kind : ``unblinding``, ``look`` or ``look-refused``.
    content : what the record holds (its signature and chain head included).
    code : its short code, for the clinician to compare (``nof1.plan.signing.code``).
    status : ``verified`` (signed by the helper, on the chain head where it stands),
        ``unsigned`` (no key to check it with: an open-label trial or one made before records
        were signed), or a problem: ``not signed``, ``forged``, ``replayed``.
    """

    seq: int
    kind: str
    content: dict
    code: str
    status: str

    @property
    def trusted(self) -> bool:
        """Whether nof1 may act on it: verified, or from a trial with no key at all."""
        return self.status in ("verified", "unsigned")

    @property
    def what(self) -> str:
        """The record, named in a sentence."""
        if self.kind == "unblinding":
            return _NAMES["unblinding"]
        return f"{_NAMES[self.kind]} {self.content.get('look', '?')}"


@dataclass(frozen=True)
class SignedCheck:
    """Every helper record of a diary, checked.

    Parameters
    ----------
    records : the helper records, in chain order.
    problems : one sentence per record nof1 must not act on (shown in red).
    caveats : what cannot be checked, said plainly (a trial made before records were
        signed; an open-label trial's looks).
    """

    records: tuple[SignedRecord, ...]
    problems: tuple[str, ...]
    caveats: tuple[str, ...]

    @property
    def looks(self) -> tuple[Look, ...]:
        """The interim looks nof1 may act on (trusted), oldest first."""
        return tuple(
            look_from_content(r.content) for r in self.records if r.kind == "look" and r.trusted
        )

    @property
    def refused_looks(self) -> tuple[SignedRecord, ...]:
        """The looks the helper tried and nof1 refused (trusted), oldest first."""
        return tuple(r for r in self.records if r.kind == "look-refused" and r.trusted)

    @property
    def stopped(self) -> Look | None:
        """The first trusted look that said STOP, or None."""
        return first_stop(self.looks)

    @property
    def unblinding(self) -> SignedRecord | None:
        """The unblinding record as checked, or None while blinded."""
        return next((r for r in self.records if r.kind == "unblinding"), None)


def _status(record: HelperRecord, protocol: Protocol) -> str:
    if not protocol.helper_key:
        return "unsigned"
    if not record.content.get("signature"):
        return "not signed"
    if not verify(protocol.helper_key, record.kind, record.content, protocol.registration):
        return "forged"
    if record.content.get(HEAD_FIELD) != head_text(record.seq - 1, record.prev):
        return "replayed"
    return "verified"


_PROBLEMS = {
    "not signed": "{what} is not signed by the helper: it was made without the helper's "
    "passphrase, and nof1 does not act on it",
    "forged": "{what} does not carry the helper's signature (forged or altered): nof1 does "
    "not act on it",
    "replayed": "{what} was signed on another state of the diary and appended again here "
    "(replayed): nof1 does not act on it",
}


def check_signed(view: DiaryView, protocol: Protocol) -> SignedCheck:
    """Check every helper record of a diary against the protocol's public key.

    Parameters
    ----------
    view : the diary as read once.
    protocol : the trial's protocol (its ``helper_key`` and ``registration``).

    Returns
    -------
    SignedCheck
    """
    records = tuple(
        SignedRecord(r.seq, r.kind, r.content, code(r.kind, r.content), _status(r, protocol))
        for r in view.helper_records
    )
    problems = tuple(
        _PROBLEMS[r.status].format(what=r.what[0].upper() + r.what[1:])
        for r in records
        if not r.trusted
    )
    caveats = []
    if not protocol.helper_key and records:
        if protocol.blinded:
            caveats.append(
                "Made before signed records: the unblinding cannot be checked (nor any "
                "interim look) against the helper's signature."
            )
        else:
            caveats.append(
                "Open label: there is no helper key, so the interim looks are not signed "
                "and cannot be checked."
            )
    return SignedCheck(records, problems, tuple(caveats))

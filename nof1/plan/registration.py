"""The registration: one commitment over the whole protocol, and its fingerprint.

``protocol.toml`` ends with a ``[commitment]`` section holding the SHA-256 of the canonical
JSON of every other section (``registration_digest``); a clinician keeps its short form, the
fingerprint. ``nof1.plan.sealing`` checks the digest when a trial is opened, the diary keeps
a copy of the canonical document, and ``nof1.trial.integrity`` names where the document has
changed since (``changed_paths``). These functions work on the parsed document, not on
``Protocol``, so that a section written by a later nof1 is covered too; they import nothing
from nof1, so that ``nof1.plan.protocol`` can use them (``Protocol.fingerprint``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime, time
from typing import Any

#: The section of protocol.toml that holds the commitment; the one section it cannot cover.
COMMITMENT_SECTION = "commitment"
#: How the commitment is made, written beside it so that anyone can recompute it.
COMMITMENT_METHOD = (
    "SHA-256 of the canonical JSON of every other section of this file (keys sorted, no "
    "spaces, UTF-8, dates tagged), allocation.sealed's SHA-256 included; its short form is "
    "the fingerprint"
)


def canonical_document(document: dict[str, Any]) -> bytes:
    """The canonical serialisation of a protocol document, its commitment section left out.

    JSON with sorted keys, no spaces, UTF-8; dates and times tagged with their type so
    that a date and a string of the same text differ. Every other section is covered,
    whatever it holds: a section added to protocol.toml by a later nof1 is covered too.
    """

    def tagged(value: Any) -> dict[str, str]:
        if isinstance(value, datetime | date | time):
            return {f"toml-{type(value).__name__}": value.isoformat()}
        raise TypeError(f"protocol value {value!r} cannot be serialised")

    body = {k: v for k, v in document.items() if k != COMMITMENT_SECTION}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=tagged
    ).encode("utf-8")


def registration_digest(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``canonical_document``: the commitment over the whole protocol."""
    return hashlib.sha256(canonical_document(document)).hexdigest()


def fingerprint(digest: str) -> str:
    """A commitment's short form for people: 16 base32 characters in 4 groups (80 bits).

    Example
    -------
    >>> fingerprint("00" * 32)
    'AAAA-AAAA-AAAA-AAAA'
    """
    text = base64.b32encode(bytes.fromhex(digest)[:10]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _branch(value: Any) -> bool:
    """A table to descend into: not a tagged date (``{"toml-date": ...}``), which is a value."""
    return isinstance(value, dict) and not (
        len(value) == 1 and next(iter(value)).startswith("toml-")
    )


def changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two protocol documents differ, as dotted paths (``schedule.periods[1].start``).

    Works on parsed TOML or on ``canonical_document`` read back from JSON. The commitment
    section is not compared; a list whose length changed is one path.

    Example
    -------
    >>> changed_paths({"analysis": {"mcid": 1.0}}, {"analysis": {"mcid": 0.1}})
    ['analysis.mcid']
    """
    if _branch(before) and _branch(after):
        out = []
        for key in sorted(set(before) | set(after)):
            if not path and key == COMMITMENT_SECTION:
                continue
            where = f"{path}.{key}" if path else key
            if key not in before or key not in after:
                out.append(where)
            else:
                out += changed_paths(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += changed_paths(b, a, f"{path}[{i + 1}]")
        return out
    same = type(before) is type(after) and before == after
    return [] if same else [path]

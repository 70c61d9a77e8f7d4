"""The blinding stage: the sealed allocation and its public commitment.

The allocation (which arm each period's kit holds) is encrypted with the helper's passphrase
in ``allocation.sealed``: scrypt derives the key, AES-256-GCM encrypts and authenticates,
both from the ``cryptography`` package. The public ``protocol.toml`` holds only the
*commitment*: SHA-256 over the canonical JSON of the arms and a random salt. Unblinding
checks the opened allocation against that commitment, so nobody can swap the allocation
after seeing the data, and a wrong passphrase or an altered file fails loudly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from nof1.errors import BlindingError
from nof1.protocol import (
    COMMITMENT_SECTION,
    PROTOCOL_FILE,
    Protocol,
    load_protocol,
    read_document,
    registration_digest,
)

SEALED_FILE = "allocation.sealed"
_FORMAT = "nof1-sealed-allocation"
# scrypt cost: about 0.1 s and 32 MiB per attempt, which makes guessing a passphrase slow.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 8


@dataclass(frozen=True)
class Allocation:
    """The secret: the arm ("A" or "B") of each period, in period order, and the salt."""

    arms: tuple[str, ...]
    salt: str

    def canonical(self) -> bytes:
        return json.dumps(
            {"arms": list(self.arms), "salt": self.salt}, separators=(",", ":")
        ).encode()


def new_allocation(arms: tuple[str, ...]) -> Allocation:
    """Wrap arms with a fresh random salt, so the commitment cannot be brute-forced."""
    return Allocation(tuple(arms), secrets.token_hex(16))


def commitment(allocation: Allocation) -> str:
    """SHA-256 hex digest of the canonical allocation: the public commitment."""
    return hashlib.sha256(allocation.canonical()).hexdigest()


def verify_allocation(protocol: Protocol, allocation: Allocation) -> None:
    """Check an allocation against the protocol's commitment.

    Raises
    ------
    BlindingError : the allocation is not the one committed to in protocol.toml.
    """
    if len(allocation.arms) != len(protocol.periods):
        raise BlindingError(
            f"the allocation has {len(allocation.arms)} periods, the protocol {len(protocol.periods)}"
        )
    if commitment(allocation) != protocol.commitment:
        raise BlindingError(
            "the allocation does not match the commitment in protocol.toml: "
            "the sealed allocation or the protocol was changed after the trial was created"
        )


def _key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        passphrase.encode()
    )


def seal(allocation: Allocation, passphrase: str, seed: int | None = None) -> bytes:
    """Encrypt an allocation with a passphrase; returns the file content (JSON, base64 fields).

    The commitment is bound in as associated data, so a sealed file cannot be moved to
    another protocol unnoticed. The seed, if any, is sealed too: it is as secret as the arms.
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise BlindingError(
            f"the passphrase must have at least {MIN_PASSPHRASE} characters, got {len(passphrase)}"
        )
    kdf_salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    payload = json.dumps(
        {"arms": list(allocation.arms), "salt": allocation.salt, "seed": seed}
    ).encode()
    aad = commitment(allocation).encode()
    ciphertext = AESGCM(_key(passphrase, kdf_salt)).encrypt(nonce, payload, aad)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    doc = {
        "format": _FORMAT,
        "version": 1,
        "kdf": {
            "name": "scrypt",
            "n": _SCRYPT_N,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": b64(kdf_salt),
        },
        "cipher": "AES-256-GCM",
        "nonce": b64(nonce),
        "commitment": aad.decode(),
        "ciphertext": b64(ciphertext),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def unseal(content: bytes, passphrase: str) -> Allocation:
    """Decrypt sealed content. BlindingError on a wrong passphrase or an altered file."""
    try:
        doc = json.loads(content)
        if doc.get("format") != _FORMAT or doc.get("version") != 1:
            raise ValueError("not a nof1 sealed allocation (version 1)")
        kdf = doc["kdf"]
        key = Scrypt(
            salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
        ).derive(passphrase.encode())
        nonce, ciphertext = base64.b64decode(doc["nonce"]), base64.b64decode(doc["ciphertext"])
        aad = doc["commitment"].encode()
    except (ValueError, KeyError, TypeError) as exc:
        raise BlindingError(f"{SEALED_FILE} is damaged: {exc}") from None
    try:
        payload = json.loads(AESGCM(key).decrypt(nonce, ciphertext, aad))
    except InvalidTag:
        raise BlindingError(
            f"cannot open {SEALED_FILE}: wrong passphrase, or the file was altered"
        ) from None
    return Allocation(tuple(payload["arms"]), payload["salt"])


def registration_problems(trial_dir: Path | str, protocol: Protocol) -> list[str]:
    """What no longer matches the commitment protocol.toml states over itself and over
    ``allocation.sealed``: one sentence per problem, naming the file; [] when all match.

    A protocol made by an older nof1 (format 1) has no such commitment: that is a problem
    too, with the command that adds one.
    """
    trial_dir = Path(trial_dir)
    if protocol.format_version < 2:
        return [
            f"{PROTOCOL_FILE} was made by an older nof1 (format {protocol.format_version}) and "
            "has no commitment over its schedule and analysis plan: run `nof1 protocol upgrade`"
        ]
    problems = []
    document = read_document(trial_dir)
    stated = str(document.get(COMMITMENT_SECTION, {}).get("sha256", ""))
    if not stated:
        problems.append(f"{PROTOCOL_FILE} has lost its commitment ([commitment] sha256)")
    elif stated != registration_digest(document):
        problems.append(
            f"{PROTOCOL_FILE} was changed after the trial was created: it no longer matches "
            "its own commitment"
        )
    if protocol.blinded:
        try:
            content = (trial_dir / SEALED_FILE).read_bytes()
        except OSError:
            problems.append(f"{SEALED_FILE} is missing")
        else:
            if hashlib.sha256(content).hexdigest() != protocol.sealed_sha256:
                problems.append(
                    f"{SEALED_FILE} was replaced or altered: it does not match the SHA-256 "
                    f"that the commitment in {PROTOCOL_FILE} covers"
                )
    return problems


def open_allocation(trial_dir: Path | str, passphrase: str) -> Allocation:
    """Open and verify the sealed allocation of a trial folder.

    Protocol and sealed file are checked against the protocol's commitment first
    (``registration_problems``); a protocol made by an older nof1 is opened without it.

    Raises
    ------
    ProtocolError : no trial there.
    BlindingError : no sealed file, wrong passphrase, altered file, commitment mismatch.
    """
    trial_dir = Path(trial_dir)
    protocol = load_protocol(trial_dir)
    problems = registration_problems(trial_dir, protocol) if protocol.format_version > 1 else []
    if problems:
        raise BlindingError(f"{'; '.join(problems)}: the allocation is not opened")
    if not protocol.blinded:
        return Allocation(protocol.open_allocation or (), "")
    path = trial_dir / SEALED_FILE
    try:
        content = path.read_bytes()
    except OSError:
        raise BlindingError(f"{path} not found: the sealed allocation is missing") from None
    allocation = unseal(content, passphrase)
    verify_allocation(protocol, allocation)
    return allocation

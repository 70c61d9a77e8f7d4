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
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from nof1.errors import BlindingError
from nof1.plan.files import MAX_SEALED_BYTES, read_input
from nof1.plan.protocol import PROTOCOL_FILE, Protocol, parse_protocol, read_document
from nof1.plan.registration import COMMITMENT_SECTION, registration_digest
from nof1.plan.signing import public_key_of

SEALED_FILE = "allocation.sealed"
_FORMAT = "nof1-sealed-allocation"
# scrypt cost: about 0.1 s and 32 MiB per attempt, which makes guessing a passphrase slow.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
#: The most an opened file may ask of scrypt: nof1 writes n = 2^15, r = 8 (32 MiB).
MAX_SCRYPT_N, MAX_SCRYPT_BYTES = 2**18, 256 << 20
MIN_PASSPHRASE = 8
#: How many different characters a passphrase needs at least.
MIN_DISTINCT = 5
#: The rule a new passphrase must meet, as the helper is told it.
PASSPHRASE_RULE = (
    f"at least {MIN_PASSPHRASE} characters, not only digits, with at least {MIN_DISTINCT} "
    "different characters (e.g. a few unrelated words)"
)


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


def check_passphrase(passphrase: str) -> None:
    """Refuse a passphrase that is quickly guessed (``PASSPHRASE_RULE``).

    The sealed file may be copied by anyone who can read the trial folder; scrypt makes
    each guess cost about 0.1 s, which stops long passphrases being guessed but not a PIN:
    the 10^8 eight-digit numbers take four months of one core, hours on a rented cluster,
    and a dictionary of common passwords minutes. The rule is deliberately simple enough to state in one line.

    Raises
    ------
    BlindingError : too short, digits only, or too few different characters.

    Examples
    --------
    >>> check_passphrase("correct horse battery")
    >>> check_passphrase("12345678")
    Traceback (most recent call last):
    nof1.errors.BlindingError: the passphrase must not be only digits ...
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise BlindingError(
            f"the passphrase must have at least {MIN_PASSPHRASE} characters, got {len(passphrase)}"
        )
    if passphrase.isdigit():
        raise BlindingError(
            f"the passphrase must not be only digits (a number is guessed quickly); use {PASSPHRASE_RULE}"
        )
    distinct = len(set(passphrase))
    if distinct < MIN_DISTINCT:
        raise BlindingError(
            f"the passphrase has only {distinct} different characters; use {PASSPHRASE_RULE}"
        )


def seal(
    allocation: Allocation,
    passphrase: str,
    seed: int | None = None,
    *,
    signing_key: bytes | None = None,
    seed_salt: int | None = None,
) -> bytes:
    """Encrypt an allocation with a passphrase; returns the file content (JSON, base64 fields).

    The commitment is bound in as associated data, so a sealed file cannot be moved to
    another protocol unnoticed. Sealed with the arms, as secret as they are: the seed and
    the random salt it was mixed with (``seed_salt``), if any, and the helper's private
    signing key (``nof1.plan.signing``).
    """
    check_passphrase(passphrase)
    kdf_salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    payload = {"arms": list(allocation.arms), "salt": allocation.salt, "seed": seed}
    if seed_salt is not None:
        payload["seed_salt"] = str(seed_salt)
    if signing_key is not None:
        payload["signing_key"] = base64.b64encode(signing_key).decode()
    payload = json.dumps(payload).encode()
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


def _b64(value: object, what: str, sizes: range) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be base64 text")
    raw = base64.b64decode(value, validate=True)
    if len(raw) not in sizes:
        raise ValueError(f"{what} has {len(raw)} bytes, expected {sizes.start}-{sizes.stop - 1}")
    return raw


def _kdf_cost(kdf: object) -> tuple[int, int, int]:
    """scrypt's (n, r, p), refused beyond what any nof1 writes: a file asking for
    n = 2^24 would make opening it take 16 GiB of memory."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise ValueError("the key derivation must be scrypt")
    n, r, p = kdf.get("n"), kdf.get("r"), kdf.get("p")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
        raise ValueError("scrypt n, r and p must be whole numbers")
    if not (2**10 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4):
        raise ValueError(
            f"scrypt cost n={n}, r={r}, p={p} is outside what nof1 writes (n a power of 2 "
            f"from 2^10 to 2^{MAX_SCRYPT_N.bit_length() - 1}, r 1-16, p 1-4)"
        )
    if 128 * n * r > MAX_SCRYPT_BYTES:
        raise ValueError(f"scrypt cost n={n}, r={r} needs more than {MAX_SCRYPT_BYTES >> 20} MiB")
    return n, r, p


@dataclass(frozen=True)
class Secrets:
    """What a sealed file holds: the allocation and, since records are signed, the helper's
    private signing key (None in a file sealed before)."""

    allocation: Allocation
    signing_key: bytes | None = None


def unseal(content: bytes, passphrase: str) -> Allocation:
    """Decrypt sealed content: its allocation (``unseal_secrets``)."""
    return unseal_secrets(content, passphrase).allocation


def unseal_secrets(content: bytes, passphrase: str) -> Secrets:
    """Decrypt sealed content. BlindingError on a wrong passphrase or an altered file.

    Every field is checked before it is used, so a damaged or hostile file (not a JSON
    object, a short nonce, an scrypt cost that would exhaust memory) is an error naming
    the field, never a crash.
    """
    try:
        doc = json.loads(content)
        if not isinstance(doc, dict):
            raise ValueError(f"not a nof1 sealed allocation (a JSON {type(doc).__name__})")
        if doc.get("format") != _FORMAT or doc.get("version") != 1:
            raise ValueError("not a nof1 sealed allocation (version 1)")
        if doc.get("cipher") != "AES-256-GCM":
            raise ValueError(f"cipher {doc.get('cipher')!r} is not AES-256-GCM")
        n, r, p = _kdf_cost(doc.get("kdf"))
        salt = _b64(doc["kdf"].get("salt"), "the scrypt salt", range(16, 65))
        nonce = _b64(doc.get("nonce"), "the nonce", range(12, 13))
        ciphertext = _b64(doc.get("ciphertext"), "the ciphertext", range(16, 1 << 20))
        if not isinstance(doc.get("commitment"), str):
            raise ValueError("the commitment must be text")
        aad = doc["commitment"].encode()
        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())
    except (ValueError, KeyError, TypeError, UnicodeEncodeError) as exc:
        raise BlindingError(f"{SEALED_FILE} is damaged: {exc}") from None
    try:
        payload = json.loads(AESGCM(key).decrypt(nonce, ciphertext, aad))
    except InvalidTag:
        raise BlindingError(
            f"cannot open {SEALED_FILE}: wrong passphrase, or the file was altered"
        ) from None
    allocation = Allocation(tuple(payload["arms"]), payload["salt"])
    key = payload.get("signing_key")
    return Secrets(allocation, None if key is None else base64.b64decode(key))


def registration_problems(
    protocol: Protocol, document: dict[str, Any], sealed: bytes | None
) -> list[str]:
    """What no longer matches the commitment protocol.toml states over itself and over
    ``allocation.sealed``: one sentence per problem, naming the file; [] when all match.

    A protocol made by an older nof1 (format 1) has no such commitment: that is a problem
    too, with the command that adds one.

    Parameters
    ----------
    protocol : the protocol parsed from ``document``.
    document : ``protocol.toml`` as parsed (``nof1.plan.protocol.read_document``).
    sealed : the bytes of ``allocation.sealed`` as read, None when it is missing.
    """
    if protocol.format_version < 2:
        return [
            f"{PROTOCOL_FILE} was made by an older nof1 (format {protocol.format_version}) and "
            "has no commitment over its schedule and analysis plan: run `nof1 protocol upgrade`"
        ]
    problems = []
    stated = str(document.get(COMMITMENT_SECTION, {}).get("sha256", ""))
    if not stated:
        problems.append(f"{PROTOCOL_FILE} has lost its commitment ([commitment] sha256)")
    elif stated != registration_digest(document):
        problems.append(
            f"{PROTOCOL_FILE} was changed after the trial was created: it no longer matches "
            "its own commitment"
        )
    if protocol.blinded:
        if sealed is None:
            problems.append(f"{SEALED_FILE} is missing")
        elif hashlib.sha256(sealed).hexdigest() != protocol.sealed_sha256:
            problems.append(
                f"{SEALED_FILE} was replaced or altered: it does not match the SHA-256 "
                f"that the commitment in {PROTOCOL_FILE} covers"
            )
    return problems


def read_sealed(trial_dir: Path | str) -> bytes | None:
    """The bytes of a trial folder's ``allocation.sealed``, or None when it cannot be read.

    Raises
    ------
    BlindingError : it holds more than ``MAX_SEALED_BYTES`` (a real one holds about 1 KB).
    """
    try:
        return read_input(
            Path(trial_dir) / SEALED_FILE, MAX_SEALED_BYTES, "a sealed allocation", BlindingError
        )
    except OSError:
        return None


def unseal_trial(
    protocol: Protocol, document: dict[str, Any], sealed: bytes | None, passphrase: str
) -> Secrets:
    """Open and verify a sealed file already read (``read_sealed``): the allocation and the
    helper's signing key.

    Protocol and sealed bytes are checked against the protocol's commitment first
    (``registration_problems``); a protocol made by an older nof1 is opened without it. The
    allocation must match the commitment, and the signing key the public key the protocol
    states.

    Raises
    ------
    BlindingError : no sealed file, wrong passphrase, altered file, commitment mismatch, or
        a signing key that is not the protocol's.
    """
    if protocol.format_version > 1:
        problems = registration_problems(protocol, document, sealed)
        if problems:
            raise BlindingError(f"{'; '.join(problems)}: the allocation is not opened")
    if not protocol.blinded:
        return Secrets(Allocation(protocol.open_allocation or (), ""))
    if sealed is None:
        raise BlindingError(f"{SEALED_FILE} not found: the sealed allocation is missing")
    secrets_ = unseal_secrets(sealed, passphrase)
    verify_allocation(protocol, secrets_.allocation)
    if protocol.helper_key:
        if (
            secrets_.signing_key is None
            or public_key_of(secrets_.signing_key) != protocol.helper_key
        ):
            raise BlindingError(
                f"the signing key in {SEALED_FILE} is not the helper's key that protocol.toml "
                "states: the sealed file or the protocol was changed"
            )
    elif secrets_.signing_key is not None:
        raise BlindingError(
            f"{SEALED_FILE} holds a signing key that protocol.toml does not state: the "
            "protocol was changed"
        )
    return secrets_


def open_allocation(trial_dir: Path | str, passphrase: str) -> Allocation:
    """Open and verify the sealed allocation of a trial folder (``unseal_trial`` on what
    the folder holds).

    Raises
    ------
    ProtocolError : no trial there.
    BlindingError : no sealed file, wrong passphrase, altered file, commitment mismatch.
    """
    document = read_document(trial_dir)
    protocol = parse_protocol(document, Path(trial_dir) / PROTOCOL_FILE)
    return unseal_trial(protocol, document, read_sealed(trial_dir), passphrase).allocation

"""The helper's signature: what only the helper's passphrase may create is signed.

A hash chain without a key only catches careless edits: whoever owns the computer can
rewrite the diary and hash it again. So at ``protocol new`` the helper gets an Ed25519 key
pair (the ``cryptography`` package). The private key is sealed with the helper's
passphrase, inside ``allocation.sealed``; the public key goes into ``protocol.toml``, where
the commitment and the fingerprint the clinician holds cover it.

Every record only the helper may make (the unblinding, an interim look, a refused look) is
signed over its content *and the diary's chain head when it was made*: the sequence number
and hash of the chain record before it. The head commits to everything recorded before,
so a record cut out and appended again after the diary was rewritten (a replay) carries a
head that no longer matches where it stands, and a record made up without the passphrase
has no valid signature. Anyone can verify with the public key; nobody can sign without the
passphrase.

Each signed record has a short **code** (like the fingerprint): the helper gives it to the
clinician, and the report prints it beside "compare with the code you were given".
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from nof1.plan.registration import fingerprint

#: How a public key is written in ``protocol.toml``: this prefix, then base64 of 32 bytes.
KEY_PREFIX = "ed25519:"
#: The fields of a signed record that are not part of what is signed.
SIGNATURE_FIELD = "signature"
HEAD_FIELD = "head"


def new_key() -> tuple[bytes, str]:
    """A fresh key pair: (the private key's 32 raw bytes, the public key as written)."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw(), public_key_of(private.private_bytes_raw())


def public_key_of(private: bytes) -> str:
    """The public key of a private key, as ``protocol.toml`` writes it."""
    raw = Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    return KEY_PREFIX + base64.b64encode(raw).decode()


def _public(key: str) -> Ed25519PublicKey | None:
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX):
        return None
    try:
        raw = base64.b64decode(key[len(KEY_PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def valid_public_key(key: str) -> bool:
    """Whether ``key`` is a public key as nof1 writes it."""
    return _public(key) is not None


def message(kind: str, content: dict[str, Any], registration: str) -> bytes:
    """What is signed: the record's kind, its content without the signature (its chain head
    included) and the trial's registration (the commitment over protocol.toml), as
    canonical JSON, so a record signed for one trial cannot pass in another."""
    body = {k: v for k, v in content.items() if k != SIGNATURE_FIELD}
    document = {"kind": kind, "content": body, "registration": registration}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(private: bytes, kind: str, content: dict[str, Any], registration: str) -> str:
    """The signature of a record (base64)."""
    key = Ed25519PrivateKey.from_private_bytes(private)
    return base64.b64encode(key.sign(message(kind, content, registration))).decode()


def verify(public: str, kind: str, content: dict[str, Any], registration: str) -> bool:
    """Whether ``content`` carries a valid signature by the key ``public``."""
    key = _public(public)
    signature = content.get(SIGNATURE_FIELD)
    if key is None or not isinstance(signature, str):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), message(kind, content, registration))
    except (InvalidSignature, ValueError):
        return False
    return True


def code(kind: str, content: dict[str, Any]) -> str:
    """The short code of a signed record, for the clinician (``XXXX-XXXX-XXXX-XXXX``): the
    fingerprint of the SHA-256 of its kind and whole content, signature included."""
    text = json.dumps({"kind": kind, "content": content}, sort_keys=True, separators=(",", ":"))
    return fingerprint(hashlib.sha256(text.encode()).hexdigest())

"""Ed25519 verification over ``cryptography``, for Standard Webhooks ``v1a`` signatures.

This module imports ``cryptography`` at the top: import it only when an ed25519 public key is
configured, so that HMAC-only receivers do not pay for loading it on a cold start.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hubsync.exceptions import ConfigurationError

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def load_public_keys(raw_keys: Sequence[bytes]) -> list[Ed25519PublicKey]:
    """Public keys from their raw 32-byte form; ConfigurationError (not quoting the key) for a bad one."""
    keys = []
    for raw in raw_keys:
        try:
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError:
            raise ConfigurationError("a configured whpk_ key is not a valid ed25519 public key") from None
    return keys


def verifies_any(keys: Sequence[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` over ``message`` was made by one of ``keys`` (each key is tried)."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    verified = False
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        verified = True
    return verified

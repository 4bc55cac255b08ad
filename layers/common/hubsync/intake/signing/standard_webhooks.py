"""Webhook signature verification: Standard Webhooks (https://www.standardwebhooks.com/).

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the ``webhook-signature`` header
holds one or more space-separated entries:

- ``v1,<base64 HMAC-SHA256>``, keyed by a shared ``whsec_<base64>`` secret;
- ``v1a,<base64 ed25519 signature>``, checked with a ``whpk_<base64 raw 32-byte>`` public key.

Secrets and public keys go in the same list. A ``v1`` entry is checked only against the HMAC
secrets and a ``v1a`` entry only against the public keys; a request passes when any entry matches
any of them (rotation: the sender signs with old and new keys, the receiver lists both).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing.checks import (
    NO_MATCH,
    NO_SECRET,
    check_fresh,
    check_secret_list,
    decode_base64,
    matches_any,
    parse_timestamp,
    require_header,
)
from hubsync.intake.signing.options import Options
from hubsync.intake.signing.types import SignedRequest, Verified

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
PRIVATE_KEY_PREFIX = "whsk_"
PUBLIC_KEY_BYTES = 32  # repeated from ed25519.py, which must not be imported just to read it


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (a bare base64 secret is accepted too)."""
    body = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    key = _b64_or_none(body)
    # The messages must not quote the secret.
    if key is None:
        raise ConfigurationError("a configured webhook secret is not valid base64 (expected whsec_<base64>)")
    if not key:
        raise ConfigurationError("a configured webhook secret is empty")
    return key


def decode_public_key(key: str) -> bytes:
    """The raw 32 bytes of a ``whpk_<base64>`` ed25519 public key."""
    raw = _b64_or_none(key[len(PUBLIC_KEY_PREFIX) :])
    if raw is None or len(raw) != PUBLIC_KEY_BYTES:
        raise ConfigurationError(
            f"a configured whpk_ key is not a base64 raw ed25519 public key ({PUBLIC_KEY_BYTES} bytes)"
        )
    return raw


def _b64_or_none(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class StandardWebhooksVerifier:
    """Checks ``webhook-id``/``webhook-timestamp``/``webhook-signature`` against every configured secret and key.

    ``cryptography`` is imported only when a ``whpk_`` key is configured (cold start).
    """

    scheme = "standard-webhooks"

    def __init__(
        self,
        secrets: Sequence[str],
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        hmac_keys: list[bytes] = []
        raw_public_keys: list[bytes] = []
        for secret in check_secret_list(secrets, self.scheme):
            if secret.startswith(PRIVATE_KEY_PREFIX):
                # A private key on the receiving side means it has leaked out of the sender.
                raise ConfigurationError("a whsk_ private key is configured: configure its whpk_ public key instead")
            if secret.startswith(PUBLIC_KEY_PREFIX):
                raw_public_keys.append(decode_public_key(secret))
            else:
                hmac_keys.append(decode_secret(secret))
        self._hmac_keys = hmac_keys
        self._public_keys = _load_public_keys(raw_public_keys) if raw_public_keys else []
        self._tolerance = tolerance_seconds
        self._clock = clock

    def verify(self, request: SignedRequest) -> Verified:
        """Verified (with the webhook id) when the request is authentic; raises SignatureError otherwise."""
        if not self._hmac_keys and not self._public_keys:
            raise SignatureError(NO_SECRET)
        msg_id = require_header(request, "webhook-id")
        timestamp = require_header(request, "webhook-timestamp")
        signature_header = require_header(request, "webhook-signature")
        sent_at = parse_timestamp(timestamp, "webhook-timestamp", "seconds")
        check_fresh(sent_at, self._clock(), self._tolerance, "webhook-timestamp")
        # The timestamp as an integer, as the reference libraries re-format it before signing.
        signed = f"{msg_id}.{sent_at}.".encode() + request.body
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._hmac_keys]
        for entry in signature_header.split():
            version, _, encoded = entry.partition(",")
            if self._entry_matches(version, decode_base64(encoded), signed, expected):
                return Verified(self.scheme, delivery_id=msg_id, signed_at=float(sent_at))
        raise SignatureError(NO_MATCH)

    def _entry_matches(self, version: str, given: bytes | None, signed: bytes, expected: list[bytes]) -> bool:
        if given is None:
            return False
        if version == "v1":
            return matches_any(given, expected)
        if version == "v1a" and self._public_keys:
            from hubsync.intake.signing import ed25519

            return ed25519.verifies_any(self._public_keys, given, signed)
        return False


def _load_public_keys(raw_keys: list[bytes]) -> list[Ed25519PublicKey]:
    try:
        from hubsync.intake.signing import ed25519
    except ImportError as exc:  # the layer ships cryptography; a trimmed build might not
        raise ConfigurationError("whpk_ keys need the cryptography package, which is not installed") from exc
    return ed25519.load_public_keys(raw_keys)


def build(
    secrets: Sequence[str], options: Mapping[str, Any] | None, tolerance_seconds: int, clock: Callable[[], float]
) -> StandardWebhooksVerifier:
    Options(StandardWebhooksVerifier.scheme, options, known=())
    return StandardWebhooksVerifier(secrets, tolerance_seconds=tolerance_seconds, clock=clock)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """A ``v1,<base64>`` signature (used by the local stack's sample command and by tests)."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()

"""Webhook signature verification: Standard Webhooks (https://www.standardwebhooks.com/).

Signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the signature header holds one or
more space-separated ``v1,<base64 HMAC-SHA256>`` entries. Several secrets may be valid at once
(rotation): a request passes when any entry matches any secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence

from hubsync.exceptions import SignatureError

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret (a bare base64 secret is accepted too)."""
    body = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        # The message must not quote the secret.
        raise SignatureError("a configured webhook secret is not valid base64 (expected whsec_<base64>)") from None


class StandardWebhooksVerifier:
    """Checks ``webhook-id``/``webhook-timestamp``/``webhook-signature`` against every configured secret."""

    scheme = "standard-webhooks"

    def __init__(
        self,
        secrets: Sequence[str],
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = [decode_secret(s) for s in secrets]
        self._tolerance = tolerance_seconds
        self._clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Returns the webhook id when the request is authentic; raises SignatureError otherwise.

        ``headers`` must have lower-case names (API Gateway HTTP APIs deliver them so).
        """
        if not self._keys:
            raise SignatureError("no webhook secret is configured: every request is refused")
        msg_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signature_header = headers.get("webhook-signature", "")
        if not msg_id or not timestamp or not signature_header:
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureError("webhook-timestamp is not an integer (seconds since the epoch)") from None
        now = self._clock()
        if sent_at < now - self._tolerance:
            raise SignatureError("webhook-timestamp is too old")
        if sent_at > now + self._tolerance:
            raise SignatureError("webhook-timestamp is too far in the future")
        signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._keys]
        for entry in signature_header.split():
            version, _, encoded = entry.partition(",")
            if version != "v1" or not encoded:
                continue
            try:
                given = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                continue
            # compare_digest against every secret: constant time per comparison, no early exit on a hit.
            if any(hmac.compare_digest(given, digest) for digest in expected):
                return msg_id
        raise SignatureError("no signature matches any configured secret")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """A ``v1,<base64>`` signature (used by the local stack's sample command and by tests)."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()

"""Stripe's webhook signatures: ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``.

Each ``v1`` is the hex HMAC-SHA256 of ``f"{t}.{body}"`` keyed by the endpoint secret's whole text
(``whsec_...`` as UTF-8, not base64-decoded, unlike Standard Webhooks). Stripe sends one ``v1`` per
active secret while one is being rolled; any ``v1`` matching any configured secret passes. ``v0``
(test-mode SHA-1 era) entries are ignored. Option ``header`` names another header (any case).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubsync.exceptions import SignatureError
from hubsync.intake.signing.checks import (
    NO_MATCH,
    NO_SECRET,
    check_fresh,
    decode_hex,
    matches_any,
    parse_timestamp,
    require_header,
    utf8_secrets,
)
from hubsync.intake.signing.options import Options
from hubsync.intake.signing.types import SignedRequest, Verified

DEFAULT_HEADER = "stripe-signature"


def parse_header(value: str) -> tuple[str | None, list[str]]:
    """The first ``t`` value and every ``v1`` value of a Stripe-Signature header (as Stripe's library reads it)."""
    timestamp: str | None = None
    signatures: list[str] = []
    for item in value.split(","):
        key, _, field = item.strip().partition("=")
        if key == "t" and timestamp is None:
            timestamp = field
        elif key == "v1":
            signatures.append(field)
    return timestamp, signatures


class StripeVerifier:
    """Checks the ``t``/``v1`` pairs of a Stripe-Signature header against every configured endpoint secret."""

    scheme = "stripe"

    def __init__(
        self,
        secrets: Sequence[str],
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
        *,
        header: str = DEFAULT_HEADER,
    ) -> None:
        self._keys = utf8_secrets(secrets, self.scheme)
        self._tolerance = tolerance_seconds
        self._clock = clock
        self._header = header.strip().lower()  # request header names arrive lower-cased

    def verify(self, request: SignedRequest) -> Verified:
        """Verified (no delivery id: Stripe's event id is in the body) or SignatureError."""
        if not self._keys:
            raise SignatureError(NO_SECRET)
        timestamp, signatures = parse_header(require_header(request, self._header))
        if not timestamp:
            raise SignatureError(f"{self._header} header has no t= timestamp")
        sent_at = parse_timestamp(timestamp, f"{self._header} t=", "seconds")
        check_fresh(sent_at, self._clock(), self._tolerance, f"{self._header} t=")
        if not signatures:
            raise SignatureError(f"{self._header} header has no v1= signature")
        # Stripe signs the timestamp as an integer ("%d"), so a leading zero is signed without it.
        signed = f"{sent_at}.".encode() + request.body
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._keys]
        for signature in signatures:
            if matches_any(decode_hex(signature), expected):
                return Verified(self.scheme, delivery_id=None, signed_at=float(sent_at))
        raise SignatureError(NO_MATCH)


def build(
    secrets: Sequence[str], options: Mapping[str, Any] | None, tolerance_seconds: int, clock: Callable[[], float]
) -> StripeVerifier:
    read = Options(StripeVerifier.scheme, options, known=("header",))
    return StripeVerifier(
        secrets, tolerance_seconds=tolerance_seconds, clock=clock, header=read.text("header", DEFAULT_HEADER) or ""
    )

"""HubSpot's own webhook signatures (when the sender is HubSpot itself), keyed by the app's client secret.

- v3 (``x-hubspot-signature-v3`` + ``x-hubspot-request-timestamp`` in epoch milliseconds): base64
  HMAC-SHA256 over ``method + uri + body + timestamp``, where ``uri`` is the full URL as called with
  a fixed set of percent-escapes decoded (``decode_uri``). Timestamped, so replays are bounded.
- v1/v2 (``x-hubspot-signature`` + ``x-hubspot-signature-version``): hex SHA-256 of
  ``secret + body`` (v1) or ``secret + method + uri + body`` (v2, uri exactly as called, not
  decoded). Only with option ``allowLegacy``; see ``HubSpotVerifier._verify_legacy``.

The uri is ``request.url`` (``scheme://host/path?query``, exactly as HubSpot called it, query not
re-encoded), or, with option ``publicUrl``, the same with its scheme and host replaced: for a
custom domain or proxy in front of API Gateway, whose URL the Lambda does not see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing.checks import (
    NO_MATCH,
    NO_SECRET,
    check_fresh,
    decode_base64,
    decode_hex,
    matches_any,
    parse_timestamp,
    require_header,
    utf8_secrets,
)
from hubsync.intake.signing.options import Options
from hubsync.intake.signing.types import SignedRequest, Verified

V3_SIGNATURE = "x-hubspot-signature-v3"
V3_TIMESTAMP = "x-hubspot-request-timestamp"
LEGACY_SIGNATURE = "x-hubspot-signature"
LEGACY_VERSION = "x-hubspot-signature-version"

# HubSpot's v3 rule decodes exactly these escapes (hex in either case) and leaves every other one,
# %25 included, as sent; one pass, so "%253A" stays "%253A".
_V3_DECODED_ESCAPES = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)


def decode_uri(uri: str) -> str:
    """The uri as HubSpot's v3 signature covers it: ``: / ? @ ! $ ' ( ) * , ;`` percent-escapes decoded."""
    return _V3_DECODED_ESCAPES.sub(lambda match: chr(int(match.group(1), 16)), uri)


def public_uri(url: str, public_url: str | None) -> str:
    """``url`` with its ``scheme://host`` replaced by ``public_url``; the path and query are kept byte for byte.

    String surgery rather than urlsplit/urlunsplit, which would drop an empty ``?`` and so change
    what was signed.
    """
    if public_url is None:
        return url
    scheme_end = url.find("://")
    rest = url[scheme_end + 3 :] if scheme_end >= 0 else url
    if scheme_end >= 0:
        cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
        rest = rest[cut:]
    return public_url.rstrip("/") + rest


class HubSpotVerifier:
    """Checks HubSpot's v3 signature (and v1/v2 when ``allow_legacy``) against every configured client secret.

    A request carrying a v3 signature is judged on it alone: a failing v3 never falls back to v1/v2.
    HubSpot sends no delivery id in its headers, so ``Verified.delivery_id`` is None.
    """

    scheme = "hubspot"

    def __init__(
        self,
        secrets: Sequence[str],
        tolerance_seconds: int = 300,
        clock: Callable[[], float] = time.time,
        *,
        allow_legacy: bool = False,
        public_url: str | None = None,
    ) -> None:
        self._keys = utf8_secrets(secrets, self.scheme)
        self._tolerance = tolerance_seconds
        self._clock = clock
        self._allow_legacy = allow_legacy
        self._public_url = public_url

    def verify(self, request: SignedRequest) -> Verified:
        if not self._keys:
            raise SignatureError(NO_SECRET)
        if request.headers.get(V3_SIGNATURE, "").strip():
            return self._verify_v3(request)
        if self._allow_legacy:
            return self._verify_legacy(request)
        if request.headers.get(LEGACY_SIGNATURE, "").strip():
            raise SignatureError(f"missing {V3_SIGNATURE} header (v1/v2 signatures are refused: allowLegacy is off)")
        raise SignatureError(f"missing {V3_SIGNATURE} header")

    def _verify_v3(self, request: SignedRequest) -> Verified:
        signature = require_header(request, V3_SIGNATURE)
        timestamp = require_header(request, V3_TIMESTAMP).strip()
        sent_at = parse_timestamp(timestamp, V3_TIMESTAMP, "milliseconds") / 1000
        check_fresh(sent_at, self._clock(), self._tolerance, V3_TIMESTAMP)
        uri = decode_uri(public_uri(request.url, self._public_url))
        # The timestamp as sent (not re-formatted): HubSpot signs the header's text.
        signed = (request.method.upper() + uri).encode() + request.body + timestamp.encode()
        expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in self._keys]
        if not matches_any(decode_base64(signature), expected):
            raise SignatureError(NO_MATCH)
        return Verified(self.scheme, delivery_id=None, signed_at=sent_at)

    def _verify_legacy(self, request: SignedRequest) -> Verified:
        """v1/v2: a plain SHA-256 of secret and content, with no timestamp.

        No replay protection: a captured v1/v2 delivery verifies for ever, and v1 does not even
        cover the URL. Only idempotent receipt (merging updates) makes a replay harmless.
        """
        signature = require_header(request, LEGACY_SIGNATURE)
        version = require_header(request, LEGACY_VERSION).strip().lower()
        if version == "v1":
            covered = request.body
        elif version == "v2":
            uri = public_uri(request.url, self._public_url)  # exactly as called: v2 decodes nothing
            covered = (request.method.upper() + uri).encode() + request.body
        else:
            raise SignatureError(f"{LEGACY_VERSION} must be v1 or v2 (v3 comes in {V3_SIGNATURE})")
        expected = [hashlib.sha256(key + covered).digest() for key in self._keys]
        if not matches_any(decode_hex(signature), expected):
            raise SignatureError(NO_MATCH)
        return Verified(self.scheme, delivery_id=None, signed_at=None)


def check_public_url(value: str | None) -> str | None:
    """``publicUrl`` must be a bare base URL: scheme and host (and port), nothing after."""
    if value is None:
        return None
    problem = ConfigurationError(
        "option publicUrl of signature scheme 'hubspot' must be a base URL such as https://hooks.example.com"
        " (scheme and host, no path, query or user)"
    )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise problem
    if parts.query or parts.fragment or "@" in parts.netloc or "?" in value or "#" in value:
        raise problem
    return value.rstrip("/")


def build(
    secrets: Sequence[str], options: Mapping[str, Any] | None, tolerance_seconds: int, clock: Callable[[], float]
) -> HubSpotVerifier:
    read = Options(HubSpotVerifier.scheme, options, known=("allowLegacy", "publicUrl"))
    return HubSpotVerifier(
        secrets,
        tolerance_seconds=tolerance_seconds,
        clock=clock,
        allow_legacy=read.flag("allowLegacy"),
        public_url=check_public_url(read.text("publicUrl")),
    )


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp_ms: int) -> str:
    """A v3 signature for ``url`` as called (decoded here, as HubSpot does). For tests and local senders."""
    signed = (method.upper() + decode_uri(url)).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()).decode()

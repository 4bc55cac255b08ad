"""Checks every scheme shares: header lookup, timestamp freshness, lenient decoding, constant-time matching.

Nothing here quotes a header value, a secret or an expected signature in an error: messages go to
logs and back to the sender.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing.types import SignedRequest

NO_MATCH = "no signature matches any configured secret"
NO_SECRET = "no webhook secret is configured: every request is refused"

# Epoch seconds or milliseconds fit in 20 digits; longer values are refused before int() sees them.
_MAX_TIMESTAMP_DIGITS = 20


def require_header(request: SignedRequest, name: str) -> str:
    """The value of header ``name``; SignatureError when it is absent or blank.

    ``name`` is lower-case and so are the request's header names: the caller lower-cases them
    (API Gateway HTTP APIs deliver them so), the verifiers never search case-insensitively.
    """
    value = request.headers.get(name, "")
    if not value.strip():
        raise SignatureError(f"missing {name} header")
    return value


def parse_timestamp(value: str, header: str, unit: str) -> int:
    """The integer in a timestamp header: ASCII digits only (``int()`` would take ``+1_0``)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"{header} is not an integer ({unit} since the epoch)")
    return int(text)


def check_fresh(sent_at: float, now: float, tolerance_seconds: int, header: str) -> None:
    """SignatureError when ``sent_at`` (epoch seconds) is further than the tolerance from ``now``, either way.

    The past bound limits replays of a captured delivery; the future bound stops a sender with a
    wrong clock (or an attacker) from minting signatures that stay valid for longer.
    """
    if sent_at < now - tolerance_seconds:
        raise SignatureError(f"timestamp too old: {header} is more than {tolerance_seconds} s in the past")
    if sent_at > now + tolerance_seconds:
        raise SignatureError(f"timestamp too far in the future: {header} is more than {tolerance_seconds} s ahead")


def decode_hex(text: str) -> bytes | None:
    """The bytes of a hex string (either case), or None: a malformed signature is just one that matches nothing."""
    try:
        return binascii.a2b_hex(text.strip())
    except (binascii.Error, ValueError):
        return None


def decode_base64(text: str) -> bytes | None:
    """The bytes of a standard base64 string, or None (see decode_hex)."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def matches_any(given: bytes | None, expected: Sequence[bytes]) -> bool:
    """Whether ``given`` equals one of ``expected``, comparing in constant time against every one.

    No early exit on a hit: the time taken does not tell which secret matched.
    """
    if given is None:
        return False
    matched = False
    for digest in expected:
        matched |= hmac.compare_digest(given, digest)
    return matched


def utf8_secrets(secrets: Sequence[str], scheme: str) -> list[bytes]:
    """Secrets used as raw UTF-8 HMAC keys (HubSpot, Stripe, generic HMAC); ConfigurationError for a blank one."""
    keys = []
    for secret in check_secret_list(secrets, scheme):
        if not secret.strip():
            raise ConfigurationError(f"a configured {scheme} secret is empty")
        keys.append(secret.encode("utf-8"))
    return keys


def check_secret_list(secrets: Sequence[str], scheme: str) -> list[str]:
    """``secrets`` as a list of strings; a bare string would otherwise be taken as one secret per character."""
    if isinstance(secrets, str) or not all(isinstance(secret, str) for secret in secrets):
        raise ConfigurationError(f"the {scheme} secrets must be a list of strings")
    return list(secrets)

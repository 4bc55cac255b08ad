"""Webhook signature schemes, one module each, chosen per source by name.

``build_verifier(scheme, secrets, ...)`` gives a Verifier; every scheme verifies the raw bytes
received, compares in constant time against every secret, accepts several secrets at once
(rotation), checks timestamps (where the scheme signs one) against ``clock()`` within
``tolerance_seconds`` both ways, and never quotes a secret or an expected signature in an error.

Schemes and their options:

- ``standard-webhooks``: ``whsec_`` secrets (v1 HMAC) and ``whpk_`` public keys (v1a ed25519). No options.
- ``hubspot``: HubSpot app client secrets. ``allowLegacy`` (bool, default false: v1/v2 too),
  ``publicUrl`` (base URL replacing the scheme and host of the request URL).
- ``hmac-sha256``: ``header`` (required), ``prefix`` (default ""), ``encoding`` ("hex" or "base64"),
  ``deliveryIdHeader``. GitHub: ``{"header": "x-hub-signature-256", "prefix": "sha256="}``.
- ``stripe``: Stripe endpoint secrets. ``header`` (default "stripe-signature").
- ``none``: accepts everything; secrets ignored. No options.

Verifiers expect ``SignedRequest.headers`` with lower-case names: the caller lower-cases them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubsync.exceptions import ConfigurationError
from hubsync.intake.signing import hmac_sha256, hubspot, standard_webhooks, stripe, unsigned
from hubsync.intake.signing.types import SignedRequest, Verified, Verifier

__all__ = ["SCHEMES", "SignedRequest", "Verified", "Verifier", "build_verifier"]

_Builder = Callable[[Sequence[str], Mapping[str, Any] | None, int, Callable[[], float]], Verifier]

_BUILDERS: dict[str, _Builder] = {
    "standard-webhooks": standard_webhooks.build,
    "hubspot": hubspot.build,
    "hmac-sha256": hmac_sha256.build,
    "stripe": stripe.build,
    "none": unsigned.build,
}

SCHEMES = tuple(_BUILDERS)


def build_verifier(
    scheme: str,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int = 300,
    options: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
) -> Verifier:
    """The verifier of ``scheme`` over ``secrets``; ConfigurationError for an unknown scheme or bad options.

    Secrets are checked here (malformed ones are a ConfigurationError that does not quote them); an
    empty list gives a verifier that refuses every request (except for ``none``).
    """
    builder = _BUILDERS.get(scheme)
    if builder is None:
        raise ConfigurationError(f"unknown signature scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if isinstance(tolerance_seconds, bool) or not isinstance(tolerance_seconds, int) or tolerance_seconds < 0:
        raise ConfigurationError("the signature tolerance_seconds must be a whole number of seconds, 0 or more")
    return builder(secrets, options, tolerance_seconds, clock)

"""Generic HMAC-SHA256 over the raw body, in a header of the source's choosing (GitHub's ``X-Hub-Signature-256``).

Options: ``header`` (required; any case), ``prefix`` (default ``""``; GitHub: ``"sha256="``),
``encoding`` (``"hex"``, the default, or ``"base64"``) and ``deliveryIdHeader`` (e.g.
``"x-github-delivery"``) whose value becomes ``Verified.delivery_id``. The secret is used as its
raw UTF-8 bytes. The header carries one signature (GitHub sends one); a list matches nothing.

Nothing is timestamped, so nothing bounds replays: a captured delivery verifies for ever, and
replay protection rests on idempotent receipt. The delivery id header is not signed either, so it
is a hint for logs and de-duplication, not proof.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubsync.exceptions import SignatureError
from hubsync.intake.signing.checks import (
    NO_MATCH,
    NO_SECRET,
    decode_base64,
    decode_hex,
    matches_any,
    require_header,
    utf8_secrets,
)
from hubsync.intake.signing.options import Options
from hubsync.intake.signing.types import SignedRequest, Verified

ENCODINGS = ("hex", "base64")


class HmacSha256Verifier:
    """Checks ``<prefix><hex or base64 HMAC-SHA256 of the body>`` in one header against every configured secret."""

    scheme = "hmac-sha256"

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        header: str,
        prefix: str = "",
        encoding: str = "hex",
        delivery_id_header: str | None = None,
    ) -> None:
        self._keys = utf8_secrets(secrets, self.scheme)
        # Request header names arrive lower-cased (see checks.require_header), so configured ones are too.
        self._header = header.strip().lower()
        self._prefix = prefix
        self._decode = decode_hex if encoding == "hex" else decode_base64
        self._delivery_id_header = delivery_id_header.strip().lower() if delivery_id_header else None

    def verify(self, request: SignedRequest) -> Verified:
        if not self._keys:
            raise SignatureError(NO_SECRET)
        value = require_header(request, self._header).strip()
        if not value.startswith(self._prefix):
            raise SignatureError(f"{self._header} header does not start with the configured prefix")
        expected = [hmac.new(key, request.body, hashlib.sha256).digest() for key in self._keys]
        if not matches_any(self._decode(value[len(self._prefix) :]), expected):
            raise SignatureError(NO_MATCH)
        delivery_id = request.headers.get(self._delivery_id_header, "").strip() if self._delivery_id_header else ""
        return Verified(self.scheme, delivery_id=delivery_id or None, signed_at=None)


def build(
    secrets: Sequence[str], options: Mapping[str, Any] | None, tolerance_seconds: int, clock: Callable[[], float]
) -> HmacSha256Verifier:
    """``tolerance_seconds`` and ``clock`` are unused: nothing here is timestamped."""
    read = Options(HmacSha256Verifier.scheme, options, known=("header", "prefix", "encoding", "deliveryIdHeader"))
    return HmacSha256Verifier(
        secrets,
        header=read.required_text("header"),
        prefix=read.text("prefix", "", allow_empty=True) or "",
        encoding=read.choice("encoding", ENCODINGS, "hex"),
        delivery_id_header=read.text("deliveryIdHeader"),
    )

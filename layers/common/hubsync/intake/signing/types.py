"""What a signature scheme sees of a request, and what it says back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SignedRequest:
    """A webhook delivery as received: verification runs over these exact bytes, never re-serialised JSON."""

    method: str
    url: str  # as the sender called it: scheme://host/path?query (HubSpot v2/v3 sign it)
    headers: Mapping[str, str]  # lower-case names (API Gateway HTTP APIs deliver them so)
    body: bytes


@dataclass(frozen=True)
class Verified:
    """An authentic delivery. ``delivery_id`` is the scheme's own id for it, when it has one."""

    scheme: str
    delivery_id: str | None = None
    signed_at: float | None = None  # epoch seconds, when the scheme signs a timestamp


class Verifier(Protocol):
    scheme: str

    def verify(self, request: SignedRequest) -> Verified:
        """Returns Verified, or raises SignatureError saying what is wrong (never quoting a secret)."""
        ...

"""Scheme ``none``: every request is accepted, signed or not.

For a source that cannot sign and is authenticated some other way (a private integration behind an
authorizer, a local test). It is never a default: only a source that names ``none`` explicitly gets
it, and the caller logs a warning when it builds one, since anyone who can reach the endpoint can
then queue updates to HubSpot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubsync.intake.signing.options import Options
from hubsync.intake.signing.types import SignedRequest, Verified


class UnsignedVerifier:
    """Accepts every request; ``Verified`` carries no delivery id and no timestamp."""

    scheme = "none"

    def verify(self, request: SignedRequest) -> Verified:
        return Verified(self.scheme)


def build(
    secrets: Sequence[str], options: Mapping[str, Any] | None, tolerance_seconds: int, clock: Callable[[], float]
) -> UnsignedVerifier:
    """Secrets, tolerance and clock are ignored; options are refused (there are none to give)."""
    Options(UnsignedVerifier.scheme, options, known=())
    return UnsignedVerifier()

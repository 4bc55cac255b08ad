"""AWS Signature Version 4 for a JSON POST to one service: the headers that sign it.

Only what hubsync's DynamoDB calls need: POST to ``/`` with no query string, the body hashed, every header
given signed. The derived signing key depends only on the secret, the day, the region and the service, so it
is kept per day rather than derived with four HMACs for every request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

ALGORITHM = "AWS4-HMAC-SHA256"


class Credentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None


@dataclass
class SigV4Signer:
    region: str
    service: str
    # (day, secret, key): one tuple, so a thread never pairs one day's key with another day.
    _cached: tuple[str, str, bytes] = ("", "", b"")

    def headers(
        self, credentials: Credentials, host: str, body: bytes, headers: Mapping[str, str], now: float | None = None
    ) -> dict[str, str]:
        """``headers`` plus ``Host``, ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary credentials) and
        ``Authorization``, all but the last signed. Header names are signed lower-case, values trimmed."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        day = stamp[:8]
        signed = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
        signed["host"] = host
        signed["x-amz-date"] = stamp
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        signed_headers = ";".join(names)
        canonical = "\n".join(
            (
                "POST",
                "/",
                "",
                "".join(f"{name}:{signed[name]}\n" for name in names),
                signed_headers,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(credentials.secret_key, day), to_sign.encode(), hashlib.sha256)
        out = dict(headers)
        out["Host"] = host
        out["X-Amz-Date"] = stamp
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        out["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature.hexdigest()}"
        )
        return out

    def _signing_key(self, secret: str, day: str) -> bytes:
        cached_day, cached_secret, key = self._cached
        if day != cached_day or secret != cached_secret:
            key = _hmac(f"AWS4{secret}".encode(), day)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._cached = (day, secret, key)
        return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()

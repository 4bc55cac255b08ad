"""The transport to HubSpot's CRM batch API: one pooled ``requests`` session, timeouts, no policy.

What an answer means (applied, failed, retry) is decided in ``hubsync.outcomes``; when to retry in
``hubsync.retry``. This module never raises for an HTTP status or a network error: it returns a
``HubSpotAnswer`` that says what happened, so callers decide.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from hubsync.types import BatchInput

TIMEOUT = "TIMEOUT"
CONNECTION = "CONNECTION"


@dataclass(frozen=True)
class HubSpotAnswer:
    """One HTTP exchange. ``status`` is None when no answer came (``transport_error`` says why)."""

    status: int | None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    transport_error: str | None = None
    detail: str = ""  # a short, secret-free description for logs and the DLQ

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class HubSpotClient:
    """Calls ``POST /crm/v3/objects/{objectType}/batch/update`` and friends.

    ``token`` is a string or a callable returning one (so a cached secret can rotate).
    Safe to share between threads: requests' Session with an explicit pool.
    """

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str],
        session: requests.Session | None = None,
        timeout_seconds: float = 20.0,
        connect_timeout_seconds: float = 3.05,
        pool_size: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = (connect_timeout_seconds, timeout_seconds)
        if session is None:
            session = requests.Session()
            # Retries belong to hubsync's policy, not to urllib3: max_retries=0.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session

    def _headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "hubsync/0.1",
        }

    def batch_update(self, object_type: str, inputs: Sequence[BatchInput]) -> HubSpotAnswer:
        return self.post(f"/crm/v3/objects/{object_type}/batch/update", {"inputs": list(inputs)})

    def post(self, path: str, payload: Any) -> HubSpotAnswer:
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self._send("POST", path, data)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> HubSpotAnswer:
        return self._send("GET", path, None, params)

    def _send(
        self, method: str, path: str, data: bytes | None, params: Mapping[str, str] | None = None
    ) -> HubSpotAnswer:
        try:
            response = self._session.request(
                method, self.base_url + path, data=data, params=params, headers=self._headers(), timeout=self._timeout
            )
        except requests.Timeout as exc:
            return HubSpotAnswer(None, transport_error=TIMEOUT, detail=f"{method} {path}: {type(exc).__name__}")
        except requests.RequestException as exc:
            return HubSpotAnswer(None, transport_error=CONNECTION, detail=f"{method} {path}: {type(exc).__name__}")
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        detail = "" if body is not None else response.text[:300]
        return HubSpotAnswer(response.status_code, body, dict(response.headers), None, detail)

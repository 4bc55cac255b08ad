"""The transport to HubSpot's CRM batch API: one urllib3 connection pool, timeouts, no policy.

What an answer means (applied, failed, retry) is decided in ``hubsync.delivery.outcomes``; when to retry in
``hubsync.delivery.retry``. This module never raises for an HTTP status or a network error: it returns a
``HubSpotAnswer`` that says what happened, so callers decide.

urllib3 rather than requests: requests is a session layer over this same pool, and that layer
(settings merging, proxy lookups in the environment, hooks, response wrapping) cost more CPU per
call than everything else the updater does per request (bench/overhead.py); nothing of it is
needed for one host, one content type and no redirects. JSON goes through msgspec, in C.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from hubsync.types import BatchInput

TIMEOUT = "TIMEOUT"
CONNECTION = "CONNECTION"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class BatchResult(msgspec.Struct, rename={"trace_id": "objectWriteTraceId"}):
    """What hubsync reads of one result of a batch answer: which input it proves applied. The properties
    stay undecoded (``msgspec.Raw``): they are read only to match an ``idProperty`` input whose result
    carries neither its trace id nor a record id hubsync knows."""

    id: str | None = None
    trace_id: str | None = None
    properties: msgspec.Raw = msgspec.Raw(b"{}")  # (msgspec takes no Raw in a union, so no None)

    def property_value(self, name: str) -> str | None:
        try:
            values = _decode(self.properties)
        except msgspec.DecodeError:
            return None
        value = values.get(name) if isinstance(values, dict) else None
        return value if isinstance(value, str) else None


class _BatchResults(msgspec.Struct, rename={"num_errors": "numErrors"}):
    """What hubsync reads of a 200/207 batch answer. A key the answer lacks stays unset, so that an
    answer that is not HubSpot's (a proxy's ``{}``) is not mistaken for an empty batch answer."""

    status: Any = msgspec.UNSET
    results: list[BatchResult] | msgspec.UnsetType = msgspec.UNSET
    errors: list[Any] = []
    num_errors: Any = msgspec.UNSET


_decode_batch_results = msgspec.json.Decoder(_BatchResults).decode


def _batch_body(content: bytes) -> Any:
    """A 2xx batch answer as a dict of what hubsync reads (``results`` as ``BatchResult`` each), or
    decoded whole when it is not that shape."""
    try:
        answer = _decode_batch_results(content)
    except msgspec.ValidationError:
        return _decode(content)  # not the documented shape: outcomes judges it as it is
    body: dict[str, Any] = {}
    if answer.results is not msgspec.UNSET:
        body["results"] = answer.results
    if answer.status is not msgspec.UNSET:
        body["status"] = answer.status
    if answer.errors:
        body["errors"] = answer.errors
    if answer.num_errors is not msgspec.UNSET:
        body["numErrors"] = answer.num_errors
    return body


@dataclass(frozen=True)
class HubSpotAnswer:
    """One HTTP exchange. ``status`` is None when no answer came (``transport_error`` says why).

    The body is the decoded JSON, except that a 2xx batch answer's ``results`` are read only as far as
    settling needs (``BatchResult`` each: id, trace id, properties undecoded)."""

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
    Safe to share between threads: urllib3's pool hands each request its own connection.
    """

    def __init__(
        self,
        base_url: str,
        token: str | Callable[[], str],
        timeout_seconds: float = 20.0,
        connect_timeout_seconds: float = 3.05,
        pool_size: int = 10,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._prefix = urlsplit(self.base_url).path
        self._token = token
        # Retries and redirects belong to hubsync's policy, not to urllib3: both off.
        self._pool = urllib3.connection_from_url(
            self.base_url,
            maxsize=pool_size,
            timeout=urllib3.Timeout(connect=connect_timeout_seconds, read=timeout_seconds),
            retries=False,
        )

    def _headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "hubsync/0.1",
        }

    def batch_update(self, object_type: str, inputs: Sequence[BatchInput]) -> HubSpotAnswer:
        path = f"/crm/v3/objects/{object_type}/batch/update"
        return self._send("POST", path, _encode({"inputs": inputs}), _batch_body)

    def batch_upsert(self, object_type: str, inputs: Sequence[BatchInput]) -> HubSpotAnswer:
        """``batch/upsert``: the same inputs; records that do not exist are created (``idProperty`` inputs)."""
        path = f"/crm/v3/objects/{object_type}/batch/upsert"
        return self._send("POST", path, _encode({"inputs": inputs}), _batch_body)

    def post(self, path: str, payload: Any) -> HubSpotAnswer:
        return self._send("POST", path, _encode(payload))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> HubSpotAnswer:
        return self._send("GET", f"{path}?{urlencode(params)}" if params else path, None)

    def _send(
        self, method: str, path: str, data: bytes | None, success_body: Callable[[bytes], Any] = _decode
    ) -> HubSpotAnswer:
        try:
            response = self._pool.urlopen(
                method, self._prefix + path, body=data, headers=self._headers(), redirect=False, preload_content=True
            )
        except NewConnectionError:  # a subclass of the connect timeout, but nothing answered at all
            return HubSpotAnswer(None, transport_error=CONNECTION, detail=f"{method} {path}: NewConnectionError")
        except TimeoutError as exc:
            return HubSpotAnswer(None, transport_error=TIMEOUT, detail=f"{method} {path}: {type(exc).__name__}")
        except HTTPError as exc:
            return HubSpotAnswer(None, transport_error=CONNECTION, detail=f"{method} {path}: {type(exc).__name__}")
        except ValueError:  # http.client refuses a header value (a token with a line break): no request went
            return HubSpotAnswer(None, transport_error=CONNECTION, detail=f"{method} {path}: invalid header value")
        content = response.data
        try:
            body = (success_body if 200 <= response.status < 300 else _decode)(content) if content else None
        except msgspec.DecodeError:
            body = None
        detail = "" if body is not None else content[:300].decode("utf-8", "replace")
        return HubSpotAnswer(response.status, body, dict(response.headers), None, detail)

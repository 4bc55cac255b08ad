"""``LeanDynamoDB``: DynamoDB's JSON protocol over a pool of http.client connections (``transport``), as a
drop-in for a botocore client's calls.

Made from a botocore DynamoDB client, whose endpoint, region, timeouts, pool size and event hooks it takes
over (``meta`` is that client's, so ``client.meta.events.register(...)`` works as on botocore), and from
credentials (a botocore credentials object, refreshed by botocore, or fixed ones). What it does not do:
client-side parameter validation (DynamoDB validates every request and answers 400), and decoding binary
(``B``) values, which stay base64 text as on the wire; hubsync sends none.

Retries (its own, as botocore's would be): connection failures, timeouts, 500/502/503/504, throttling and
``TransactionInProgressException``, a corrupted answer (its ``x-amz-crc32`` does not match); three attempts
in all, with full-jitter exponential backoff from 100 ms. A retry resends the same bytes, so a
``ClientRequestToken`` stays the same and a transaction that did go through is answered as a success.
Callers keep their own loops above this one (the record state retries a commit that lost a race).
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import msgspec
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from hubsync.dynamodb.sigv4 import Credentials, SigV4Signer
from hubsync.dynamodb.transport import Answer, Transport

API_VERSION = "DynamoDB_20120810"
CONTENT_TYPE = "application/x-amz-json-1.0"
DEFAULT_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
# DynamoDB's codes for "slow down" and "a transaction with this token is still running": safe to send again.
_RETRY_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "InternalServerError",
    }
)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class CredentialSource(Protocol):
    def get_frozen_credentials(self) -> Any: ...


class PreparedRequest(NamedTuple):
    """What a ``before-send`` hook is given, as botocore's AWSPreparedRequest: method, url, headers, body."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    stream_output: bool = False


class OperationModel(NamedTuple):
    """The part of botocore's operation model hooks read: its name."""

    name: str


class LeanDynamoDB:
    """The record state's two operations by botocore's method names (``transact_write_items(**params)``,
    ``batch_get_item(**params)``): botocore's answers and errors. Another operation is one more method calling
    ``_make_api_call``. Safe to share between threads, as botocore's client is."""

    def __init__(
        self,
        botocore_client: Any,
        credentials: CredentialSource | Credentials,
        *,
        max_attempts: int = DEFAULT_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        meta = botocore_client.meta
        self.meta = meta
        self._endpoint = meta.endpoint_url
        parts = urlsplit(self._endpoint)
        self._path = parts.path or "/"
        if self._path != "/" or parts.query:
            raise ValueError(f"a DynamoDB endpoint has no path: {self._endpoint}")
        default_port = {"https": 443, "http": 80}.get(parts.scheme)
        self._host = (parts.hostname or "").lower() if parts.port in (None, default_port) else parts.netloc.lower()
        self._signer = SigV4Signer(meta.region_name, "dynamodb")
        self._credentials = credentials
        config = meta.config
        self._transport = Transport(
            self._endpoint, config.connect_timeout, config.read_timeout, config.max_pool_connections
        )
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._rng = rng

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self._make_api_call("TransactWriteItems", params)

    def batch_get_item(self, **params: Any) -> dict[str, Any]:
        return self._make_api_call("BatchGetItem", params)

    # ------------------------------------------------------------------------------------------ one call
    def _make_api_call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        events = self.meta.events
        model = OperationModel(operation)
        event = f"dynamodb.{operation}"
        body = _encode(params)
        answer = self._send(operation, event, body)
        parsed = _parse(answer)
        events.emit(f"after-call.{event}", http_response=answer, parsed=parsed, model=model, context={})
        if answer.status_code >= 300:
            raise ClientError(parsed, operation)  # type: ignore[arg-type]
        return parsed

    def _send(self, operation: str, event: str, body: bytes) -> Answer:
        """The last answer, after retrying what may be retried; raises botocore's transport errors."""
        base = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{API_VERSION}.{operation}"}
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            headers = self._signer.headers(self._frozen(), self._host, body, base)
            request = PreparedRequest("POST", self._endpoint, headers, body)
            _, faked = self.meta.events.emit_until_response(f"before-send.{event}", request=request)
            try:
                answer = _as_answer(faked) if faked is not None else self._post(headers, body)
            except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError):
                if last:
                    raise
                self._backoff(attempt)
                continue
            if last or not _retryable(answer):
                return answer
            self._backoff(attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _post(self, headers: Mapping[str, str], body: bytes) -> Answer:
        return self._transport.post(self._path, headers, body)

    def _frozen(self) -> Credentials:
        source = self._credentials
        if isinstance(source, Credentials):
            return source
        frozen = source.get_frozen_credentials()  # botocore refreshes temporary credentials here
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _backoff(self, attempt: int) -> None:
        self._sleep(self._rng() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))


def _retryable(answer: Answer) -> bool:
    if answer.status_code in _RETRY_STATUSES:
        return True
    if answer.status_code == 200:
        return not _crc_matches(answer)
    if answer.status_code == 400:
        return _error_code(answer) in _RETRY_CODES
    return False


def _crc_matches(answer: Answer) -> bool:
    expected = answer.headers.get("x-amz-crc32")
    # DynamoDB always sends it; an emulator may not. Absent, there is nothing to check against.
    return expected is None or zlib.crc32(answer.content) == int(expected)


def _error_code(answer: Answer) -> str:
    return _code_of(_body(answer), answer)


def _body(answer: Answer) -> Any:
    """The answer's JSON (``{}`` when empty), or None when it is not JSON."""
    try:
        return _decode(answer.content) if answer.content else {}
    except msgspec.DecodeError:
        return None


def _code_of(body: Any, answer: Answer) -> str:
    kind = body.get("__type", "") if isinstance(body, dict) else ""
    kind = kind or answer.headers.get("x-amzn-ErrorType", "")
    return str(kind).rsplit("#", 1)[-1].split(":", 1)[0]


def _parse(answer: Answer) -> dict[str, Any]:
    """The answer as botocore parses one: the body's members, plus ``Error`` (Code, Message) on an error, plus
    ``ResponseMetadata``."""
    body = _body(answer)
    metadata = {
        # Both header mappings (the transport's, botocore's AWSResponse's) look names up case-insensitively.
        "RequestId": answer.headers.get("x-amzn-requestid", ""),
        "HTTPStatusCode": answer.status_code,
        "HTTPHeaders": dict(answer.headers),
        "RetryAttempts": 0,
    }
    if not isinstance(body, dict):
        # Not JSON (a proxy's HTML page): the status is all there is to go on.
        code = str(answer.status_code)
        text = answer.content[:200].decode("utf-8", "replace")
        return {"Error": {"Code": code, "Message": text}, "ResponseMetadata": metadata}
    if answer.status_code < 300:
        body["ResponseMetadata"] = metadata
        return body
    members = {k: v for k, v in body.items() if k not in ("__type", "message", "Message")}
    message = body.get("message", body.get("Message", ""))
    return {"Error": {"Code": _code_of(body, answer), "Message": message}, "ResponseMetadata": metadata, **members}


def _as_answer(response: Any) -> Answer:
    """A response a ``before-send`` hook returned (botocore's AWSResponse, or an Answer)."""
    return Answer(int(response.status_code), response.headers, bytes(response.content))

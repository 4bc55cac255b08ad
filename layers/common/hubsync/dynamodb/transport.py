"""HTTP/1.1 POSTs to one endpoint over a small pool of http.client connections, reused while the server keeps
them open (AWS does; moto's development server closes each one).

Why not urllib3, which the HubSpot transport uses: for these small requests its pool and response layers
cost as much CPU again as http.client's own work (0.71 against 0.34 ms a call, measured against moto with
a 100-key BatchGetItem). No retries, redirects or proxies here; failures are botocore's exceptions, so a
caller handles them as it would botocore's.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)


class Answer(NamedTuple):
    """An HTTP answer as botocore's hooks see one (``status_code``, ``headers``, ``content``)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


class _Headers(dict[str, str]):
    """Response headers, looked up case-insensitively (stored lower-case)."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


class Transport:
    """Safe to share between threads: each request takes a connection of its own from the pool."""

    def __init__(self, endpoint: str, connect_timeout: float, read_timeout: float, pool_size: int = 10) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint}")
        self.endpoint = endpoint
        self._https = parts.scheme == "https"
        self._address = (parts.hostname, parts.port or (443 if self._https else 80))
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_size = pool_size
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if self._https:
            # AWS_CA_BUNDLE, as botocore honours it; otherwise the system's certificates.
            self._tls = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)

    def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        connection = self._take()
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            content = response.read()
        except TimeoutError as exc:
            connection.close()
            raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except (http.client.RemoteDisconnected, ConnectionError, http.client.IncompleteRead) as exc:
            # Also a kept-alive connection the server had closed meanwhile: the caller's retry takes a new one.
            connection.close()
            raise ConnectionClosedError(endpoint_url=self.endpoint, error=exc) from exc
        except (http.client.HTTPException, OSError) as exc:
            connection.close()
            raise HTTPClientError(error=exc) from exc
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        headers_out = _Headers((name.lower(), value) for name, value in response.getheaders())
        return Answer(response.status, headers_out, content)

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        host, port = self._address
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(host, port, timeout=self._connect_timeout, context=self._tls)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        assert connection.sock is not None
        connection.sock.settimeout(self._read_timeout)  # the connect timeout was for connecting only
        return connection

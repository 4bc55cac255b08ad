"""A local API Gateway HTTP API: HTTP requests become payload-2.0 events for the receiver.

Split as Chalice's local server is: an event converter, a socket-free gateway (reused by tests), and
a thin HTTP server bound to 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from hubsync_local.lambda_runtime import Handler, LambdaContext

# HTTP APIs base64-encode bodies whose content type is not text-like (AWS: "binary" payloads).
_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|[^;]*\+json|[^;]*\+xml))", re.I)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {name} placeholders, as in template.yaml
    handler: Handler
    function_name: str
    timeout_seconds: float

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


def to_http_api_event(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    route_key: str,
    path_parameters: Mapping[str, str],
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0 (header names lower-cased, as AWS does)."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        # Repeated headers are joined with commas in payload 2.0.
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    # API Gateway adds these; locally the scheme is plain http.
    lowered.setdefault("x-forwarded-proto", "http")
    lowered.setdefault("x-forwarded-for", source_ip)
    is_text = _TEXT_TYPES.match(lowered.get("content-type", "application/json")) is not None
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": f"local-{time.monotonic_ns()}",
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
    }
    event["body"], event["isBase64Encoded"] = _body(body, is_text)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    return event


def _body(body: bytes, is_text: bool) -> tuple[str, bool]:
    if not body:
        return "", False
    if is_text:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # not text after all: passed on encoded, so the handler sees the exact bytes
    return base64.b64encode(body).decode(), True


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class LocalGateway:
    """Routes requests to handlers like an HTTP API does, with no sockets."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def invoke(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> GatewayResponse:
        parts = urlsplit(target)
        for route in self.routes:
            params = route.match(method, parts.path)
            if params is None:
                continue
            event = to_http_api_event(
                method, parts.path, parts.query, headers, body, f"{route.method} {route.path}", params
            )
            context = LambdaContext(route.function_name, route.timeout_seconds)
            try:
                result = route.handler(event, context)
            except Exception:
                # API Gateway answers a failed integration with 500 and this body.
                return _json(500, {"message": "Internal Server Error"})
            return _from_lambda_result(result)
        return _json(404, {"message": "Not Found"})


def _json(status: int, document: Any) -> GatewayResponse:
    return GatewayResponse(status, {"content-type": "application/json"}, json.dumps(document).encode())


def _from_lambda_result(result: Any) -> GatewayResponse:
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 treats any other return value as a 200 JSON body.
        return _json(200, result)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return GatewayResponse(int(result["statusCode"]), headers, raw)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayServer

    def setup(self) -> None:
        super().setup()
        # One write per answer and no Nagle delay: keep-alive clients are not stalled ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.gateway.invoke(self.command, self.path, dict(self.headers.items()), body)
        head = [f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}"]
        head += [f"{name}: {value}" for name, value in response.headers.items() if name != "content-length"]
        head.append(f"Content-Length: {len(response.body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            self.server.log(f"{self.address_string()} {format % args}")


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 3000, log: Callable[[str], None] | None = None
    ) -> None:
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway
        self.log = log
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="local-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

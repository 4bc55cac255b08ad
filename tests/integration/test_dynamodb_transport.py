"""The lean DynamoDB client's transport (hubsync.dynamodb.transport) against a real HTTP/1.1 server that keeps
connections open, as AWS does (moto's development server closes each one, so the record-state tests never
reuse one): reuse, a server that drops an idle connection, timeouts and refused connections as botocore's
exceptions."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from hubsync.dynamodb.transport import Transport
from hubsync_local.aws import free_port


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.requests: list[bytes] = []
        self.delay = 0.0
        self.close_after_each = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left (the read-timeout test): expected, not worth a traceback

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(body)
        time.sleep(self.server.delay)
        answer = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("X-Amz-Crc32", "1")
        if self.server.close_after_each:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    http_server = Server()
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    yield http_server
    http_server.shutdown()
    http_server.server_close()


def test_a_kept_alive_connection_is_reused(server: Server) -> None:
    transport = Transport(server.url, 2, 2)
    answers = [transport.post("/", {"Content-Type": "application/x-amz-json-1.0"}, b"{}") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].content == b'{"ok":true}' and answers[0].headers.get("x-amz-crc32") == "1"
    assert server.connections == 1 and len(server.requests) == 5


def test_a_connection_the_server_closes_is_not_reused(server: Server) -> None:
    server.close_after_each = True
    transport = Transport(server.url, 2, 2)
    for _ in range(3):
        assert transport.post("/", {}, b"{}").status_code == 200
    assert server.connections == 3


def test_an_idle_connection_dropped_by_the_server_raises_connection_closed(server: Server) -> None:
    transport = Transport(server.url, 2, 2)
    transport.post("/", {}, b"{}")
    (idle,) = transport._idle
    assert idle.sock is not None
    idle.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout would
    with pytest.raises(ConnectionClosedError):
        transport.post("/", {}, b"{}")
    assert transport.post("/", {}, b"{}").status_code == 200, "the next request takes a new connection"


def test_a_slow_answer_is_a_read_timeout(server: Server) -> None:
    server.delay = 1.0
    transport = Transport(server.url, 2, 0.2)
    with pytest.raises(ReadTimeoutError):
        transport.post("/", {}, b"{}")
    assert transport._idle == [], "a timed-out connection is not given back"


def test_nobody_listening_is_an_endpoint_connection_error() -> None:
    transport = Transport(f"http://127.0.0.1:{free_port()}", 1, 1)
    with pytest.raises(EndpointConnectionError):
        transport.post("/", {}, b"{}")


def test_only_http_endpoints() -> None:
    with pytest.raises(ValueError, match="http"):
        Transport("ftp://example.com", 1, 1)

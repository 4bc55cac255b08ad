"""A thin HTTP/1.1 keep-alive server over `HubSpotSimulator.handle`.

Python's stock handler writes the headers and the body in two sends; on a keep-alive connection the second
send waits for the client's delayed ACK (Nagle), about 40 ms a request. So every accepted socket gets
TCP_NODELAY and every answer goes out in one write.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from .wire import Answer, reason_phrase


class App(Protocol):
    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Answer: ...


class _BadRequest(Exception):
    """A body the handler cannot read (bad Content-Length or chunking)."""


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def open_connections(self) -> list[socket.socket]:
        with self._connections_lock:
            return list(self._connections)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their handler threads finish."""
        for connection in self.open_connections():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # StreamRequestHandler.setup sets TCP_NODELAY
    timeout = 300  # idle keep-alive connections are closed after this many seconds
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no line per request."""

    def _serve(self) -> None:
        try:
            raw = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            self._write(Answer(400, {"status": "error", "message": str(exc), "category": "VALIDATION_ERROR"}))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        answer = self.server.app.handle(self.command, self.path, headers, raw)
        if answer.reset:
            self._reset()
        else:
            self._write(answer)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BadRequest(f"bad Content-Length: {length!r}")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65_537).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(65_537).strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _write(self, answer: Answer) -> None:
        payload = answer.payload()
        lines = [f"HTTP/1.1 {answer.status} {reason_phrase(answer.status)}"]
        if payload:
            lines.append(f"Content-Type: {answer.content_type}")
        lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{name}: {value}" for name, value in answer.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + payload)  # one write: see the module docstring

    def _reset(self) -> None:
        # Linger 0 makes close() send RST: the client sees a reset connection, not an answer.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.server.track(self.connection, False)
        self.connection.close()


def serve_in_thread(server: SimulatorServer, poll_interval: float = 0.01) -> threading.Thread:
    """`stop()` waits up to one poll interval for the loop to notice; short keeps test teardown fast."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="hubspot-simulator", daemon=True
    )
    thread.start()
    return thread

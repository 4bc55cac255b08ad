"""The record of API requests the simulator answered, in order, for tests to assert on."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One API request: `path` without the query string, `status` 0 when the connection was reset,
    `inputs` the number of batch inputs (0 for other calls), `at` the injected clock on arrival."""

    method: str
    path: str
    status: int
    inputs: int
    at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def append(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

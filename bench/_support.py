"""What the benchmarks share: records and events, the simulator in a child process, an in-memory DLQ, tables.

Everything talks to 127.0.0.1 only. Child processes are stopped by whoever started them (context managers).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from hubsync_local.processes import stop_process

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "sim-token"
OBJECT = "partner_services"
FIRST_RECORD_ID = 100_001


@dataclass(frozen=True)
class Headline:
    """One figure for the summary: ``value`` is a ratio measured in this run; ``target`` as the issue states it."""

    benchmark: str
    metric: str
    value: float
    target: str
    met: bool | None  # None: no target, reported for context

    def verdict(self) -> str:
        return "-" if self.met is None else ("yes" if self.met else "NO")


def record_ids(count: int, start: int = FIRST_RECORD_ID) -> list[str]:
    return [str(start + i) for i in range(count)]


def seed(ids: Iterable[str]) -> dict[str, Any]:
    """A simulator seed (see hubsync_local/simulator/seed.py) holding just these partner_services records."""
    return {"records": {OBJECT: [{"id": rid, "properties": {"property_string": "seed"}} for rid in ids]}}


def now_ms() -> int:
    return int(time.time() * 1000)


def event_body(record_id: str, occurred_at: int, **properties: str) -> str:
    """A message exactly as the receiver queues it (normalised, with receipt time, delivery id and source)."""
    return json.dumps(
        {
            "id": record_id,
            "objectType": OBJECT,
            "properties": properties,
            "occurredAt": occurred_at,
            "receivedAt": occurred_at,
            "webhookId": "msg_bench",
            "source": "default",
        },
        separators=(",", ":"),
    )


def spread(events: int, records: Sequence[str], offset: int = 0) -> list[str]:
    """Which record each of ``events`` events touches: every record at least once (events >= records),
    the rest spread deterministically, so the merged batch holds exactly ``len(records)`` inputs."""
    count = len(records)
    return [records[(offset + i * 7919) % count] if i >= count else records[i] for i in range(events)]


class RecordingSqs:
    """An in-memory stand-in for an SQS client's ``send_message_batch``: every message is kept (a DLQ to read)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.bodies.extend(entry["MessageBody"] for entry in Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print rows under headers, the first column left-aligned and the others right-aligned."""
    text = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in text)) for i, h in enumerate(headers)]
    for row in [list(headers), *text]:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))]
        print("  ".join(cells).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


# HubSpot's rate-limit headers on every answer, with room for everything a benchmark sends (no pacing, no 429).
HEADERS_ONLY_LIMIT = ("--rate-limit", "1000000", "--interval-ms", "10000")


class SimulatorProcess:
    """The HubSpot simulator's CLI in a child process (its CPU is not this process's), on a free port.

    ``records`` are seeded from a temporary seed file; ``args`` are extra CLI flags (--latency-ms 20, ...).
    """

    def __init__(self, records: Iterable[str], *args: str, start_timeout_seconds: float = 30.0) -> None:
        self._records = list(records)
        self._args = list(args)
        self._timeout = start_timeout_seconds
        self._process: subprocess.Popen[str] | None = None
        self._seed_dir: tempfile.TemporaryDirectory[str] | None = None
        self.url = ""

    def start(self) -> None:
        self._seed_dir = tempfile.TemporaryDirectory(prefix="hubsync-bench-")
        seed_path = Path(self._seed_dir.name, "seed.json")
        seed_path.write_text(json.dumps(seed(self._records)), encoding="utf-8")
        command = [sys.executable, "-m", "hubsync_local.simulator", "--host", "127.0.0.1", "--port", "0"]
        command += ["--token", TOKEN, "--seed", str(seed_path), *self._args]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
        assert self._process.stdout is not None
        # The CLI prints one line once it listens: "HubSpot simulator listening on http://127.0.0.1:PORT".
        ready, _, _ = select.select([self._process.stdout], [], [], self._timeout)
        line = self._process.stdout.readline() if ready else ""
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"the simulator did not start: {line.strip()!r}")
        self.url = line.rsplit("listening on ", 1)[1].strip()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._seed_dir is not None:
            self._seed_dir.cleanup()
            self._seed_dir = None

    def admin(self, method: str, name: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_simulator/{name}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def calls(self) -> list[dict[str, Any]]:
        """Every API request the simulator answered: method, path, status, inputs, at (its monotonic clock)."""
        return list(self.admin("GET", "calls")["calls"])

    def reset_calls(self) -> None:
        self.admin("POST", "reset-calls", {})

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def environment(values: dict[str, str], remove: tuple[str, ...] = ()) -> Iterator[None]:
    """os.environ with ``values`` set and ``remove`` unset, restored afterwards (the handlers read it)."""
    saved = dict(os.environ)
    for name in remove:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sqs_event(bodies: Sequence[str], first: int = 0, queue: str = "hubsync-events") -> dict[str, Any]:
    """The SQS event Lambda hands the updater for these message bodies (first receive)."""
    from hubsync_local.lambda_runtime import receiver_attributes, sqs_record

    sent = now_ms()
    marked = receiver_attributes()  # queued by the receiver: the updater's fast path, as deployed
    return {
        "Records": [
            sqs_record(
                str(uuid.uuid4()),
                body,
                sent_at=sent,
                receipt_handle=f"handle-{first + i}",
                queue=queue,
                attributes=marked,
            )
            for i, body in enumerate(bodies)
        ]
    }


def updater_environment(endpoint_url: str, dlq_url: str, service: str) -> dict[str, str]:
    """The updater's variables for a benchmark: the emulator, a DLQ, the simulator's token, a limit too high
    to pace anything (its header reading still runs), INFO logs under a Powertools service name of its own
    (Powertools keeps one logger per service, bound to the stream of its first load)."""
    from hubsync_local.aws import aws_environment

    return {
        **aws_environment(endpoint_url),
        "DLQ_URL": dlq_url,
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_RATE_LIMIT": "1000000",
        "UPDATER_MAX_CONCURRENCY": "1",
        "HUBSPOT_MAX_IN_FLIGHT": "4",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": service,
    }


def queue_depth(sqs: Any, url: str) -> int:
    """Messages on a queue, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)

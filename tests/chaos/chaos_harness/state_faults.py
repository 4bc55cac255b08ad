"""Faults at the record state store (DynamoDB, on the updater's own client), and the older events sent after them."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from hubsync.delivery.recordstate import RecordStateUnavailableError

from .scenario import VALID, Delivery, Scenario
from .sending import Sender

OUTAGE, LOST_ANSWER = "outage", "lost_answer"


def _is_commit(body: bytes | str | None) -> bool:
    """The store's commit (stores times, releases or holds leases); its acquire only sets a lease."""
    text = body.encode() if isinstance(body, str) else body or b""
    return b"ADD #rev" in text or b"REMOVE #owner" in text or b":doubt" in text


class StateFaults:
    """DynamoDB faults on the updater's own botocore client, at its record-state commits, while ``mode`` is set
    (as tests/integration/test_state_faults.py injects them, here in the running stack):

    - ``outage``: every attempt at a commit answers 500 InternalServerError before it reaches the table (botocore
      retries it as it would DynamoDB's own, then gives up): HubSpot has applied the batch, its times are not
      stored, the leases stay held;
    - ``lost_answer``: the commit reaches the table and takes effect, then its answer is lost (a read timeout
      once botocore's own retries are spent): the times are stored, the updater cannot know it.

    ``after_applied`` counts, per mode, the commits of applied values that failed because of it: the faults the
    issue names ("an outage right after HubSpot applied", "failures after the write took effect").
    """

    def __init__(self, dynamodb: Any) -> None:
        self.mode: str | None = None
        self.injected: Counter[str] = Counter()  # answers faked or lost, per mode (botocore's retries included)
        self.after_applied: Counter[str] = Counter()
        self.failed: list[tuple[str, dict[str, dict[str, int]]]] = []  # (mode, the applied times not stored)
        self.after_phase: Callable[[], None] | None = None  # run when a DynamoDB phase ends (Probes.send)
        self._lock = threading.Lock()  # commits run on the updater's request threads
        self._local = threading.local()  # botocore sends and answers one call on one thread
        events = dynamodb.meta.events
        events.register("before-send.dynamodb.TransactWriteItems", self._before_send)
        events.register("after-call.dynamodb.TransactWriteItems", self._after_call)

    def wrap(self, state: Any) -> None:
        """Counts the commits of applied values that failed while a mode was set (``state``: the store)."""
        commit = state.commit

        def counted_commit(applied: Any, release: Any, **holding: Any) -> Any:
            mode = self.mode
            try:
                return commit(applied, release, **holding)
            except RecordStateUnavailableError:
                if mode and applied:
                    with self._lock:
                        self.after_applied[mode] += 1
                        self.failed.append((mode, {key: dict(times) for key, times in applied.items()}))
                raise

        state.commit = counted_commit

    def _count(self, mode: str) -> None:
        with self._lock:
            self.injected[mode] += 1

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        mode = self.mode
        if mode is None or not _is_commit(request.body):
            return None
        if mode == OUTAGE:
            self._count(OUTAGE)
            body = (
                b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}'
            )
            return AWSResponse(request.url, 500, {"x-amzn-requestid": "chaos"}, _RawBody(body))
        self._local.lose_answer = True
        return None

    def _after_call(self, http_response: Any = None, **_: Any) -> None:
        lose = getattr(self._local, "lose_answer", False)
        self._local.lose_answer = False
        # Only an answer that says the write took effect is lost: a refused commit changed nothing.
        if lose and http_response is not None and http_response.status_code == 200:
            self._count(LOST_ANSWER)
            raise ReadTimeoutError(endpoint_url="dynamodb (chaos: the write took effect, its answer was lost)")


class Probes:
    """After each DynamoDB phase, for some records whose commit failed: an event older than the one just applied
    (``property_string`` one millisecond earlier, at a time no other event has).

    As hubsync is, the applied event was not acknowledged: the older one is dropped as superseded, or applied in
    between and then overwritten by the newer one's retry, and the books hold. Were the applied event acknowledged
    without its time stored (issue 10, case 3), the older one would win and HubSpot's state would not be
    last-write-wins. The probes are events of the scenario (valid, accepted, accounted for like any other)."""

    def __init__(self, scenario: Scenario, sender: Sender, state: StateFaults, per_fault: int = 5) -> None:
        self._scenario = scenario
        self._sender = sender
        self._state = state
        self._per_fault = per_fault
        self._records = set(scenario.records)
        self._used = {e["occurredAt"] for e in scenario.events.values() if isinstance(e.get("occurredAt"), int)}
        self._done = 0  # failed commits probed so far
        self.sent = 0
        state.after_phase = self.send

    def send(self) -> None:
        failed = self._state.failed[self._done :]
        self._done += len(failed)
        events = [event for _, applied in failed for event in self._probes(applied)]
        if not events:
            return
        delivery = Delivery(
            msg_id=f"msg_chaos_probe_{len(self._scenario.deliveries)}",
            body=json.dumps({"events": events}),
            valid=len(events),
            invalid_indexes=[],
        )
        self._scenario.deliveries.append(delivery)
        self._sender.deliver(delivery)

    def _probes(self, applied: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for key, times in sorted(applied.items()):
            record, at = key.rsplit("#", 1)[-1], times.get("property_string")
            if at is None or record not in self._records or len(events) >= self._per_fault:
                continue
            when = at - 1
            while when in self._used:  # distinct times: an equal one would be decided by arrival, not by time
                when -= 1
            self._used.add(when)
            event_id = f"probe{self.sent}"
            self.sent += 1
            event = {"id": record, "properties": {"property_string": event_id}, "occurredAt": when, "eventId": event_id}
            self._scenario.events[event_id] = event
            self._scenario.kind[event_id] = VALID
            events.append(event)
        return events


class _RawBody:
    """The raw stream botocore reads a faked answer's body from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content

    def read(self, *_: Any) -> bytes:
        content, self._content = self._content, b""
        return content

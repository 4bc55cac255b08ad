"""Faults in the pipeline: updater crashes around HubSpot's answer and the SQS answer, duplicate SQS copies."""

from __future__ import annotations

import inspect
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hubsync.delivery.messages import QueuedMessage
from hubsync_local.stack import LocalStack

from .state_faults import StateFaults


class InjectedCrash(RuntimeError):
    """The updater 'dies' after HubSpot applied its batch, before answering SQS."""


@dataclass
class PipelineLog:
    invocations: int = 0
    crashes: int = 0  # after the handler returned
    early_crashes: int = 0  # after HubSpot's answer, before the record state and the DLQ were written
    duplicate_copies: int = 0
    receive_counts: Counter[int] = field(default_factory=Counter)
    reports: list[Any] = field(default_factory=list)  # hubsync.delivery.updater.UpdateReport per invocation
    updater: Any = None
    timeline: list[tuple[float, int, int, str]] = field(default_factory=list)  # (at, messages, max receives, what)
    finished: list[tuple[float, float]] = field(default_factory=list)  # (began, ended) of each invocation

    def ran_since(self, at: float) -> bool:
        """An invocation that began after ``at`` has ended."""
        return any(began > at for began, _ in self.finished[-5:])


class PipelineFaults:
    def __init__(
        self,
        stack: LocalStack,
        rng: random.Random,
        *,
        crash_rate: float = 0.2,
        max_crashes: int = 5,
        duplicate_rate: float = 0.15,
    ) -> None:
        self._stack = stack
        self._rng = rng
        self._crash_rate = crash_rate
        self._max_crashes = max_crashes
        self._duplicate_rate = duplicate_rate
        self._fresh = 0  # invocations eligible for a crash so far
        self._early_crash_armed = False  # this invocation dies at its first record-state commit
        self._began = 0.0  # when the running invocation began
        self._lock = threading.Lock()  # commits run on the updater's request threads
        self.log = PipelineLog()
        self.state_faults: StateFaults | None = None  # by install()

    def install(self) -> None:
        poller = self._stack.poller
        assert poller is not None
        # The updater service of the handler's module (built now, from the stack's environment): its reports
        # give the invocation's own accounting; its Delivery's stats the retries made within invocations.
        module_globals = inspect.unwrap(poller.handler).__globals__
        updater = module_globals["_service"]()
        process = updater.process

        def reporting(records: Any, remaining: Any) -> Any:
            started = time.monotonic()
            report = process(records, remaining)
            self.log.reports.append(report)
            what = f"{dict(report.calls_by_status)} later={report.retried_later} requeued={report.requeued}"
            what += f" deferred={report.deferred_records} ({time.monotonic() - started:.1f} s)"
            sent = [int(r["attributes"].get("SentTimestamp", "0")) for r in records]
            what += f" sent {time.time() - min(sent, default=0) / 1000:.1f} s ago"
            counts = max((QueuedMessage.from_record(r).receive_count for r in records), default=0)
            self.log.timeline.append((started, len(records), counts, what))
            return report

        updater.process = reporting
        self.log.updater = updater
        # The RecordStateStore (the local stack creates its table), and its own boto3 DynamoDB client.
        self.state_faults = StateFaults(updater._state.client)
        self.state_faults.wrap(updater._state)
        self._wrap_commit(updater._state)
        handler = poller.handler

        def chaotic(event: dict[str, Any], context: Any) -> Any:
            counts = [int(r["attributes"].get("ApproximateReceiveCount", "1")) for r in event["Records"]]
            self.log.invocations += 1
            self.log.receive_counts.update(counts)
            # Only batches seen for the first time crash: a message never spends more than one receive on a
            # crash, so crashes alone never bring one near the redrive's maxReceiveCount.
            crash = self._crash_now() if max(counts) == 1 else None
            self._early_crash_armed = crash == "early"
            began = self._began = time.monotonic()
            try:
                result = handler(event, context)
            finally:
                self._early_crash_armed = False
                self.log.finished.append((began, time.monotonic()))
            # The dice, and a first fault forced early, so that even a small run has one of each.
            if self._rng.random() < self._duplicate_rate or (
                self.log.invocations >= 4 and not self.log.duplicate_copies
            ):
                self._duplicate(event["Records"])
            if crash == "late":
                self.log.crashes += 1
                self.log.timeline.append((time.monotonic(), len(counts), 1, "CRASH after the handler returned"))
                raise InjectedCrash("injected: the updater died before answering SQS")
            return result

        poller.handler = chaotic

    def _crash_now(self) -> str | None:
        """None, "early" (at the first record-state commit of the invocation) or "late" (after the handler)."""
        if self.log.crashes + self.log.early_crashes >= self._max_crashes:
            return None
        self._fresh += 1
        forced = self._fresh >= 3 and not self.log.crashes  # one of each, early in the run
        if forced or self._rng.random() < self._crash_rate:
            return "late" if forced or self.log.early_crashes > self.log.crashes else "early"
        if self._fresh >= 5 and not self.log.early_crashes:
            return "early"
        return None

    def _wrap_commit(self, state: Any) -> None:
        """The record-state commit follows HubSpot's answer: dying there leaves values applied in HubSpot,
        their times unrecorded, the leases held and nothing answered to SQS."""
        commit = state.commit

        def crashing_commit(applied: Any, release: Any, **holding: Any) -> Any:
            with self._lock:
                crash = self._early_crash_armed and bool(applied)
                if crash:
                    self._early_crash_armed = False
                    self.log.early_crashes += 1
            if crash:
                what = f"CRASH before the record-state commit ({len(applied)} records applied"
                what += f" {time.monotonic() - self._began:.1f} s after the invocation began)"
                self.log.timeline.append((time.monotonic(), 0, 1, what))
                raise InjectedCrash("injected: the updater died between HubSpot's answer and the record state")
            return commit(applied, release, **holding)

        state.commit = crashing_commit

    def _duplicate(self, records: list[dict[str, Any]]) -> None:
        chosen = self._rng.sample(records, min(len(records), self._rng.randint(1, 3)))
        resources = self._stack.resources
        assert resources is not None
        entries = [
            {
                "Id": str(i),
                "MessageBody": record["body"],
                "MessageAttributes": {
                    name: {"StringValue": value["stringValue"], "DataType": value["dataType"]}
                    for name, value in record["messageAttributes"].items()
                },
            }
            for i, record in enumerate(chosen)
        ]
        answer = self._stack.sqs.send_message_batch(QueueUrl=resources.queue_url, Entries=entries)
        self.log.duplicate_copies += len(answer.get("Successful", []))

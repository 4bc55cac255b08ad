"""What one updater batch did (``UpdateReport``), and how long HubSpot requests have taken lately
(``RequestTimes``, which decides whether requests go several at a time)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubsync.delivery.sender import DeliveryStats


class RequestTimes:
    """How long HubSpot requests have taken lately (answer, limiter waits and retries included), to tell
    whether requests in flight at once pay for their threads: the median of the last few, so that one
    stray slow or quick request changes nothing. Unknown at first: then they are assumed to pay
    (HubSpot usually answers in tens to hundreds of milliseconds)."""

    def __init__(self, overlap_from_seconds: float = 0.010, window: int = 5) -> None:
        # A request shorter than this is over before another thread could have overlapped much of it.
        self.overlap_from_seconds = overlap_from_seconds
        self._recent: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()  # request threads report their times

    def add(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(seconds)

    @property
    def overlap_pays(self) -> bool:
        with self._lock:
            recent = sorted(self._recent)
        return not recent or recent[len(recent) // 2] >= self.overlap_from_seconds


@dataclass
class UpdateReport:
    """What one batch did; the handler turns ``failed_message_ids`` into ``batchItemFailures``."""

    messages: int = 0
    events_merged: int = 0  # events folded into another event's input
    inputs: int = 0
    requests: int = 0
    calls: int = 0
    isolation_calls: int = 0
    rate_limited: int = 0
    auth_failures: int = 0
    unproven_inputs: int = 0  # inputs HubSpot's 2xx answers did not account for (retried)
    guided_splits: int = 0  # rejected batches split as HubSpot's error named them
    property_reads: int = 0  # property definitions read from HubSpot
    values_converted: int = 0  # values HubSpot takes only in another form, converted before sending
    refused_before_sending: Counter[str] = field(default_factory=Counter)  # events, by HubSpot's code
    definitions_unavailable: list[str] = field(default_factory=list)  # object types sent unchecked
    calls_by_status: Counter[str] = field(default_factory=Counter)
    applied_events: int = 0
    max_lag_ms: int | None = None  # receipt to application, the slowest applied event
    superseded_events: int = 0  # every value older than one already applied: nothing to send
    superseded_values: int = 0
    deferred_records: int = 0  # leased by another instance right now
    retried_later: int = 0
    requeued: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)
    failed_message_ids: list[str] = field(default_factory=list)
    daily_limit_hit: bool = False

    def add_calls(self, before: DeliveryStats, after: DeliveryStats) -> None:
        """The HubSpot calls made between two snapshots of the delivery's counters."""
        self.calls_by_status = after.by_status - before.by_status
        self.calls = after.calls - before.calls
        self.isolation_calls = after.isolation_calls - before.isolation_calls
        self.rate_limited = after.rate_limited - before.rate_limited
        self.auth_failures = after.auth_failures - before.auth_failures
        self.unproven_inputs = after.unproven - before.unproven
        self.guided_splits = after.guided_splits - before.guided_splits

"""Property definitions per object type, kept per container.

Fetched when first needed and again after ``ttl_seconds`` (PROPERTY_CACHE_SECONDS). Fetched again
sooner when they may have changed: when HubSpot refused a value they allowed (``suspect``), or when they
refuse a value themselves and are older than ``recheck_seconds`` (a refusal on old definitions is
checked against fresh ones before an event is dead-lettered for it). No two fetches of one type come
closer than ``recheck_seconds``, so a value HubSpot keeps refusing for a reason the definitions cannot
show (an admin's validation rule) costs one fetch per interval, not one per batch.

Definitions that cannot be fetched are never a reason to stop delivery: ``get`` answers None, values
go as they are (HubSpot judges them; isolation still works), and the next try waits ``recheck_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hubsync.delivery.schema.definitions import ObjectDefinitions

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_RECHECK_SECONDS = 10.0

# Fetches one object type's definitions: None when they could not be had (it logs why).
Fetch = Callable[[str], ObjectDefinitions | None]


@dataclass
class _Entry:
    definitions: ObjectDefinitions | None
    fetched_at: float
    suspect: bool = False


@dataclass
class CacheStats:
    fetches: int = 0  # property reads sent to HubSpot
    failures: int = 0  # of which gave no usable definitions


class DefinitionCache:
    """Thread-safe. ``clock`` is monotonic seconds (injectable for tests)."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        recheck_seconds: float = DEFAULT_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._recheck = min(recheck_seconds, ttl_seconds)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def get(self, object_type: str, fetch: Fetch) -> ObjectDefinitions | None:
        """The type's definitions, fetched first if they are missing, expired or suspect."""
        entry = self._entries.get(object_type)
        now = self._clock()
        if entry is not None:
            doubtful = entry.suspect or entry.definitions is None
            if now - entry.fetched_at < (self._recheck if doubtful else self._ttl):
                return entry.definitions
        return self._fetch(object_type, fetch)

    def refresh_if_old(self, object_type: str, fetch: Fetch) -> ObjectDefinitions | None:
        """Fresh definitions when the cached ones are older than ``recheck_seconds`` (else the cached)."""
        entry = self._entries.get(object_type)
        if entry is not None and self._clock() - entry.fetched_at < self._recheck:
            return entry.definitions
        return self._fetch(object_type, fetch)

    def suspect(self, object_type: str) -> None:
        """HubSpot refused a value these definitions allowed: fetch them again at the next use."""
        with self._lock:
            entry = self._entries.get(object_type)
            if entry is not None and entry.definitions is not None:
                entry.suspect = True

    def _fetch(self, object_type: str, fetch: Fetch) -> ObjectDefinitions | None:
        definitions = fetch(object_type)
        with self._lock:
            self.stats.fetches += 1
            self.stats.failures += int(definitions is None)
            previous = self._entries.get(object_type)
            if definitions is None and previous is not None and previous.definitions is not None:
                # A failed refresh keeps what was known rather than drop the checks: it is tried again
                # after recheck_seconds.
                self._entries[object_type] = _Entry(previous.definitions, self._clock() - self._ttl + self._recheck)
                return previous.definitions
            self._entries[object_type] = _Entry(definitions, self._clock())
        return definitions

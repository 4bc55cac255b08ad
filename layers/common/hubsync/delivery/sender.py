"""Sending one request's inputs to HubSpot: within the rate limit, retrying what can be retried, and
splitting a rejected batch to find the inputs HubSpot refuses.

A whole-batch 400 (an invalid value, an unknown property: HubSpot names the property, not the
input) is split as HubSpot's error guides (``hubsync.delivery.schema.refusals``): the inputs carrying a named
value are sent alone and the rest at once, so a bad input costs two or three extra calls. What the
error does not tell apart (no property named, a 413) is bisected: halves are sent again until the bad
inputs stand alone, k bad inputs among n costing about 2k·log2(n) extra calls. Every good input is
applied. Auth failures (401/403) are not the inputs' fault and are never split.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from hubsync.deadletters import dlq
from hubsync.delivery.hubspot import HubSpotAnswer, HubSpotClient
from hubsync.delivery.outcomes import DAILY_LIMIT, BatchOutcome, interpret
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.schema.refusals import named_failures, suspects
from hubsync.exceptions import HubsyncError
from hubsync.types import BatchInput

logger = logging.getLogger(__name__)

DEADLINE = "DEADLINE"
CONFIGURATION = "CONFIGURATION"
DAILY_LIMIT_PROBE_SECONDS = 900.0
_SPLITTABLE = {400, 413}
# Inputs matched by a refused value that are sent one by one (more go as a group, split again if refused).
MAX_SINGLES = 10


class Limiter(Protocol):
    """What delivery needs of hubsync.delivery.ratelimit.RateLimiter."""

    @property
    def daily_exhausted(self) -> bool: ...

    def acquire(self, deadline: float | None = None) -> Any: ...

    def complete(self, permit: Any, status: int | None, headers: Mapping[str, str], body: Any = None) -> None: ...


@dataclass
class DeliveryStats:
    calls: int = 0
    isolation_calls: int = 0  # calls made while splitting rejected batches
    rate_limited: int = 0  # 429 answers
    auth_failures: int = 0  # 401/403 answers: the token, not the events
    retries: int = 0
    unproven: int = 0  # inputs a 2xx answer did not account for (retried)
    guided_splits: int = 0  # rejected batches split as HubSpot's error named them (not bisected)
    property_reads: int = 0  # GET /crm/v3/properties calls
    by_status: Counter[str] = field(default_factory=Counter)  # "200", "207", "429", "transport" ...

    def copy(self) -> DeliveryStats:
        return replace(self, by_status=Counter(self.by_status))


def not_sent(traces: Any, cause: str, message: str) -> BatchOutcome:
    failure = dlq.Failure(dlq.RETRIES_EXHAUSTED, message, None, None, cause)
    outcome = BatchOutcome(retry=dict.fromkeys(traces, failure))
    outcome.retry_now = cause != DAILY_LIMIT
    return outcome


class Delivery:
    """Thread-safe: one Delivery serves every request in flight of an invocation (and of a container)."""

    def __init__(
        self,
        hubspot: HubSpotClient,
        limiter: Limiter | None = None,
        policy: RetryPolicy | None = None,
        *,
        call_seconds: float = 25.0,
        reserve_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        daily_recheck_seconds: float = DAILY_LIMIT_PROBE_SECONDS,
        on_refused_values: Callable[[str], None] | None = None,
        guided_isolation: bool = True,
    ) -> None:
        self._hubspot = hubspot
        # Told the object type when HubSpot refuses values by property (the definitions may have changed).
        self._on_refused_values = on_refused_values
        self._guided = guided_isolation  # False: blind bisection (the benchmark's baseline)
        self._daily_recheck = daily_recheck_seconds
        self._limiter = limiter
        self._policy = policy or RetryPolicy()
        self._call_seconds = call_seconds
        self._reserve_seconds = reserve_seconds
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self.stats = DeliveryStats()
        # After a DAILY 429 no call is made for a while (also without a limiter); then one probes again,
        # as the limit resets at midnight in the account's time zone, which hubsync cannot know.
        self._daily_limit_until = float("-inf")

    @property
    def daily_exhausted(self) -> bool:
        if self._clock() < self._daily_limit_until:
            return True
        return self._limiter is not None and self._limiter.daily_exhausted

    def send(
        self,
        object_type: str,
        inputs: Mapping[str, BatchInput],
        remaining_seconds: Callable[[], float],
        isolating: bool = False,
        upsert: bool = False,
    ) -> BatchOutcome:
        """The verdict for every input (keyed by trace id); ``upsert``: sent to ``batch/upsert``."""
        final = BatchOutcome()
        pending = dict(inputs)
        attempt = 0
        while pending:
            attempt += 1
            answer = self._call(object_type, pending, remaining_seconds, isolating, upsert)
            if isinstance(answer, BatchOutcome):  # not sent: no time, or the daily limit
                final.absorb(answer)
                break
            final.calls += 1
            outcome = interpret(answer, list(pending.values()))
            if outcome.unproven:
                with self._lock:
                    self.stats.unproven += outcome.unproven
            if not outcome.retry_now:
                self._daily_limit_until = self._clock() + self._daily_recheck
            if outcome.unmatched_errors:
                logger.warning("HubSpot reported %d errors naming no input we sent", outcome.unmatched_errors)
            named = named_failures(answer.body) if answer.status == 400 else {}
            if named and self._on_refused_values is not None:
                self._on_refused_values(object_type)
            if answer.status in _SPLITTABLE and outcome.whole_batch_rejected and len(pending) > 1:
                final.absorb(self._isolate(object_type, pending, remaining_seconds, named, upsert))
                break
            final.applied |= outcome.applied
            final.failed.update(outcome.failed)
            final.in_doubt |= outcome.in_doubt  # sticky: a later attempt does not stop a late one landing
            if not outcome.retry:
                break
            # A ten-secondly 429 was already turned into a pause by the limiter: no extra backoff.
            rate_limited = answer.status == 429 and outcome.retry_now and self._limiter is not None
            delay = 0.0 if rate_limited else self._policy.delay(attempt, outcome.retry_after)
            budget = remaining_seconds() - self._reserve_seconds
            if not outcome.retry_now or not self._policy.can_retry(attempt, delay, budget, self._call_seconds):
                final.absorb(BatchOutcome(retry=outcome.retry, retry_now=outcome.retry_now))
                break
            with self._lock:
                self.stats.retries += 1
            self._sleep(delay)
            pending = {trace: pending[trace] for trace in outcome.retry}
        return final

    def _isolate(
        self,
        object_type: str,
        pending: dict[str, BatchInput],
        remaining_seconds: Callable[[], float],
        named: dict[str, list[str]],
        upsert: bool,
    ) -> BatchOutcome:
        """Every input's verdict after a whole-batch refusal, each part a strictly smaller request."""
        groups = self._guided_groups(pending, named)
        if groups is None:  # nothing to go by: halves
            traces = list(pending)
            middle = len(traces) // 2
            groups = [traces[:middle], traces[middle:]]
        result = BatchOutcome()
        for group in groups:
            part = {trace: pending[trace] for trace in group}
            result.absorb(self.send(object_type, part, remaining_seconds, isolating=True, upsert=upsert))
        return result

    def _guided_groups(self, pending: dict[str, BatchInput], named: dict[str, list[str]]) -> list[list[str]] | None:
        """The groups HubSpot's error suggests: the inputs it does not point at first, in one request,
        then those carrying a refused value (alone, when few), or those carrying a named property."""
        if not named or not self._guided:
            return None
        by_value, by_name = suspects(pending, named)
        pointed = by_value or by_name
        if not pointed:
            return None
        chosen = set(pointed)
        rest = [trace for trace in pending if trace not in chosen]
        if by_value and by_name:
            rest += by_name  # a named property with a value no message quotes: most likely fine
        if not rest and (not by_value or len(by_value) > MAX_SINGLES):
            return None  # the error points at every input: no help
        with self._lock:
            self.stats.guided_splits += 1
        groups = [rest] if rest else []
        if by_value and len(by_value) <= MAX_SINGLES:
            groups.extend([trace] for trace in by_value)
        else:
            groups.append(by_value or by_name)
        return groups

    def _admit(self, remaining_seconds: Callable[[], float]) -> tuple[Any, tuple[str, str] | None]:
        """A rate-limit permit for one call (None without a limiter), or (cause, why) it may not be made."""
        if self.daily_exhausted:
            return None, (DAILY_LIMIT, "HubSpot's daily limit is reached")
        spare = remaining_seconds() - self._reserve_seconds - self._call_seconds
        if spare < 0:
            return None, (DEADLINE, "not enough time left in the invocation for a HubSpot call")
        if self._limiter is None:
            return None, None
        permit = self._limiter.acquire(deadline=self._clock() + spare)
        if permit is None:
            daily = self._limiter.daily_exhausted
            cause, why = (DAILY_LIMIT, "HubSpot's daily limit is reached") if daily else (DEADLINE, "rate limit wait")
            return None, (cause, why + ": not sent in this invocation")
        return permit, None

    def get(self, path: str, remaining_seconds: Callable[[], float]) -> HubSpotAnswer | None:
        """A read (property definitions) through the same rate limit; None when it was not sent."""
        permit, refused = self._admit(remaining_seconds)
        if refused is not None:
            return None
        try:
            answer = self._hubspot.get(path)
        except HubsyncError as exc:
            logger.error("cannot call HubSpot: %s", exc.message)
            answer = None
        if self._limiter is not None:
            self._limiter.complete(permit, *((answer.status, answer.headers, answer.body) if answer else (None, {})))
        with self._lock:
            self.stats.property_reads += 1
        return answer

    def _call(
        self,
        object_type: str,
        pending: dict[str, BatchInput],
        remaining_seconds: Callable[[], float],
        isolating: bool,
        upsert: bool = False,
    ) -> HubSpotAnswer | BatchOutcome:
        permit, refused = self._admit(remaining_seconds)
        if refused is not None:
            return not_sent(pending, *refused)
        try:
            inputs = list(pending.values())
            if upsert:
                answer = self._hubspot.batch_upsert(object_type, inputs)
            else:
                answer = self._hubspot.batch_update(object_type, inputs)
        except HubsyncError as exc:  # the token could not be read (Secrets Manager): not the events' fault
            if self._limiter is not None:
                self._limiter.complete(permit, None, {})
            logger.error("cannot call HubSpot: %s", exc.message)
            return not_sent(pending, CONFIGURATION, f"cannot call HubSpot: {exc.message}")
        if self._limiter is not None:
            self._limiter.complete(permit, answer.status, answer.headers, answer.body)
        with self._lock:
            self.stats.calls += 1
            self.stats.isolation_calls += int(isolating)
            self.stats.rate_limited += int(answer.status == 429)
            self.stats.auth_failures += int(answer.status in (401, 403))
            self.stats.by_status[str(answer.status) if answer.status is not None else "transport"] += 1
        return answer

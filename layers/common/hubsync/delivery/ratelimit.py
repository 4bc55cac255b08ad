"""How fast one updater instance may call HubSpot, so that all instances together stay under the app's limit.

HubSpot allows ``limit`` requests per rolling ``interval`` per app (100 per 10 s; 190 or 250 on bigger plans)
and a daily count per account. Up to ``instances`` updater instances (the SQS event source's
MaximumConcurrency) run at once, each with up to ``max_in_flight`` requests on the wire.

Policy only: no I/O. The clock and sleep are injectable so tests are instant and exact. One ``RateLimiter``
is shared by the threads of one instance:

- **Share.** An instance may always have ``limit // instances`` of its own requests in the window; all
  instances together then never exceed the limit. HubSpot counts a request when it arrives, somewhere between
  our send and its answer, so ours count from the send until one interval after the answer: safe whatever
  the latencies (counting from the send is not: a fast request overtakes a slow one sent an interval before).
- **Headroom.** Beyond its share it may send while HubSpot's ``X-HubSpot-RateLimit-Remaining`` says there is
  room. The last Remaining seen is corrected for what happened since, as far as our own requests go: less
  ours it may not have counted (sent after the answered one, or on the wire when it was sent), plus ours it
  surely counted that have since left the window. A send may go while that stays above a reserve: what the
  other instances may have on the wire, ``(instances - 1) * max_in_flight``, plus what they were seen to use
  (``limit - Remaining - ours``), so an instance that borrows gives way within an interval or two when
  another one starts. An estimate older than the interval is not used.
- **Corrections.** ``-Max`` and ``-Interval-Milliseconds`` replace the configured limit and interval.
- **429.** TEN_SECONDLY_ROLLING pauses every send of this instance until its oldest request leaves the
  window (or ``Retry-After``, capped at the interval). DAILY, or ``Daily-Remaining: 0``, stops all sends
  (``acquire`` answers None at once) until ``daily_recheck_seconds`` have passed.
- **Concurrency.** At most ``max_in_flight`` permits are out at once.
- **A new container** (``assume_predecessor``) cannot see what the container it replaces sent in the last
  interval: it starts as if that one's share were spent (all of its own share but one request, which goes
  at once to read HubSpot's headers), until an answer's Remaining shows room (headroom above) or the
  interval has passed.

Every ``Permit`` must be handed back to ``complete`` exactly once, also after a transport error (status None),
or its slot stays taken.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubsync.delivery.ratelimit_headers import (
    DAILY_POLICY,
    DAILY_REMAINING_HEADER,
    INTERVAL_HEADER,
    MAX_HEADER,
    REMAINING_HEADER,
    RETRY_AFTER_HEADER,
    TOO_MANY_REQUESTS,
    float_header,
    headers_lower,
    int_header,
    policy_name,
)

# Added to computed waits so a float sum (now + wait) lands past the boundary, not one ulp before it.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; give it back to ``RateLimiter.complete`` with the answer."""

    seq: int  # this instance's send order, from 1
    sent_at: float
    thread_id: int
    in_flight_before: int  # ours on the wire when it was sent: they may reach HubSpot after it


@dataclass
class _Sent:
    """One of our requests, for the share: it counts from its send until one interval after its answer."""

    sent_at: float
    done_at: float | None = None


@dataclass(frozen=True)
class _Estimate:
    """The last ``Remaining`` seen, with what is needed to correct it for what happened since."""

    remaining: int
    seen_at: float
    permit: Permit
    recoverable: tuple[float, ...]  # answer times of ours certainly counted in it, sorted
    others: int  # at least this many in the window were not ours


class RateLimiter:
    """Thread-safe pacing of one instance's HubSpot calls; see the module docstring for the policy.

    Waits for time (the share, a pause) go through ``sleep`` in steps, so a fake clock drives them; a wait
    for a free in-flight slot is a ``threading.Condition`` wait that ends when another thread completes.
    """

    def __init__(
        self,
        limit: int = 100,
        interval_seconds: float = 10.0,
        instances: int = 1,
        max_in_flight: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        daily_recheck_seconds: float | None = 600.0,
        assume_predecessor: bool = False,
    ) -> None:
        if limit < 1 or interval_seconds <= 0 or instances < 1 or max_in_flight < 1:
            raise ValueError("limit, interval_seconds, instances and max_in_flight must be positive")
        self._limit = limit
        self._interval = float(interval_seconds)
        self._instances = instances
        self._max_in_flight = max_in_flight
        self._clock = clock
        self._sleep = sleep
        self._daily_recheck = daily_recheck_seconds
        # A plain Lock (not the default RLock) so the sleep path can release it whatever the nesting.
        self._cond = threading.Condition(threading.Lock())
        self._window: deque[_Sent] = deque()  # ours that may still be in HubSpot's window, in send order
        self._holders: dict[int, tuple[int, _Sent]] = {}  # seq -> (thread id, record) of the permits out
        self._sent = 0
        self._estimate: _Estimate | None = None
        self._paused_until = -math.inf
        # A predecessor's requests, assumed (see assume_predecessor): a count and when they leave the window, not
        # one record each. They all leave at once, and a share can be large (a limit set high to pace nothing):
        # records would make every acquire sort them until they leave.
        self._assumed = 0
        self._assumed_leave_at = -math.inf
        if assume_predecessor:
            # Answered just now, so they leave the window one interval from now, as a predecessor's would at
            # the latest. One slot of the share stays free: the first request learns what HubSpot counts.
            self._assumed = self.share - 1
            self._assumed_leave_at = clock() + self._interval
        self._daily_until: float | None = None
        self._completed = 0
        self._rate_limited = 0
        self._daily_limited = 0
        self._waited = 0.0

    # -- public surface ------------------------------------------------------------------------------------

    def acquire(self, deadline: float | None = None) -> Permit | None:
        """Wait until a request may go and return its permit; None if that would be after ``deadline``
        (a ``clock()`` value) or the daily limit is spent. Never sleeps past the deadline."""
        start = self._clock()
        with self._cond:
            try:
                return self._acquire_locked(deadline)
            finally:
                self._waited += self._clock() - start

    def try_acquire(self) -> Permit | None:
        """A permit if a request may go now, else None at once (see ``seconds_until_ready``)."""
        with self._cond:
            now = self._clock()
            if self._daily_blocked(now) or len(self._holders) >= self._max_in_flight:
                return None
            return self._issue(now) if self._ready_at(now) <= now else None

    def seconds_until_ready(self) -> float:
        """When time alone lets the next request go (0: now); an answer in flight may open room sooner.
        Infinite while the daily limit is spent."""
        with self._cond:
            now = self._clock()
            if self._daily_blocked(now):
                return math.inf
            return max(0.0, self._ready_at(now) - now)

    def complete(self, permit: Permit, status: int | None, headers: Mapping[str, str], body: Any = None) -> None:
        """Hand back a permit with HubSpot's answer (``status`` None and ``headers`` {} for a transport error)."""
        with self._cond:
            held = self._holders.pop(permit.seq, None)
            if held is None:
                return  # completed twice: counting it again would skew the estimate and the stats
            now = self._clock()
            held[1].done_at = now
            self._completed += 1
            if status is not None:
                lowered = headers_lower(headers)
                self._read_headers(permit, now, lowered)
                if status == TOO_MANY_REQUESTS:
                    self._on_rate_limited(permit, now, lowered, body)
            self._cond.notify_all()

    @property
    def daily_exhausted(self) -> bool:
        """The daily limit is spent: callers should stop calling (and leave the work to SQS redelivery)."""
        with self._cond:
            return self._daily_blocked(self._clock())

    @property
    def share(self) -> int:
        """Requests this instance may always have in the window. At least 1, so an instance is never stuck
        (which only oversubscribes when there are more instances than the limit)."""
        return max(1, self._limit // self._instances)

    def stats(self) -> dict[str, float]:
        with self._cond:
            now = self._clock()
            estimate = self._remaining_estimate(now)
            return {
                "sent": self._sent,
                "completed": self._completed,
                "in_flight": len(self._holders),
                "rate_limited": self._rate_limited,
                "daily_limited": self._daily_limited,
                "waited_seconds": self._waited,
                "limit": self._limit,
                "interval_seconds": self._interval,
                "share": self.share,
                "in_window": len(self._leave_times(now)) + self._assumed,
                "remaining_estimate": -1 if estimate is None else estimate,
                "paused_seconds": max(0.0, self._paused_until - now),
            }

    # -- waiting ---------------------------------------------------------------------------------------------

    def _acquire_locked(self, deadline: float | None) -> Permit | None:
        while True:
            now = self._clock()
            if self._daily_blocked(now):
                return None
            if len(self._holders) >= self._max_in_flight:
                if deadline is not None and now >= deadline:
                    return None
                self._wait_for_answer(now, deadline)
                continue
            ready_at = self._ready_at(now)
            if ready_at <= now:
                return self._issue(now)
            # While answers are on the wire one of them may bring a Remaining that opens headroom
            # sooner than time alone would, so look again every slot-time instead of sleeping it all.
            answers_pending = bool(self._holders) and self._paused_until <= now
            if deadline is not None and (now >= deadline or (ready_at > deadline and not answers_pending)):
                return None
            step = ready_at - now + _EPSILON
            if answers_pending:
                step = min(step, self._interval / self._limit)
            if deadline is not None:
                step = min(step, deadline - now)
            self._sleep_unlocked(step)

    def _wait_for_answer(self, now: float, deadline: float | None) -> None:
        me = threading.get_ident()
        if all(thread_id == me for thread_id, _ in self._holders.values()):
            raise RuntimeError("acquire would wait forever: this thread holds every permit; complete one first")
        # A real-time timeout: in-flight waits end when another thread completes (notify_all), not by the clock.
        self._cond.wait(None if deadline is None else max(0.0, deadline - now))

    def _sleep_unlocked(self, seconds: float) -> None:
        # The injected sleep (not Condition.wait) so a fake clock advances; the lock is free meanwhile.
        self._cond.release()
        try:
            self._sleep(max(0.0, seconds))
        finally:
            self._cond.acquire()

    # -- the policy (callers hold the lock) -----------------------------------------------------------------

    def _ready_at(self, now: float) -> float:
        """The earliest time a request may go by time alone (``now`` if it may go now)."""
        if self._paused_until > now:
            return self._paused_until
        share = self.share
        self._forget_left(now)
        if len(self._window) + self._assumed < share:  # fewer in the window than the share, whatever their times
            return now
        leave_times = self._leave_times(now)
        headroom_at = self._headroom_at(now)
        counted = len(leave_times) + self._assumed
        if counted < share or headroom_at <= now:
            return now
        # A slot of the share frees when enough have left the window; in flight ones never do (inf). The
        # (counted - share)-th to leave, the assumed ones merged in at their one leave time.
        index = counted - share
        before = bisect.bisect_left(leave_times, self._assumed_leave_at)
        if index < before:
            slot = leave_times[index]
        elif index < before + self._assumed:
            slot = self._assumed_leave_at
        else:
            slot = leave_times[index - self._assumed]
        return min(slot, headroom_at)

    def _leave_times(self, now: float) -> list[float]:
        """When each of ours still counted leaves HubSpot's window, soonest first.

        HubSpot counts a request when it arrives, somewhere between our send and its answer. Counting it
        until one interval after the answer is therefore always safe, also when latencies vary (counting
        from the send is not: a fast request can overtake a slow one sent an interval earlier).
        """
        self._forget_left(now)
        interval = self._interval
        leave_times = (math.inf if sent.done_at is None else sent.done_at + interval for sent in self._window)
        return sorted(t for t in leave_times if t > now)

    def _forget_left(self, now: float) -> None:
        """Drops the oldest of ours once they have left HubSpot's window (kept in send order)."""
        horizon = now - self._interval
        if self._assumed_leave_at <= now:
            self._assumed = 0
        # Same boundary as HubSpot's rolling window: exactly one interval old no longer counts.
        while self._window and self._window[0].done_at is not None and self._window[0].done_at <= horizon:
            self._window.popleft()

    def _headroom_at(self, now: float) -> float:
        """When HubSpot's Remaining, as estimated, leaves room beyond what the others may have on the wire."""
        estimate = self._estimate
        if estimate is None or now - estimate.seen_at >= self._interval:
            return math.inf
        reserve = (self._instances - 1) * self._max_in_flight + estimate.others
        missing = reserve + 1 - self._remaining_at(estimate, now)
        if missing <= 0:
            return now
        # Ours that leave the window later give room back, while the estimate is still fresh.
        index = bisect.bisect_right(estimate.recoverable, now - self._interval) + missing - 1
        if index >= len(estimate.recoverable):
            return math.inf
        at = estimate.recoverable[index] + self._interval + _EPSILON
        return at if at < estimate.seen_at + self._interval else math.inf

    def _remaining_estimate(self, now: float) -> int | None:
        """A lower bound of HubSpot's Remaining now, as far as our own requests go; None when stale."""
        estimate = self._estimate
        if estimate is None or now - estimate.seen_at >= self._interval:
            return None
        return self._remaining_at(estimate, now)

    def _remaining_at(self, estimate: _Estimate, now: float) -> int:
        permit = estimate.permit
        # Not counted yet: ours sent after the answered request, and ours on the wire when it was sent.
        unseen = (self._sent - permit.seq) + permit.in_flight_before
        # Recovered since: ours that were counted and have surely left the window. Other instances'
        # requests leave too; not knowing them keeps the estimate on the safe side.
        recovered = bisect.bisect_right(estimate.recoverable, now - self._interval)
        return estimate.remaining - unseen + recovered

    def _issue(self, now: float) -> Permit:
        self._sent += 1
        record = _Sent(now)
        self._window.append(record)
        permit = Permit(self._sent, now, threading.get_ident(), len(self._holders))
        self._holders[permit.seq] = (permit.thread_id, record)
        return permit

    def _daily_blocked(self, now: float) -> bool:
        if self._daily_until is None:
            return False
        if now >= self._daily_until:
            # The daily count resets at midnight in the account's time zone, which we cannot see; a warm
            # container re-checks now and then instead of staying silent until it is recycled.
            self._daily_until = None
            return False
        return True

    def _read_headers(self, permit: Permit, now: float, headers: Mapping[str, str]) -> None:
        limit = int_header(headers, MAX_HEADER)
        if limit is not None and limit > 0:
            self._limit = limit
        interval_ms = float_header(headers, INTERVAL_HEADER)
        if interval_ms is not None and interval_ms > 0:
            self._interval = interval_ms / 1000
        remaining = int_header(headers, REMAINING_HEADER)
        if remaining is not None:
            self._remember(permit, now, max(0, remaining))
        daily_remaining = int_header(headers, DAILY_REMAINING_HEADER)
        if daily_remaining is not None and daily_remaining <= 0:
            self._stop_for_the_day(now)

    def _remember(self, permit: Permit, now: float, remaining: int) -> None:
        # Remaining counts the answered request and all that reached HubSpot before it. Of ours, those
        # answered before it was sent surely arrived before it, and those sent within the interval before
        # this answer surely were still in the window then: as they leave, Remaining grows back.
        since = now - self._interval
        recoverable = sorted(
            sent.done_at
            for sent in self._window
            if sent.done_at is not None and sent.done_at < permit.sent_at and sent.sent_at > since
        )
        # At most this many of ours were in the window (a count: _leave_times would sort them too). Assumed
        # predecessor requests are not ours (nor in _window): if they were real, Remaining shows them as the
        # others' use.
        ours = sum(1 for sent in self._window if sent.done_at is None or sent.done_at > since)
        others = max(0, self._limit - remaining - ours)
        self._estimate = _Estimate(remaining, now, permit, tuple(recoverable), others)

    def _on_rate_limited(self, permit: Permit, now: float, headers: Mapping[str, str], body: Any) -> None:
        if policy_name(body) == DAILY_POLICY:
            self._daily_limited += 1
            self._stop_for_the_day(now)
            return
        self._rate_limited += 1
        # The window is full whatever a header said: no headroom until a later answer says otherwise.
        self._remember(permit, now, 0)
        retry_after = float_header(headers, RETRY_AFTER_HEADER)
        if retry_after is not None and retry_after >= 0:
            until = now + min(retry_after, self._interval)
        else:
            # Room opens when the oldest request leaves the window; ours is the oldest we know of.
            leave_times = self._leave_times(now)
            oldest = leave_times[0] if leave_times else math.inf
            until = oldest if math.isfinite(oldest) else now + self._interval / self._limit
        self._paused_until = max(self._paused_until, until)

    def _stop_for_the_day(self, now: float) -> None:
        self._daily_until = math.inf if self._daily_recheck is None else now + self._daily_recheck

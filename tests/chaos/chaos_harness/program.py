"""Faults at the simulator: the phases of the fault program, run one at a time with calm gaps; what it drew."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubsync_local.simulator.lies import LIE_MODES
from hubsync_local.stack import LocalStack

from .state_faults import LOST_ANSWER, OUTAGE, StateFaults

# What the functions see (as Lambda environment variables). MAX_RECEIVE_COUNT stays the template's 5, as
# the queue's redrive policy (from template.yaml) uses that number too.
FUNCTION_ENVIRONMENT = {
    "HUBSPOT_TIMEOUT_SECONDS": "1",
    "REDELIVERY_BASE_SECONDS": "0",
    "REQUEUE_DELAY_SECONDS": "1",
    "DAILY_LIMIT_RECHECK_SECONDS": "1",
    "IN_DOUBT_HOLD_SECONDS": "3",  # past SLOW_ANSWER_MS: a late answer has landed by then
    "HUBSPOT_RATE_LIMIT": "100",
    "UPDATER_MAX_CONCURRENCY": "1",
    "MAX_RECEIVE_COUNT": "5",
    "POWERTOOLS_METRICS_DISABLED": "true",  # fewer EMF documents on stdout (the test swallows the rest)
}
SLOW_ANSWER_MS = 1400  # past the 1 s read timeout above
LIE_PAIRS = (("empty", "html"), ("ok", "partial"), ("no_results", "unnamed_207"))  # every mode in LIE_MODES
LATE_ANSWER_MS = 1600  # a late request lands past the read timeout, and before the in-doubt hold ends
SIMULATOR_LIMIT = (100, 1000)  # requests per interval (ms): short, so a 429 pause is short


@dataclass
class Phase:
    name: str
    start: Callable[[], None]
    stop: Callable[[], None]
    enough: Callable[[list[Any]], bool]  # the calls since the phase started: has it injected enough?
    max_seconds: float


@dataclass(frozen=True)
class PhaseLog:
    name: str
    first_call: int  # index into sim.calls
    end_call: int
    seconds: float
    started: float = 0.0


def _statuses(*wanted: int, at_least: int) -> Callable[[list[Any]], bool]:
    return lambda calls: sum(call.status in wanted for call in calls) >= at_least


def _grown(count: Callable[[], int], at_least: int) -> tuple[Callable[[], None], Callable[[list[Any]], bool]]:
    """A phase's ``enough`` for a counter kept outside the simulator's call log: it grew by ``at_least``
    since the phase started (the first callable, run at the start, takes the baseline)."""
    baseline = [0]

    def mark() -> None:
        baseline[0] = count()

    return mark, lambda calls: count() - baseline[0] >= at_least


def _state_phase(name: str, state: StateFaults, mode: str, at_least: int, max_seconds: float) -> Phase:
    mark, enough = _grown(lambda: state.after_applied[mode], at_least)

    def start() -> None:
        mark()
        state.mode = mode

    def stop() -> None:
        state.mode = None
        if state.after_phase is not None:
            state.after_phase()

    return Phase(name, start, stop, enough, max_seconds)


def phases(stack: LocalStack, drawn: DrawnFaults, state: StateFaults | None) -> list[Phase]:
    sim = stack.simulator
    faults = sim.faults

    def script(*entries: Any) -> Callable[[], None]:
        return lambda: faults.script(*entries)

    def set_faults(**values: Any) -> Callable[[], None]:
        def apply() -> None:
            for name, value in values.items():
                setattr(faults, name, value)

        return apply

    def limit(max_per_interval: int, daily: int | None = None) -> Callable[[], None]:
        return lambda: sim.set_rate_limit(max_per_interval, SIMULATOR_LIMIT[1], daily)

    normal_limit = limit(SIMULATOR_LIMIT[0])
    script_done: Callable[[list[Any]], bool] = lambda calls: not faults.pending()  # noqa: E731
    five_xx = _statuses(500, 502, 503, 504, at_least=3)
    # A receive fails when one request fails three attempts running: rate-driven phases end after a few faults,
    # scripts are short (at most one failed receive each), and slow answers end at the first call they slowed
    # (the simulator reads the latency as it answers that call; every answer then takes 1.4 s, so each fails an
    # attempt).
    # Caps bound a phase that meets little traffic; the scripted mix guarantees each kind at least once.
    assert sorted(mode for pair in LIE_PAIRS for mode in pair) == sorted(LIE_MODES), "a lie mode without a phase"
    mark_lies, enough_lies = _grown(drawn.lies, 2)

    def random_lies() -> None:
        mark_lies()
        faults.lie_rate = 0.5  # every mode (the default lie_modes); three in a row fail one receive at most

    found = [
        Phase("5xx burst", set_faults(error_rate=0.4), set_faults(error_rate=0.0), five_xx, 4.0),
        Phase("429 storm (scripted TEN_SECONDLY_ROLLING)", script(*["ten_secondly"] * 5), faults.clear_script,
              script_done, 8.0),
        Phase("connection resets", set_faults(reset_rate=0.3), set_faults(reset_rate=0.0), _statuses(0, at_least=2),
              4.0),
        Phase("429 storm (scripted DAILY)", script("daily", "daily", "daily"), faults.clear_script, script_done, 8.0),
        Phase("slow answers", set_faults(latency_ms=SLOW_ANSWER_MS), set_faults(latency_ms=0),
              lambda calls: len(calls) >= 1, 6.0),
        Phase("429 storm (simulator limiter, window taken)", limit(0), normal_limit, _statuses(429, at_least=3),
              4.0),
        Phase("429 storm (daily limit spent)", limit(SIMULATOR_LIMIT[0], daily=0), normal_limit,
              _statuses(429, at_least=2), 4.0),
        Phase("scripted mix (503, 477 Retry-After, reset, 502)", script(503, "477:1", "reset", 502),
              faults.clear_script, script_done, 8.0),
        # Lies two at a time: a request that meets both still has its third attempt, so a lie costs attempts,
        # never a receive; three phases have every mode at least once, whatever the dice below do.
        *[
            Phase(f"lying 2xx answers (scripted: {first}, {second})", script(f"lie:{first}", f"lie:{second}"),
                  faults.clear_script, script_done, 8.0)
            for first, second in LIE_PAIRS
        ],
        Phase("lying 2xx answers (random)", random_lies, set_faults(lie_rate=0.0), enough_lies, 5.0),
        # Processed 1.6 s late, after the 1 s read timeout: the retry applies the batch, then the first request
        # lands with the same (or an older) value while the records are held in doubt.
        Phase("late answers (the write lands after the timeout)", script(f"late:{LATE_ANSWER_MS}", "pass"),
              faults.clear_script, script_done, 8.0),
    ]  # fmt: skip
    if state is None:
        return found

    # Each DynamoDB phase ends at its first failed commit: the messages it failed are redelivered at once and
    # would otherwise fail again, a receive each time. Twice a cycle, apart, so that even the small run has each
    # kind more than once.
    def outage() -> Phase:
        return _state_phase("DynamoDB outage right after HubSpot applied", state, OUTAGE, 1, 10.0)

    def lost_answer() -> Phase:
        return _state_phase("DynamoDB commit took effect, its answer lost", state, LOST_ANSWER, 1, 10.0)

    return [*found[:2], outage(), *found[2:5], lost_answer(), *found[5:], outage(), lost_answer()]


class FaultProgram:
    """Runs ``cycles`` cycles of the phases, one phase at a time with calm gaps between, then turns faults off.

    The sender follows it (``wait_for``): its n-th share of the deliveries goes out once the n-th phase has
    started, so every phase meets traffic whatever the machine's speed, and phases end on the faults they
    injected (or a cap) rather than on a fixed time.
    """

    def __init__(
        self,
        stack: LocalStack,
        cycles: int,
        settled_since: Callable[[float], bool] = lambda at: True,
        state_faults: StateFaults | None = None,
        calm_seconds: float = 1.0,
        max_calm_seconds: float = 8.0,
    ) -> None:
        self._stack = stack
        self.drawn = DrawnFaults(stack.simulator.faults)
        self._phases = phases(stack, self.drawn, state_faults)
        self._settled_since = settled_since
        self._calm = calm_seconds
        self._max_calm = max_calm_seconds
        self.planned = cycles * len(self._phases)
        self._started = 0
        self._done = False
        self._cond = threading.Condition()
        self.log: list[PhaseLog] = []
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, fraction: float, timeout: float = 120.0) -> None:
        """Until the phase for this fraction of the run (0 to 1) has started, or the program ended."""
        wanted = min(self.planned, int(fraction * self.planned) + 1)
        with self._cond:
            self._cond.wait_for(lambda: self._started >= wanted or self._done, timeout)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the fault program did not end"
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            for n in range(self.planned):
                with self._cond:
                    self._started += 1
                    self._cond.notify_all()
                self._run_phase(self._phases[n % len(self._phases)])
                self._wait_calm()
        except BaseException as exc:  # surfaced by join()
            self.error = exc
        finally:
            sim = self._stack.simulator
            sim.faults.reset()
            sim.set_rate_limit(*SIMULATOR_LIMIT)
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _wait_calm(self) -> None:
        """A calm gap: until an updater invocation that began after the phase has ended (the messages the
        phase failed had their retry without faults, so the next phase cannot fail them again), ``calm``
        seconds at least."""
        ended = time.monotonic()
        time.sleep(self._calm)
        while time.monotonic() - ended < self._max_calm and not self._settled_since(ended):
            time.sleep(0.1)

    def _run_phase(self, phase: Phase) -> None:
        sim = self._stack.simulator
        first = len(sim.calls)
        started = time.monotonic()
        phase.start()
        try:
            while time.monotonic() - started < phase.max_seconds and not phase.enough(sim.calls[first:]):
                time.sleep(0.1)
        finally:
            phase.stop()
        self.log.append(PhaseLog(phase.name, first, len(sim.calls), time.monotonic() - started, started))


class DrawnFaults:
    """Counts the faults the simulator drew for its requests (``lie:MODE``, ``late``, ...): what was injected,
    whatever the updater then made of it."""

    def __init__(self, faults: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # the simulator answers on several threads
        draw = faults.draw

        def counting() -> Any:
            fault = draw()
            if fault is not None:
                with self._lock:
                    self.counts[f"lie:{fault.mode}" if fault.kind == "lie" else fault.kind] += 1
            return fault

        faults.draw = counting

    def lies(self) -> int:
        with self._lock:
            return sum(n for kind, n in self.counts.items() if kind.startswith("lie:"))

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self.counts[kind]

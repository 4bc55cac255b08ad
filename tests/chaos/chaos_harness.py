"""The chaos run: many events through the local stack while HubSpot, SQS and the updater misbehave.

Pieces (the random choices come from generators seeded with ``CHAOS_SEED``; the timing is the machine's):

- ``Scenario``: records (seeded in the simulator), records that do not exist (207 OBJECT_NOT_FOUND),
  records that receive poison values (whole-batch 400, bisection), the events (distinct occurredAt times,
  shuffled against the send order; the invalid ones include one dated years ahead, shaped as the receiver
  queues events), the webhook deliveries, and which of them are delivered twice.
- ``Sender``: signs and posts the deliveries, paced over the run, some twice with the same webhook-id
  (later, or concurrently: the receiver answers 409 to one of the two until the first is recorded).
- ``FaultProgram``: phases of faults, one at a time with calm gaps. At the simulator: 5xx bursts, 429 storms of
  both policies (scripted answers, the simulator's own ten-secondly limiter, a spent daily limit), connection
  resets, slow answers past the updater's read timeout, a scripted mix with ``Retry-After``, lying 2xx answers
  (every mode of simulator/lies.py, scripted, then at random), a late answer (the write lands after the client
  gave up). At DynamoDB (``StateFaults``, on the updater's own client): an outage of the record-state commit
  right after HubSpot applied, and a commit that took effect whose answer was lost; after each, ``Probes`` sends
  older events for the records concerned, which would win were the applied events acknowledged.
- ``PipelineFaults``: wraps the poller's handler and the updater's record-state commit: the updater may die
  (raise: the poller then fails the whole batch) right after HubSpot's answer, before the applied times are
  stored, the DLQ written and SQS answered; or after the real handler returned, before the poller answers
  SQS. It also sends copies of processed messages to the queue again (at-least-once delivery).
- ``account``: when the pipeline is quiet, reads the DLQ and HubSpot's state and balances the books.
- ``replay_dead_letters`` / ``account_after_replay``: then, as an operator would, creates the records that were
  not found, replays the whole DLQ (hubsync.deadletters.replay.Replayer, the updater paused meanwhile), lets it
  drain, and balances the books again: what can apply now did, what was refused is refused again, LWW still holds.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from standardwebhooks import Webhook

from hubsync.deadletters.dlq import unwrap
from hubsync.deadletters.replay import Replayer
from hubsync.delivery.messages import QueuedMessage
from hubsync.delivery.recordstate import RecordStateUnavailableError
from hubsync_local.aws import client
from hubsync_local.simulator.lies import LIE_MODES
from hubsync_local.stack import LocalStack
from support.aws import receive_all

OBJECT = "partner_services"
T0 = 1_764_000_000_000  # event times: T0 + distinct offsets (ms)
# Only poison events set the poison property: a valid value for it, newer in the same merge, would shadow the
# invalid one (last-write-wins inside the batch) and the poison event would then rightly not be rejected.
# Two kinds: a value HubSpot's property definitions tell is bad (not an option: refused before sending), and one
# only HubSpot can tell (an external-options property, any value by its definition, refused by the simulator's
# validation rule: a whole-batch 400, isolated as HubSpot's error names it).
POISON_PROPERTY = "property_radio"
POISON_VALUE = "nope"
RULE_POISON_PROPERTY = "property_external"
RULE_POISON_VALUE = "nope"
VALID_PROPERTIES = ("property_string", "property_number", "property_checkbox", "property_dropdown")
TRACKED = (*VALID_PROPERTIES, POISON_PROPERTY, RULE_POISON_PROPERTY)
SEED_VALUES = {
    "property_string": "seed",
    "property_number": "0",
    "property_checkbox": "false",
    "property_dropdown": "option_a",
    "property_radio": "option_1",
    "property_external": "seed",
}
ALLOWED_DLQ_CATEGORIES = {"INVALID_EVENT", "OBJECT_NOT_FOUND", "VALIDATION_ERROR"}
VALID, POISON, MISSING, INVALID = "valid", "poison", "missing", "invalid"

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


# -- sizes ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    events: int
    records: int
    seed: int

    @classmethod
    def from_env(cls) -> Size:
        return cls(
            events=int(os.environ.get("CHAOS_EVENTS", "600")),
            records=int(os.environ.get("CHAOS_RECORDS", "80")),
            seed=int(os.environ.get("CHAOS_SEED", "20251124")),
        )

    @property
    def send_seconds(self) -> float:
        """The shortest time the deliveries are spread over (the fault program may stretch it)."""
        return max(20.0, self.events / 45)

    @property
    def cycles(self) -> int:
        """Cycles of the fault program: one for the small run, three for 4,000 events."""
        return max(1, round(self.events / 1300))

    @property
    def drain_seconds(self) -> float:
        return 60.0 + self.events / 40


# -- the scenario --------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    msg_id: str
    body: str
    valid: int  # events the receiver should accept
    invalid_indexes: list[int]


@dataclass
class Job:
    delivery: Delivery
    concurrent_twin: bool = False  # delivered twice at the same moment
    repeat: bool = False  # a later delivery of one already sent


@dataclass
class Scenario:
    records: list[str]
    missing: list[str]
    poison_records: set[str]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # eventId -> the event as sent
    kind: dict[str, str] = field(default_factory=dict)  # eventId -> VALID / POISON / MISSING / INVALID
    deliveries: list[Delivery] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    def ids_of(self, *kinds: str) -> set[str]:
        return {event_id for event_id, kind in self.kind.items() if kind in kinds}


def text_of(value: Any) -> str:
    """The string HubSpot stores for a value, as the receiver normalises it (README: the webhook)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _valid_properties(rng: random.Random, n: int) -> dict[str, Any]:
    names = rng.sample(VALID_PROPERTIES, rng.randint(1, len(VALID_PROPERTIES)))
    makers: dict[str, Callable[[], Any]] = {
        "property_string": lambda: f"v{n}",
        "property_number": lambda: n if n % 3 else n + 0.5,
        "property_checkbox": lambda: rng.random() < 0.5,
        "property_dropdown": lambda: rng.choice(("option_a", "option_b", "option_c")),
    }
    return {name: makers[name]() for name in sorted(names)}


FUTURE_MS = 5 * 365 * 86_400_000  # an occurredAt this far ahead is refused (EVENT_FUTURE_TOLERANCE_SECONDS)


def _invalid_event(n: int, ordinal: int, record: str, now_ms: int) -> dict[str, Any]:
    """Events the receiver refuses one by one (202 with ``rejected``; each to the DLQ as INVALID_EVENT).

    ``ordinal`` (the how-manyth invalid event) picks the variant, so even the small run has each. The last
    is shaped exactly as the receiver queues an event (epoch-ms times, string values, objectType,
    receivedAt) but dated years ahead: replayed, it must be refused again, never applied (issue 10, case 2)."""
    event_id = f"inv{n}"
    variants: list[dict[str, Any]] = [
        {"id": record, "properties": {}},
        {"id": record, "properties": {"property_string": {"nested": n}}},
        {"properties": {"property_string": "no id"}},
        {"id": record, "properties": {"property_string": "epoch seconds"}, "occurredAt": 1_700_000_000},
        {
            "id": record,
            "objectType": OBJECT,
            "properties": {"property_string": f"future{n}"},
            "occurredAt": now_ms + FUTURE_MS,
            "receivedAt": now_ms,
        },
    ]
    return {**variants[ordinal % len(variants)], "eventId": event_id}


def build_scenario(stack: LocalStack, size: Size, rng: random.Random) -> Scenario:
    sim = stack.simulator
    sim.set_validation_rule(OBJECT, RULE_POISON_PROPERTY, [RULE_POISON_VALUE])
    records = [sim.add_record(OBJECT, dict(SEED_VALUES)) for _ in range(size.records)]
    missing = [str(990_000_000 + n) for n in range(max(3, size.records // 25))]
    assert all(sim.record(OBJECT, record) is None for record in missing)
    scenario = Scenario(records, missing, set(rng.sample(records, max(3, size.records // 25))))
    n_invalid, n_missing, n_poison = max(4, size.events // 100), max(6, size.events // 50), max(4, size.events // 150)
    kinds = [INVALID] * n_invalid + [MISSING] * n_missing + [POISON] * n_poison
    kinds += [VALID] * (size.events - len(kinds))
    rng.shuffle(kinds)  # the send order
    times = iter(rng.sample(range(1, 60 * size.events), len(kinds)))  # distinct, unrelated to the send order
    poison_records = sorted(scenario.poison_records)
    ordered: list[dict[str, Any]] = []
    now_ms = int(time.time() * 1000)
    for n, kind in enumerate(kinds):
        if kind == INVALID:
            event = _invalid_event(n, len(scenario.ids_of(INVALID)), rng.choice(records), now_ms)
        else:
            if kind == POISON:
                record = rng.choice(poison_records)
                poison = (POISON_PROPERTY, POISON_VALUE) if n % 2 else (RULE_POISON_PROPERTY, RULE_POISON_VALUE)
                properties: dict[str, Any] = {poison[0]: poison[1], "property_string": f"poison{n}"}
            else:
                record = rng.choice(missing if kind == MISSING else records)
                properties = _valid_properties(rng, n)
            event = {"id": record, "properties": properties, "occurredAt": T0 + next(times), "eventId": f"e{n}"}
        scenario.events[event["eventId"]] = event
        scenario.kind[event["eventId"]] = kind
        ordered.append(event)
    _cut_deliveries(scenario, ordered, rng, size.seed)
    return scenario


def _cut_deliveries(scenario: Scenario, ordered: list[dict[str, Any]], rng: random.Random, seed: int) -> None:
    start = 0
    while start < len(ordered):
        # Many small deliveries rather than a few large ones: every fault phase meets several updater invocations.
        chunk = ordered[start : start + rng.randint(3, 20)]
        start += len(chunk)
        invalid = [i for i, event in enumerate(chunk) if scenario.kind[event["eventId"]] == INVALID]
        scenario.deliveries.append(
            Delivery(
                msg_id=f"msg_chaos_{seed}_{len(scenario.deliveries)}",
                body=json.dumps({"events": chunk}),
                valid=len(chunk) - len(invalid),
                invalid_indexes=invalid,
            )
        )
    twins = {delivery.msg_id for delivery in rng.sample(scenario.deliveries, max(1, len(scenario.deliveries) // 20))}
    jobs = [Job(delivery, concurrent_twin=delivery.msg_id in twins) for delivery in scenario.deliveries]
    # Some deliveries come again later, with the same webhook-id and body (the sender's retry).
    for delivery in rng.sample(scenario.deliveries, max(2, len(scenario.deliveries) // 12)):
        first = next(i for i, job in enumerate(jobs) if job.delivery is delivery)
        jobs.insert(rng.randint(first + 1, len(jobs)), Job(delivery, repeat=True))
    scenario.jobs = jobs


# -- the sender ----------------------------------------------------------------------------------------------


@dataclass
class SendLog:
    answers: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)  # msg_id -> final answers
    conflicts: int = 0  # 409 delivery_in_progress (a concurrent duplicate), retried
    unavailable: int = 0  # 503 or no answer, retried
    posts: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (at, what): each post's answer
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender:
    def __init__(self, stack: LocalStack, log: SendLog) -> None:
        self._url = stack.webhook_url
        self._webhook = Webhook(stack.webhook_secrets[0])
        self._log = log

    def deliver(self, delivery: Delivery) -> None:
        """Posts until a final answer (not 409/503), re-signing each time with the same webhook-id."""
        for _ in range(60):
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self._webhook.sign(delivery.msg_id, now, delivery.body),
            }
            with self._log.lock:
                self._log.posts += 1
            posted = time.monotonic()
            try:
                answer = requests.post(self._url, data=delivery.body.encode(), headers=headers, timeout=30)
            except requests.RequestException:
                self._count("unavailable")
                time.sleep(0.5)
                continue
            with self._log.lock:
                what = f"  post {delivery.msg_id}: {answer.status_code} ({time.monotonic() - posted:.1f} s)"
                self._log.timeline.append((posted, what))
            if answer.status_code in (409, 503):
                self._count("conflicts" if answer.status_code == 409 else "unavailable")
                time.sleep(min(1.0, float(answer.headers.get("retry-after", "0.5"))))
                continue
            with self._log.lock:
                self._log.answers.setdefault(delivery.msg_id, []).append((answer.status_code, answer.json()))
            return
        raise AssertionError(f"delivery {delivery.msg_id} never got a final answer")

    def _count(self, name: str) -> None:
        with self._log.lock:
            setattr(self._log, name, getattr(self._log, name) + 1)

    def run(self, jobs: list[Job], seconds: float, gate: Callable[[float], None], workers: int = 2) -> None:
        """Sends the jobs in order, spread over ``seconds`` at least, ``workers`` at a time; ``gate(fraction)``
        holds each job back until the fault program is that far (see FaultProgram)."""
        work: queue.Queue[Job | None] = queue.Queue(maxsize=workers)
        errors: list[BaseException] = []

        def worker() -> None:
            while (job := work.get()) is not None:
                try:
                    self._send_job(job)
                except BaseException as exc:  # surfaced after the join
                    errors.append(exc)

        threads = [threading.Thread(target=worker, name=f"chaos-sender-{n}", daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        interval = seconds / max(1, len(jobs))
        for index, job in enumerate(jobs):
            if errors:
                break
            gate(index / len(jobs))
            time.sleep(max(0.0, started + index * interval - time.monotonic()))
            work.put(job)
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _send_job(self, job: Job) -> None:
        if not job.concurrent_twin:
            self.deliver(job.delivery)
            return
        failures: list[BaseException] = []

        def twin_delivery() -> None:
            try:
                self.deliver(job.delivery)
            except BaseException as exc:  # raised below, in the sender's thread
                failures.append(exc)

        twin = threading.Thread(target=twin_delivery, daemon=True)
        twin.start()
        self.deliver(job.delivery)
        twin.join()
        if failures:
            raise failures[0]


# -- faults at the simulator ---------------------------------------------------------------------------------


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


# -- faults in the pipeline ----------------------------------------------------------------------------------


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


# -- faults in the record state store (DynamoDB) -------------------------------------------------------------


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


# -- waiting -------------------------------------------------------------------------------------------------


def settled(stack: LocalStack, pipeline: PipelineLog) -> Callable[[float], bool]:
    """For the fault program's calm gaps: since ``at``, an invocation ran, or there is nothing to retry."""

    def since(at: float) -> bool:
        if pipeline.ran_since(at):
            return True
        counts = queue_counts(stack)
        assert stack.poller is not None
        return not counts["Visible"] and not counts["NotVisible"] and not stack.poller.busy.is_set()

    return since


def queue_counts(stack: LocalStack) -> dict[str, int]:
    resources = stack.resources
    assert resources is not None
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = stack.sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=names)["Attributes"]
    return {name.removeprefix("ApproximateNumberOfMessages") or "Visible": int(attributes[name]) for name in names}


def wait_quiet(stack: LocalStack, timeout: float, stable_checks: int = 4) -> None:
    """Until the queue is empty (nothing visible, in flight or delayed) and the poller idle, several times running."""
    poller = stack.poller
    assert poller is not None
    deadline = time.monotonic() + timeout
    quiet = 0
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = queue_counts(stack)
        quiet = quiet + 1 if not any(counts.values()) and not poller.busy.is_set() else 0
        if quiet >= stable_checks:
            return
        time.sleep(0.5)
    raise AssertionError(f"the pipeline did not quiet down within {timeout:.0f}s: {counts}")


# -- the books -----------------------------------------------------------------------------------------------


@dataclass
class Books:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    applied: set[str] = field(default_factory=set)
    dead: dict[str, str] = field(default_factory=dict)  # eventId -> DLQ category
    dlq_messages: Counter[str] = field(default_factory=Counter)  # by category, duplicates included
    dlq_events: Counter[str] = field(default_factory=Counter)  # by category, distinct events
    casualties: set[str] = field(default_factory=set)  # valid events dead-lettered with a poison one
    reflected_dead: set[str] = field(default_factory=set)  # dead-lettered, yet HubSpot shows their value
    replay_counts: Counter[int] = field(default_factory=Counter)  # DLQ messages by their event's replayCount
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _check_answers(scenario: Scenario, log: SendLog, books: Books) -> None:
    for delivery in scenario.deliveries:
        answers = log.answers.get(delivery.msg_id, [])
        books.check(bool(answers), f"{delivery.msg_id}: no answer")
        if not answers:
            continue
        status, body = answers[0]
        books.check(status == 202, f"{delivery.msg_id}: answered {status} {body}")
        books.check(all(a == answers[0] for a in answers), f"{delivery.msg_id}: duplicates answered differently")
        if status != 202:
            continue
        # Counted once per webhook-id, however often it was delivered.
        books.accepted += int(body["accepted"])
        books.rejected += len(body["rejected"])
        books.check(body["accepted"] == delivery.valid, f"{delivery.msg_id}: accepted {body['accepted']}")
        rejected = sorted(item["index"] for item in body["rejected"])
        books.check(rejected == delivery.invalid_indexes, f"{delivery.msg_id}: rejected {rejected}")
    books.sent = len(scenario.events)


def _read_dlq(stack: LocalStack, scenario: Scenario, books: Books) -> None:
    resources = stack.resources
    assert resources is not None
    for message in receive_all(stack.sqs, resources.dlq_url, delete=False):
        letter = unwrap(message["Body"])
        category = letter.category
        document = letter.document or {}
        event = letter.event if isinstance(letter.event, dict) else {}
        event_id = str(document.get("eventId") or event.get("eventId") or "?")
        books.dlq_messages[category] += 1
        count = event.get("replayCount", 0)
        books.replay_counts[count if isinstance(count, int) else -1] += 1
        if category not in ALLOWED_DLQ_CATEGORIES:
            cause = letter.error.get("cause")
            books.problems.append(f"DLQ {category} ({cause}) for {event_id}: {letter.error.get('message')}")
        previous = books.dead.setdefault(event_id, category)
        books.check(previous == category, f"{event_id} is in the DLQ as {previous} and as {category}")
    books.dlq_events.update(books.dead.values())


def _check_dlq(scenario: Scenario, books: Books) -> None:
    dead = books.dead
    by_category: dict[str, set[str]] = {}
    for event_id, category in dead.items():
        by_category.setdefault(category, set()).add(event_id)
    unknown = set(dead) - set(scenario.events)
    books.check(not unknown, f"DLQ entries for events never sent: {sorted(unknown)[:10]}")
    invalid, missing, poison = scenario.ids_of(INVALID), scenario.ids_of(MISSING), scenario.ids_of(POISON)
    got_invalid = by_category.get("INVALID_EVENT", set())
    books.check(got_invalid == invalid, f"INVALID_EVENT: {len(got_invalid)} in the DLQ, {len(invalid)} sent")
    got_missing = by_category.get("OBJECT_NOT_FOUND", set())
    books.check(got_missing == missing, f"OBJECT_NOT_FOUND: {sorted(got_missing ^ missing)[:10]} differ")
    validation = by_category.get("VALIDATION_ERROR", set())
    books.check(poison <= validation, f"poison events not in the DLQ: {sorted(poison - validation)[:10]}")
    # The documented cost of a poison value: the events merged into its record's input go with it.
    outsiders = {e for e in validation if scenario.events[e].get("id") not in scenario.poison_records}
    books.check(not outsiders, f"VALIDATION_ERROR for records without poison: {sorted(outsiders)[:10]}")
    books.casualties = validation - poison - outsiders


def _expected_state(scenario: Scenario, applied: set[str], records: list[str]) -> dict[str, dict[str, tuple[int, str]]]:
    """Last-write-wins by occurredAt, per property, over the applied events; the seed where none wrote.

    Order-free, so it holds for replayed events too: one older than what is stored is dropped as superseded,
    one newer is applied, and either way the newest applied value is the one HubSpot must show."""
    state = {record: {name: (-1, value) for name, value in SEED_VALUES.items()} for record in records}
    for event_id in applied:
        event = scenario.events[event_id]
        current = state[event["id"]]
        for name, value in event["properties"].items():
            if event["occurredAt"] > current[name][0]:
                current[name] = (event["occurredAt"], text_of(value))
    return state


def _check_state(stack: LocalStack, scenario: Scenario, books: Books, records: list[str]) -> None:
    expected = _expected_state(scenario, books.applied, records)
    stored = stack.simulator.records(OBJECT)
    for record in records:
        actual = stored[record]["properties"]
        for name in TRACKED:
            at, want = expected[record][name]
            if actual.get(name) == want:
                continue
            # At-least-once: a casualty's value may have reached HubSpot before it was dead-lettered (a write
            # that timed out on the client; a batch applied, then the updater crashed and the retry merged it
            # with a poison event). Only such an event, newer than the expected winner, explains a difference.
            witnesses = {
                e
                for e in books.casualties
                if scenario.events[e]["id"] == record
                and scenario.events[e]["occurredAt"] > at
                and text_of(scenario.events[e]["properties"].get(name, object())) == actual.get(name)
            }
            books.reflected_dead |= witnesses
            books.check(bool(witnesses), f"record {record} {name}: HubSpot has {actual.get(name)!r}, LWW {want!r}")


def _check_refused(stack: LocalStack, scenario: Scenario, books: Books) -> None:
    """No refused event was ever applied: HubSpot holds none of an invalid or poison event's (unique) values."""
    stored = stack.simulator.records(OBJECT)
    for event_id in sorted(scenario.ids_of(INVALID, POISON)):
        event = scenario.events[event_id]
        record = stored.get(str(event.get("id")))
        properties = event.get("properties")
        if record is None or not isinstance(properties, dict):
            continue
        for name, value in properties.items():
            applied = isinstance(value, str) and record["properties"].get(name) == value
            books.check(not applied, f"refused event {event_id} was applied: {event['id']} {name} = {value!r}")


def _check_reports(reports: list[Any], books: Books, first: int = 0) -> None:
    """Each invocation's own books: every message applied, superseded, dead-lettered, re-queued or failed."""
    for n, report in enumerate(reports[first:], start=first):
        settled = (
            report.applied_events
            + report.superseded_events
            + sum(report.dead_lettered.values())
            + report.requeued
            + len(report.failed_message_ids)
        )
        books.check(settled == report.messages, f"invocation {n}: {report.messages} messages, {settled} settled")


def account(stack: LocalStack, scenario: Scenario, send_log: SendLog, pipeline: PipelineLog) -> Books:
    books = Books()
    _check_answers(scenario, send_log, books)
    _read_dlq(stack, scenario, books)
    _check_dlq(scenario, books)
    accepted_ids = scenario.ids_of(VALID, POISON, MISSING)
    books.applied = accepted_ids - set(books.dead)
    dead = len(accepted_ids & set(books.dead))
    books.check(books.accepted == len(accepted_ids), f"accepted {books.accepted}, {len(accepted_ids)} valid sent")
    books.check(
        books.accepted == len(books.applied) + dead, f"accepted {books.accepted} != {len(books.applied)} + {dead}"
    )
    books.check(books.rejected == books.dlq_events["INVALID_EVENT"], "rejected events != INVALID_EVENT entries")
    books.check(set(books.replay_counts) <= {0}, f"replayed events in the DLQ before any replay: {books.replay_counts}")
    _check_state(stack, scenario, books, scenario.records)
    _check_refused(stack, scenario, books)
    _check_reports(pipeline.reports, books)
    return books


# -- the replay ----------------------------------------------------------------------------------------------


@dataclass
class ReplayLog:
    """The replay after the drain, and its books."""

    dlq_messages: int = 0  # in the DLQ when it began
    first_report: int = 0  # the first updater report after it began
    created: list[str] = field(default_factory=list)  # records created for the OBJECT_NOT_FOUND events
    report: Any = None  # hubsync.deadletters.replay.ReplayReport
    started: float = 0.0
    seconds: float = 0.0
    stuck: str = ""
    books: Books | None = None


def _set_mapping(stack: LocalStack, enabled: bool) -> None:
    """``hubsync pause`` / ``resume``: the updater's event source mapping off or on."""
    assert stack.aws_endpoint_url is not None
    client("lambda", stack.aws_endpoint_url).update_event_source_mapping(UUID=stack.mapping_id, Enabled=enabled)


def replay_dead_letters(stack: LocalStack, scenario: Scenario, pipeline: PipelineLog, before: Books) -> ReplayLog:
    """What an operator does once the pipeline is quiet: fix what can be fixed (create the records that were not
    found), pause the updater, replay the whole DLQ (every category present: no filter), resume, let it drain.

    Paused, so that the letters the replay itself causes (events refused again) cannot be picked up by the same
    scan and replayed a second time."""
    resources, poller = stack.resources, stack.poller
    assert resources is not None and poller is not None
    started = time.monotonic()
    log = ReplayLog(dlq_messages=sum(before.dlq_messages.values()), first_report=len(pipeline.reports))
    for record in scenario.missing:
        stack.simulator.add_record(OBJECT, dict(SEED_VALUES), record_id=record)
        log.created.append(record)
    _set_mapping(stack, enabled=False)
    seen = poller.paused_checks
    deadline = time.monotonic() + 30
    while (poller.paused_checks <= seen or poller.busy.is_set()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert poller.paused_checks > seen, "the poller never saw its mapping disabled"
    log.started = time.monotonic()
    log.report = Replayer(stack.sqs, resources.dlq_url, resources.queue_url).run()
    _set_mapping(stack, enabled=True)
    try:
        wait_quiet(stack, 60.0 + log.dlq_messages / 5)
    except AssertionError as exc:  # the books are still read and reported
        log.stuck = str(exc)
    log.seconds = time.monotonic() - started
    return log


def account_after_replay(
    stack: LocalStack, scenario: Scenario, before: Books, pipeline: PipelineLog, replay: ReplayLog
) -> Books:
    """The books once the replayed events settled: what could apply did (not found: the records exist now),
    what was refused is refused again and in the DLQ once more (invalid events by the updater's strict path),
    nothing else entered the DLQ, and HubSpot's state is last-write-wins over every applied event."""
    books = Books(sent=before.sent, accepted=before.accepted, rejected=before.rejected)
    report = replay.report
    moved_all = report is not None and report.moved == replay.dlq_messages and not report.refused
    books.check(moved_all and not report.failed, f"replayed {report and report.as_dict()} of {replay.dlq_messages}")
    _read_dlq(stack, scenario, books)
    dead, dead_before = set(books.dead), set(before.dead)
    books.check(dead <= dead_before, f"dead-lettered after the replay only: {sorted(dead - dead_before)[:10]}")
    books.check(not books.replay_counts[0], f"{books.replay_counts[0]} DLQ messages were never replayed")
    by_category: dict[str, set[str]] = {}
    for event_id, category in books.dead.items():
        by_category.setdefault(category, set()).add(event_id)
    invalid, poison = scenario.ids_of(INVALID), scenario.ids_of(POISON)
    got_invalid = by_category.get("INVALID_EVENT", set())
    books.check(got_invalid == invalid, f"INVALID_EVENT after the replay: {sorted(got_invalid ^ invalid)[:10]} differ")
    not_found = by_category.get("OBJECT_NOT_FOUND", set())
    books.check(not not_found, f"OBJECT_NOT_FOUND after the records were created: {sorted(not_found)[:10]}")
    validation = by_category.get("VALIDATION_ERROR", set())
    books.check(poison <= validation, f"poison events applied by the replay: {sorted(poison - validation)[:10]}")
    books.check(validation <= set(before.dead), "VALIDATION_ERROR for events that were not dead-lettered before")
    books.casualties = validation - poison
    accepted_ids = scenario.ids_of(VALID, POISON, MISSING)
    books.applied = accepted_ids - dead
    dead_accepted = len(accepted_ids & dead)
    books.check(
        books.accepted == len(books.applied) + dead_accepted,
        f"after the replay: accepted {books.accepted} != {len(books.applied)} + {dead_accepted}",
    )
    _check_state(stack, scenario, books, [*scenario.records, *replay.created])
    _check_refused(stack, scenario, books)
    _check_reports(pipeline.reports, books, first=replay.first_report)
    return books


# -- the report ----------------------------------------------------------------------------------------------


PHASE_429_POLICY = {
    "429 storm (scripted TEN_SECONDLY_ROLLING)": "ten",
    "429 storm (simulator limiter, window taken)": "ten",
    "429 storm (scripted DAILY)": "daily",
    "429 storm (daily limit spent)": "daily",
}


@dataclass
class RunLogs:
    """Everything a run recorded, for the report."""

    size: Size
    scenario: Scenario
    send_log: SendLog
    program: FaultProgram
    pipeline: PipelineLog
    timings: dict[str, float] = field(default_factory=dict)
    function_warnings: Counter[str] = field(default_factory=Counter)  # the functions' WARNING+ log messages
    stuck: str = ""  # why the pipeline never quieted down, if it did not
    state_faults: StateFaults | None = None
    probes: Probes | None = None
    replay: ReplayLog | None = None


def batch_calls(stack: LocalStack) -> Counter[int]:
    """HubSpot's batch/update answers by status (0: connection reset)."""
    return Counter(call.status for call in stack.simulator.calls if call.path.endswith("/batch/update"))


def faults_injected(stack: LocalStack, logs: RunLogs) -> dict[str, int]:
    """Faults by kind, counted where they happened: the simulator's call log, the updater's reports, the wrappers."""
    statuses = batch_calls(stack)
    every = stack.simulator.calls
    by_policy: Counter[str] = Counter()
    for phase in logs.program.log:
        policy = PHASE_429_POLICY.get(phase.name)
        if policy:
            by_policy[policy] += sum(call.status == 429 for call in every[phase.first_call : phase.end_call])
    # The Delivery's own counts: an invocation that crashed returned no report, but its calls were counted.
    transport = logs.pipeline.updater.delivery.stats.by_status["transport"]
    jobs = logs.scenario.jobs
    drawn = logs.program.drawn
    state = logs.state_faults
    lies = {f"lying 2xx answer: {mode}": drawn[f"lie:{mode}"] for mode in LIE_MODES}
    return {
        "HubSpot 5xx answers": sum(n for status, n in statuses.items() if 500 <= status <= 599),
        "HubSpot 477 (Retry-After)": statuses[477],
        # Outside the storms a 429 can only come from the simulator's own (ten-secondly) limiter.
        "HubSpot 429 TEN_SECONDLY_ROLLING": statuses[429] - by_policy["daily"],
        "HubSpot 429 DAILY": by_policy["daily"],
        "connection resets": statuses[0],
        # A late request is a timeout too (its answer comes after the client gave up): counted on its own below.
        "timeouts (answers slower than the 1 s read timeout)": transport - statuses[0] - drawn["late"],
        "207 partial answers (records not found)": statuses[207],
        "400 whole-batch rejections (poison values)": statuses[400],
        "updater crashes after HubSpot applied, before the record state": logs.pipeline.early_crashes,
        "updater crashes after the handler, before answering SQS": logs.pipeline.crashes,
        "duplicate SQS deliveries (copies sent)": logs.pipeline.duplicate_copies,
        "duplicate webhook deliveries, later": sum(job.repeat for job in jobs),
        "duplicate webhook deliveries, concurrent": sum(job.concurrent_twin for job in jobs),
        **lies,
        "late answers (applied after the client timed out)": drawn["late"],
        "DynamoDB outage right after HubSpot applied (commits failed)": state.after_applied[OUTAGE] if state else 0,
        "DynamoDB commit took effect, answer lost (commits failed)": state.after_applied[LOST_ANSWER] if state else 0,
        "older events sent after a failed commit (probes)": logs.probes.sent if logs.probes else 0,
    }


def _event_rows(scenario: Scenario, books: Books, send_log: SendLog) -> list[tuple[str, Any]]:
    dead_accepted = len(set(books.dead) - scenario.ids_of(INVALID))
    poison, missing = len(scenario.ids_of(POISON)), len(scenario.ids_of(MISSING))
    return [
        ("sent (deliveries / posts)", f"{books.sent} ({len(scenario.deliveries)} / {send_log.posts})"),
        ("receiver answers 409 delivery_in_progress / 503", f"{send_log.conflicts} / {send_log.unavailable}"),
        ("rejected at receipt (INVALID_EVENT)", books.rejected),
        ("accepted", books.accepted),
        ("applied", len(books.applied)),
        ("dead-lettered (accepted events)", dead_accepted),
        ("  poison / not found / merged with poison", f"{poison} / {missing} / {len(books.casualties)}"),
        ("  dead-lettered, yet HubSpot shows their value", len(books.reflected_dead)),
        ("accepted = applied + dead-lettered", f"{books.accepted} = {len(books.applied)} + {dead_accepted}"),
    ]


def _pipeline_rows(stack: LocalStack, logs: RunLogs) -> list[tuple[str, Any]]:
    statuses = batch_calls(stack)
    reports = logs.pipeline.reports
    stats = logs.pipeline.updater.delivery.stats
    counts = logs.pipeline.receive_counts
    return [
        ("## HubSpot calls (batch/update)", ""),
        ("total", sum(statuses.values())),
        ("200 / 207 / 400", f"{statuses[200]} / {statuses[207]} / {statuses[400]}"),
        ("isolation calls (bisection)", stats.isolation_calls),
        ("## retries", ""),
        ("retries within an invocation", stats.retries),
        ("redeliveries (batchItemFailures; crashes aside)", sum(r.retried_later for r in reports)),
        ("re-queued, delayed (daily limit)", sum(r.requeued for r in reports)),
        ("updater invocations", logs.pipeline.invocations),
        ("most receives of one message", max(counts, default=0)),
        ("superseded values (older than applied ones)", sum(r.superseded_values for r in reports)),
        ("inputs a 2xx answer did not prove (retried)", stats.unproven),
        ("records held in doubt, deferred (LEASED)", sum(r.deferred_records for r in reports)),
    ]


def _replay_rows(logs: RunLogs, books: Books) -> list[tuple[str, Any]]:
    replay = logs.replay
    if replay is None or replay.books is None or replay.report is None:
        return [("## the replay", ""), ("not run", replay.stuck if replay else "")]
    after, report = replay.books, replay.report
    dead_accepted = len(set(after.dead) - logs.scenario.ids_of(INVALID))
    return [
        ("## the replay (every DLQ category, after the drain)", ""),
        ("records created (for OBJECT_NOT_FOUND)", len(replay.created)),
        ("DLQ messages moved / refused / failed", f"{report.moved} / {report.refused} / {report.failed}"),
        *[(f"  {category}", n) for category, n in sorted(report.by_category.items())],
        ("events applied by the replay", len(after.applied - books.applied)),
        ("refused again (events / messages)", f"{len(after.dead)} / {sum(after.dlq_messages.values())}"),
        *[
            (f"  {name}", f"{after.dlq_events[name]} / {after.dlq_messages[name]}")
            for name in sorted(after.dlq_messages)
        ],
        ("accepted = applied + dead-lettered", f"{after.accepted} = {len(after.applied)} + {dead_accepted}"),
        ("  dead-lettered, yet HubSpot shows their value", len(after.reflected_dead)),
        ("replay until quiet", f"{replay.seconds:.1f} s"),
    ]


def report_table(stack: LocalStack, books: Books, logs: RunLogs) -> str:
    size, program = logs.size, logs.program
    phase_seconds: Counter[str] = Counter()
    for phase in program.log:
        phase_seconds[phase.name] += phase.seconds
    rows: list[tuple[str, Any]] = [
        ("## run", ""),
        ("events / records (seed)", f"{size.events} / {size.records} ({size.seed})"),
        ("fault phases run (kinds)", f"{len(program.log)} ({len(phase_seconds)})"),
        ("## faults injected", ""),
        *faults_injected(stack, logs).items(),
        ("## events", ""),
        *_event_rows(logs.scenario, books, logs.send_log),
        ("## DLQ by category (events / messages)", ""),
        *[(name, f"{books.dlq_events[name]} / {books.dlq_messages[name]}") for name in sorted(books.dlq_messages)],
        *_pipeline_rows(stack, logs),
        *_replay_rows(logs, books),
        ("## time", ""),
        *[(name, f"{seconds:.1f} s") for name, seconds in logs.timings.items()],
        ("## fault phases (seconds on, in total)", ""),
        *[(name, f"{seconds:.1f} s") for name, seconds in phase_seconds.items()],
    ]
    width = max(len(name) for name, _ in rows) + 2
    rule = "=" * (width + 22)
    lines = ["", rule, "chaos run: the books", rule]
    for name, value in rows:
        lines.append(f"-- {name[3:]}" if name.startswith("## ") else f"{name:<{width}}{value}")
    if logs.function_warnings:
        lines.append("-- the functions' warnings and errors (count: message)")
        lines += [f"{n:>5}: {message[:110]}" for message, n in logs.function_warnings.most_common(12)]
    lines.append(rule)
    return "\n".join(lines)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.found[f"{record.levelname} {record.name}: {record.getMessage()}"] += 1


@contextlib.contextmanager
def collect_warnings(level: str = "WARNING") -> Iterator[Counter[str]]:
    """The functions' warnings and errors (the ``hubsync`` loggers, the functions' Powertools logger), by message.

    Meanwhile the ``hubsync`` logger logs at ``level`` (not a line per request and per batch); its level is
    restored after, as the logger is shared by every test in the session."""
    collector = _Collector()
    logger = logging.getLogger("hubsync")
    saved = logger.level
    logger.setLevel(level)
    logger.addHandler(collector)
    try:
        yield collector.found
    finally:
        logger.removeHandler(collector)
        logger.setLevel(saved)


def timeline(logs: RunLogs) -> str:
    """Phases and updater invocations in time order (``CHAOS_DEBUG=1``): which fault cost which receives."""
    rows = [(phase.started, f"phase {phase.name} ({phase.seconds:.1f} s)") for phase in logs.program.log]
    rows += [
        (at, f"    {messages} messages, most receives {receives}: {what}")
        for at, messages, receives, what in logs.pipeline.timeline
    ]
    rows += logs.send_log.timeline
    if logs.replay is not None and logs.replay.report is not None:
        rows.append((logs.replay.started, f"replay of the DLQ: {logs.replay.report.as_dict()}"))
    first = min((at for at, _ in rows), default=0.0)
    return "\n".join(f"{at - first:7.1f} {text}" for at, text in sorted(rows))

"""The chaos run's scenario: its sizes, the records and events (valid, poison, not found, invalid), the deliveries."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubsync_local.stack import LocalStack

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

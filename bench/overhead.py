"""CPU per event of the updater's own work: 10,000 events over 2,000 records, side by side in one run.

HubSpot is the simulator's CLI in a child process (zero latency; it sends the rate-limit headers HubSpot
sends, with a limit too high to pace anything), so its CPU is not counted; the DLQ is moto's server, also a
child. CPU is ``time.process_time()`` of this process: it includes the updater's request threads. Each case
is run once to warm up (connections, the handler's first-request set-up), then REPS times, interleaved; the
median counts.

- hubsync: the Lambda handler (functions/updater/app.py) with an SQS event of 10,000 records, INFO logs and
  metrics on (written to /dev/null), the rate limiter on, every value checked against HubSpot's property
  definitions (as deployed: SCHEMA_CHECKS on), no record state table.
- official: the 20 merged requests of 100 inputs hubsync sends, through HubSpot's official Python client.
- bare: the same 20 requests with ``requests.Session().post`` + ``response.json()``, nothing else.
- one call per event: bare requests, one input each, over the first 1,000 events (scaled per event).

Two rows for context, with no target: hubsync's reading and merging of the 10,000 messages alone (its own
functions, no HTTP), and a bare implementation that does the least per message (``json.loads`` of each body,
a dict merge in arrival order, no validation) before the same bare requests.

The per-event figures all divide by the 10,000 events applied (official and bare are handed the merged
batches ready-made: hubsync's parsing and merging of 10,000 messages is counted in hubsync's figure only).
Then wall time with 20 ms of HubSpot latency: hubsync's handler (4 in flight) vs the bare requests in turn.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from hubspot import HubSpot
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

from bench._support import (
    HEADERS_ONLY_LIMIT,
    OBJECT,
    TOKEN,
    Headline,
    SimulatorProcess,
    environment,
    event_body,
    now_ms,
    record_ids,
    spread,
    sqs_event,
    table,
    updater_environment,
)
from hubsync.delivery.batching import merge, plan_requests
from hubsync.events import loads, parse_event, queued_event
from hubsync_local.aws import MotoServer, client
from hubsync_local.lambda_runtime import LambdaContext, load_handler

EVENTS = 10_000
RECORDS = 2_000
PER_EVENT_SUBSET = 1_000
REPS = 7
LATENCY_MS = 20
BARE_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def build_events(start: int | None = None) -> tuple[list[str], dict[str, Any]]:
    """The event bodies and the SQS event carrying them, as Lambda hands it to the handler."""
    start = now_ms() - EVENTS if start is None else start
    targets = spread(EVENTS, record_ids(RECORDS))
    bodies = [
        event_body(rid, start + i, property_string=f"v{i}", property_number=str(i)) for i, rid in enumerate(targets)
    ]
    return bodies, sqs_event(bodies)


def merged_requests(bodies: list[str]) -> list[list[Any]]:
    """The requests hubsync sends for these events (its own merge and cut), as lists of inputs."""
    now = now_ms()
    events = [(parse_event(loads(body), default_object_type=OBJECT, now_ms=now), None) for body in bodies]
    return [request.payload() for request in plan_requests(merge(events))]


def handler_case(url: str, event: dict[str, Any] | Iterator[dict[str, Any]], sink: Any) -> Callable[[], None]:
    """The updater handler loaded fresh, bound to the HubSpot at ``url`` (read at its first invocation).
    ``event``: the same SQS event each time, or (with the record state on) a fresh one each time, newer than
    the last (the same event again would be superseded: nothing sent)."""
    os.environ["HUBSPOT_BASE_URL"] = url
    with contextlib.redirect_stdout(sink):  # Powertools binds its log stream when the module loads
        handler = load_handler("updater")

    def invoke() -> None:
        current = event if isinstance(event, dict) else next(event)
        with contextlib.redirect_stdout(sink):  # the metrics (EMF) are printed
            answer = handler(current, LambdaContext("updater", 900))
        if answer != {"batchItemFailures": []}:
            raise AssertionError(f"the handler did not apply every event: {str(answer)[:300]}")

    invoke()  # the first invocation builds the service: clients, limiter (not counted: cold start is)
    os.environ["HUBSPOT_BASE_URL"] = ""
    return invoke


def official_case(url: str, payloads: list[list[Any]]) -> Callable[[], None]:
    api = HubSpot(access_token=TOKEN, host=url).crm.objects.batch_api

    def send() -> None:
        for inputs in payloads:
            batch = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(
                        id=item["id"], properties=item["properties"], object_write_trace_id=item["objectWriteTraceId"]
                    )
                    for item in inputs
                ]
            )
            api.update(OBJECT, batch_input_simple_public_object_batch_input=batch)

    return send


def bare_case(url: str, payloads: list[list[Any]]) -> Callable[[], None]:
    session = requests.Session()
    endpoint = f"{url}/crm/v3/objects/{OBJECT}/batch/update"

    def send() -> None:
        for inputs in payloads:
            response = session.post(endpoint, data=json.dumps({"inputs": inputs}), headers=BARE_HEADERS)
            response.json()

    return send


def read_and_merge_case(event: dict[str, Any]) -> Callable[[], None]:
    """hubsync's per-message work alone, as the updater does it for the receiver's messages: decode, merge, cut."""

    def read() -> None:
        records = event["Records"]
        events = [queued_event(record["body"]) for record in records]
        if None in events:
            raise AssertionError("every message here is the receiver's: none should take the strict path")
        plan_requests(merge(zip(events, records, strict=True)))  # type: ignore[arg-type]

    return read


def bare_merge_case(url: str, event: dict[str, Any]) -> Callable[[], None]:
    """The least a batching client must do per message (parse the body, merge per record), then bare requests."""
    session = requests.Session()
    endpoint = f"{url}/crm/v3/objects/{OBJECT}/batch/update"

    def send() -> None:
        merged: dict[str, dict[str, Any]] = {}
        for record in event["Records"]:
            document = json.loads(record["body"])
            merged.setdefault(document["id"], {}).update(document["properties"])
        inputs = [{"id": rid, "properties": properties} for rid, properties in merged.items()]
        for start in range(0, len(inputs), 100):
            response = session.post(
                endpoint, data=json.dumps({"inputs": inputs[start : start + 100]}), headers=BARE_HEADERS
            )
            response.json()

    return send


def create_state_table(dynamodb: Any) -> str:
    """The record state table as template.yaml declares it (partition key ``record``, on demand)."""
    name = "bench-record-state"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "record", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "record", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@contextlib.contextmanager
def state_calls(table: str) -> Iterator[dict[str, Any]]:
    """The record state's DynamoDB calls (by operation) and units while the block runs, counted as bench.costs
    counts them (bench.metering)."""
    from collections import Counter

    from bench.metering import Meter, count_calls

    meter = Meter()
    seen: dict[str, Any] = {}
    remove = count_calls(meter)
    try:
        yield seen
    finally:
        remove()
        calls = {name.split(".", 1)[1]: n for name, n in meter.calls.items() if name.startswith("dynamodb.")}
        seen.update(calls=Counter(calls), read_units=meter.read_units[table], write_units=meter.write_units[table])


def measure(cases: dict[str, Callable[[], None]]) -> dict[str, tuple[float, float]]:
    """Median (CPU seconds, wall seconds) of each case over REPS interleaved runs, after one warm-up each."""
    for run in cases.values():
        run()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(REPS):
        for name, run in cases.items():
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            run()
            samples[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }


def run() -> dict[str, Any]:
    bodies, event = build_events()
    payloads = merged_requests(bodies)
    single = [[{"id": item["id"], "properties": item["properties"]}] for item in map(json.loads, bodies)]
    single = single[:PER_EVENT_SUBSET]
    ids = record_ids(RECORDS)
    with (
        open(os.devnull, "w") as sink,
        MotoServer() as moto,
        SimulatorProcess(ids, *HEADERS_ONLY_LIMIT) as fast,
        SimulatorProcess(ids, *HEADERS_ONLY_LIMIT, "--latency-ms", str(LATENCY_MS)) as slow,
    ):
        dlq_url = client("sqs", moto.url).create_queue(QueueName="bench-updater-dlq")["QueueUrl"]
        state_table = create_state_table(client("dynamodb", moto.url))
        settings = updater_environment(moto.url, dlq_url, "updater")
        # With the record state on (as deployed): a fresh, newer event for every invocation, built beforehand.
        base = now_ms() - (REPS + 3) * EVENTS
        stateful = iter([build_events(base + rep * EVENTS)[1] for rep in range(REPS + 3)])
        with environment({**settings, "RECORD_STATE_TABLE": state_table}, remove=("QUEUE_URL",)):
            hubsync_state = handler_case(fast.url, stateful, sink)
        with environment(settings, remove=("QUEUE_URL", "RECORD_STATE_TABLE", "POWERTOOLS_METRICS_DISABLED")):
            hubsync_fast = handler_case(fast.url, event, sink)
            # As deployed: every value checked against the property definitions (read at the first invocation).
            if not any(call["path"].startswith("/crm/v3/properties/") for call in fast.calls()):
                raise AssertionError("the handler did not read the property definitions: values went unchecked")
            hubsync_slow = handler_case(slow.url, event, sink)
            fast.reset_calls()
            hubsync_fast()
            sent = [call for call in fast.calls() if call["path"].endswith("/batch/update")]
            if len(sent) != len(payloads) or sum(call["inputs"] for call in sent) != RECORDS:
                raise AssertionError(f"hubsync sent {len(sent)} requests, expected {len(payloads)}")
            fast.reset_calls()
            with state_calls(state_table) as dynamodb:
                hubsync_state()
            sent = [call for call in fast.calls() if call["path"].endswith("/batch/update")]
            if len(sent) != len(payloads):  # the state must not have found these events superseded
                raise AssertionError(f"hubsync with the record state sent {len(sent)} requests, not {len(payloads)}")
            cpu = measure(
                {
                    "hubsync": hubsync_fast,
                    "hubsync with record state": hubsync_state,
                    "official": official_case(fast.url, payloads),
                    "bare": bare_case(fast.url, payloads),
                    "one call per event": bare_case(fast.url, single),
                    "read and merge": read_and_merge_case(event),
                    "bare with merge": bare_merge_case(fast.url, event),
                }
            )
            wall = measure({"hubsync": hubsync_slow, "bare": bare_case(slow.url, payloads)})
    return {"cpu": cpu, "wall": wall, "requests": len(payloads), "dynamodb": dynamodb}


def main() -> list[Headline]:
    result = run()
    cpu, wall = result["cpu"], result["wall"]
    per_event = {name: seconds / EVENTS for name, (seconds, _) in cpu.items()}
    per_event["one call per event"] = cpu["one call per event"][0] / PER_EVENT_SUBSET
    hubsync_bare_merge = per_event["hubsync"] / per_event["bare with merge"]
    state_own = (per_event["hubsync with record state"] - per_event["hubsync"]) / per_event["official"]
    state_official = per_event["hubsync with record state"] / per_event["official"]
    state_bare = per_event["hubsync with record state"] / per_event["bare"]
    hubsync_official = per_event["hubsync"] / per_event["official"]
    hubsync_bare = per_event["hubsync"] / per_event["bare"]
    single_bare = per_event["one call per event"] / per_event["bare"]
    wall_ratio = wall["hubsync"][1] / wall["bare"][1]
    print(
        f"{EVENTS:,} events over {RECORDS:,} records = {result['requests']} requests of 100; CPU of this process "
        f"(HubSpot and moto are child processes), median of {REPS}"
    )
    rows = [
        ("hubsync handler (logs, metrics, limiter)", cpu["hubsync"][0] * 1000, per_event["hubsync"] * 1e6),
        (
            "hubsync handler with the record state (as deployed)",
            cpu["hubsync with record state"][0] * 1000,
            per_event["hubsync with record state"] * 1e6,
        ),
        ("official client, same 20 requests", cpu["official"][0] * 1000, per_event["official"] * 1e6),
        ("bare requests, same 20 requests", cpu["bare"][0] * 1000, per_event["bare"] * 1e6),
        (
            f"bare, one call per event ({PER_EVENT_SUBSET:,} events)",
            cpu["one call per event"][0] * 1000,
            per_event["one call per event"] * 1e6,
        ),
        (
            "  of hubsync: reading + merging the messages",
            cpu["read and merge"][0] * 1000,
            per_event["read and merge"] * 1e6,
        ),
        (
            "bare + json.loads and dict merge per message",
            cpu["bare with merge"][0] * 1000,
            per_event["bare with merge"] * 1e6,
        ),
    ]
    table(("case", "CPU ms", "CPU µs / event"), rows)
    table(
        ("ratio", "measured", "target"),
        [
            ("hubsync / official client", hubsync_official, "<= 0.2"),
            ("hubsync / bare requests", hubsync_bare, "<= 2"),
            ("one call per event / bare batched", single_bare, "-"),
            ("hubsync / bare with json.loads + merge (context)", hubsync_bare_merge, "-"),
            ("record state's own CPU (with - without) / official client", state_own, "<= 0.15"),
            ("hubsync with the record state / official client", state_official, "~0.3"),
            ("hubsync with the record state / bare requests", state_bare, "-"),
        ],
    )
    dynamodb = result["dynamodb"]
    per_thousand = 1000 / RECORDS
    calls = ", ".join(f"{n * per_thousand:.0f} {name}" for name, n in sorted(dynamodb["calls"].items()))
    print(
        f"record state per 1,000 records (one invocation, every record seen before by this container): {calls}; "
        f"{dynamodb['write_units'] * per_thousand:.0f} write units, {dynamodb['read_units'] * per_thousand:.0f} "
        "read units"
    )
    print(f"wall time, {LATENCY_MS} ms HubSpot latency, same {result['requests']} requests, median of {REPS}")
    table(
        ("case", "wall ms", "ratio"),
        [
            ("hubsync handler (4 in flight)", wall["hubsync"][1] * 1000, wall_ratio),
            ("bare requests, one after another", wall["bare"][1] * 1000, 1.0),
        ],
    )
    return [
        Headline(
            "overhead", "CPU/event hubsync / official client", hubsync_official, "<= 0.2", hubsync_official <= 0.2
        ),
        Headline("overhead", "CPU/event hubsync / bare requests", hubsync_bare, "<= 2", hubsync_bare <= 2),
        Headline("overhead", "CPU/event one call per event / bare batched", single_bare, "-", None),
        Headline("overhead", "CPU/event hubsync / bare with json.loads + merge", hubsync_bare_merge, "-", None),
        Headline("overhead", "CPU/event record state's own / official client", state_own, "<= 0.15", state_own <= 0.15),
        Headline("overhead", "CPU/event hubsync with record state / official client", state_official, "-", None),
        Headline("overhead", "CPU/event hubsync with record state / bare requests", state_bare, "-", None),
        Headline("overhead", f"wall, {LATENCY_MS} ms latency: hubsync / bare sequential", wall_ratio, "-", None),
    ]


if __name__ == "__main__":
    main()

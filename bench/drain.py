"""Load, part 2: the updater draining a backlog (bench/load.py runs it after the webhook; alone:
``python -m bench.drain``).

DRAIN_EVENTS events over DRAIN_RECORDS records, with fixed seeds: every record once, the
rest Zipf-like (the k-th record drawn with weight 1/k), shuffled. The bodies are exactly as the receiver
queues them. They go to the updater's own handler (``load_handler``) as SQS events of the template's
BatchSize, one after another. The local queue emulator is not what is measured. HubSpot is the
simulator's CLI in a child process (no latency, a limit too high to pace anything). The DLQ is moto's
server, also a child. The big drain has no record state table (moto's transactions over a 10,000-record
table are too slow for it); a smaller one (STATE_DRAIN_EVENTS over STATE_DRAIN_RECORDS) runs twice in the
same run, with the record state (as deployed: moto's DynamoDB made atomic) and without. Reported:
events/s (wall time of the handler calls); CPU per event (``time.process_time()`` of this process, the
updater's threads included); HubSpot calls against the lower bound, the sum over batches of ceil(distinct
records in the batch / 100); the handler's own EventsApplied metric; and the simulator's final state of
every record.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import time
import uuid
from typing import Any

from bench._support import (
    FIRST_RECORD_ID,
    HEADERS_ONLY_LIMIT,
    OBJECT,
    Headline,
    SimulatorProcess,
    environment,
    event_body,
    now_ms,
    queue_depth,
    record_ids,
    sqs_event,
    table,
    updater_environment,
)
from hubsync_local.aws import MotoServer, client
from hubsync_local.lambda_runtime import LambdaContext, load_handler
from hubsync_local.template import Template

DRAIN_EVENTS = 100_000
DRAIN_RECORDS = 10_000
STATE_DRAIN_EVENTS = 20_000
STATE_DRAIN_RECORDS = 2_000
SEED = 20_251_128


def drain_targets(events: int = DRAIN_EVENTS, records: int = DRAIN_RECORDS) -> list[str]:
    """Which record each event touches: every record once, the rest Zipf-like (weight 1/k), shuffled."""
    ids = record_ids(records)
    rng = random.Random(SEED)
    targets = ids + rng.choices(ids, weights=[1 / (k + 1) for k in range(len(ids))], k=events - len(ids))
    rng.shuffle(targets)
    return targets


def _emf_sum(text: str, metric: str) -> int:
    """The sum of one metric over the EMF documents the handler printed."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("{") or f'"{metric}"' not in line:
            continue
        value = json.loads(line).get(metric)
        total += int(sum(value) if isinstance(value, list) else value or 0)
    return total


def drain(
    sim: SimulatorProcess, targets: list[str], batches: int, batch_size: int, timeout: int, records: int = DRAIN_RECORDS
) -> dict[str, Any]:
    """The updater's handler over ``batches`` SQS events of ``batch_size``; the caller sets the env (DLQ, token)."""
    start = now_ms() - len(targets)
    os.environ["HUBSPOT_BASE_URL"] = sim.url
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # Powertools binds its log stream when the module loads
        handler = load_handler("updater")
        # The first invocation builds the service (clients, limiter): a warm-up on a record outside the drain.
        warm = event_body(str(FIRST_RECORD_ID + records), start - 1, property_string="warm-up")
        handler(sqs_event([warm], -1), LambdaContext("updater", timeout))
    sim.reset_calls()
    sink = io.StringIO()
    cpu = wall = 0.0
    lower_bound = 0
    failures = 0
    for batch in range(batches):
        first = batch * batch_size
        chunk = targets[first : first + batch_size]
        bodies = [
            event_body(rid, start + first + i, property_string=f"e{first + i}", property_number=str(first + i))
            for i, rid in enumerate(chunk)
        ]
        event = sqs_event(bodies, first)
        lower_bound += math.ceil(len(set(chunk)) / 100)
        context = LambdaContext("updater", timeout)
        with contextlib.redirect_stdout(sink):  # logs and metrics (EMF) are printed
            began_cpu, began_wall = time.process_time(), time.perf_counter()
            answer = handler(event, context)
            cpu += time.process_time() - began_cpu
            wall += time.perf_counter() - began_wall
        failures += len(answer["batchItemFailures"])
    calls = [call for call in sim.calls() if call["path"].endswith("/batch/update")]
    events = min(len(targets), batches * batch_size)
    expected: dict[str, int] = {}
    for i, rid in enumerate(targets[:events]):
        expected[rid] = i  # the last event of each record wins
    stored = sim.admin("GET", f"records/{OBJECT}")["records"]
    wrong = sum(
        1
        for rid, i in expected.items()
        if stored[rid]["properties"].get("property_string") != f"e{i}"
        or str(stored[rid]["properties"].get("property_number")) != str(i)
    )
    return {
        "events": events,
        "records": len(expected),
        "cpu": cpu,
        "wall": wall,
        "calls": len(calls),
        "bad_calls": sum(1 for call in calls if call["status"] != 200),
        "lower_bound": lower_bound,
        "applied": _emf_sum(sink.getvalue(), "EventsApplied"),
        "failures": failures,
        "wrong_records": wrong,
    }


def run_drain() -> dict[str, Any]:
    return _drain_in_stack(drain_targets(), DRAIN_RECORDS, state=False)


def run_state_drain() -> dict[str, dict[str, Any]]:
    """The smaller drain, the same events twice: without the record state, then with it (as deployed)."""
    targets = drain_targets(STATE_DRAIN_EVENTS, STATE_DRAIN_RECORDS)
    return {case: _drain_in_stack(targets, STATE_DRAIN_RECORDS, state=case == "with") for case in ("without", "with")}


def _drain_in_stack(targets: list[str], records: int, state: bool) -> dict[str, Any]:
    """One drain with moto and the simulator of its own; with the record state table (as deployed) or none."""
    from bench.overhead import create_state_table

    template = Template.load(stack_name="hubsync-bench")
    batch_size = int(template.sqs_event("UpdaterFunction")["BatchSize"])
    timeout = template.function_timeout("UpdaterFunction")
    batches = math.ceil(len(targets) / batch_size)
    with (
        MotoServer() as moto,
        SimulatorProcess(record_ids(records + 1), *HEADERS_ONLY_LIMIT) as sim,
    ):
        sqs = client("sqs", moto.url)
        dlq_url = sqs.create_queue(QueueName="bench-load-dlq")["QueueUrl"]
        # A service name of its own, so the logs go to this run's sink (not one an earlier benchmark closed).
        settings = updater_environment(moto.url, dlq_url, f"updater-load-{uuid.uuid4().hex[:8]}")
        removed = ["QUEUE_URL", "POWERTOOLS_METRICS_DISABLED"]
        if state:
            settings["RECORD_STATE_TABLE"] = create_state_table(client("dynamodb", moto.url))
        else:
            removed.append("RECORD_STATE_TABLE")
        with environment(settings, remove=tuple(removed)):
            result = drain(sim, targets, batches, batch_size, timeout, records)
        result["dlq"] = queue_depth(sqs, dlq_url)
    return {**result, "batch_size": batch_size, "batches": batches}


def report_state_drain(results: dict[str, dict[str, Any]]) -> list[Headline]:
    without, with_state = results["without"], results["with"]
    print(
        f"the same {with_state['events']:,} events over {with_state['records']:,} records, "
        f"{with_state['batches']} SQS events of {with_state['batch_size']:,}, without and with the record state "
        "(moto's DynamoDB, atomic, one request at a time: its latency is not AWS's, so wall time is moto's)"
    )
    rows = []
    for name, result in (("without the record state", without), ("with the record state", with_state)):
        unapplied = result["failures"] + result["dlq"] + result["bad_calls"] + result["wrong_records"]
        rows.append(
            (
                name,
                f"{result['events'] / result['wall']:,.0f}",
                f"{result['cpu'] / result['events'] * 1e6:.1f}",
                f"{result['calls']} / {result['lower_bound']}",
                unapplied,
            )
        )
    table(("drain", "events/s", "CPU µs / event", "calls / lower bound", "not applied or wrong"), rows)
    ratio = (with_state["cpu"] / with_state["events"]) / (without["cpu"] / without["events"])
    print(f"CPU per event with the record state / without: {ratio:.2f}")
    complete = all(
        r["applied"] == r["events"] and r["failures"] + r["dlq"] + r["bad_calls"] + r["wrong_records"] == 0
        for r in (without, with_state)
    )
    calls_ratio = with_state["calls"] / with_state["lower_bound"]
    return [
        Headline("load", "drain with record state: CPU/event with / without", ratio, "-", None),
        Headline("load", "drain with record state: calls / lower bound", calls_ratio, "1.00", calls_ratio == 1.0),
        Headline("load", "drain with record state: every event applied", 1.0 if complete else 0.0, "1.00", complete),
    ]


def report_drain(result: dict[str, Any]) -> list[Headline]:
    print(
        f"{result['events']:,} events over {result['records']:,} records (Zipf-like, shuffled) in "
        f"{result['batches']} SQS events of {result['batch_size']:,} (the template's BatchSize), handed to the "
        "updater's handler one after another; no record state table; HubSpot (simulator) and moto are child "
        "processes; CPU of this process (the updater's threads included)"
    )
    ratio = result["calls"] / result["lower_bound"]
    applied = result["applied"] / result["events"]
    unapplied = result["failures"] + result["dlq"] + result["bad_calls"]
    table(
        ("measure", "measured"),
        [
            ("events/s (wall time of the handler calls)", result["events"] / result["wall"]),
            ("CPU µs / event", result["cpu"] / result["events"] * 1e6),
            ("wall s / CPU s of this process", f"{result['wall']:.2f} / {result['cpu']:.2f}"),
            ("HubSpot calls", result["calls"]),
            ("lower bound: sum of ceil(distinct records in batch / 100)", result["lower_bound"]),
            ("calls / lower bound", ratio),
            (
                "(one call per 100 events would be; one per event)",
                f"{-(-result['events'] // 100):,}; {result['events']:,}",
            ),
            ("events applied (the handler's EventsApplied metric)", f"{result['applied']:,}"),
            ("batch item failures + DLQ messages + non-200 calls", unapplied),
            (
                "records holding their last event's values (simulator)",
                f"{result['records'] - result['wrong_records']:,} / {result['records']:,}",
            ),
        ],
    )
    complete = applied == 1.0 and unapplied == 0 and result["wrong_records"] == 0
    return [
        Headline("load", "drain calls / lower bound", ratio, "1.00", ratio == 1.0),
        Headline("load", "drain events applied / events", applied, "1.00", complete),
    ]


def main() -> list[Headline]:
    began = time.perf_counter()
    headlines = report_drain(run_drain())
    print(f"(drain: {time.perf_counter() - began:.1f} s)")
    began = time.perf_counter()
    headlines += report_state_drain(run_state_drain())
    print(f"(drain with and without the record state: {time.perf_counter() - began:.1f} s)")
    return headlines


if __name__ == "__main__":
    main()

"""What a million events cost on AWS, by a model fed with the requests counted in a run through the handlers.

The local stack runs as deployed (template.yaml's settings: the receiver behind the local API gateway, the
updater fed by the local event source mapping, the record state and idempotency tables, secrets by ARN, moto
with atomic DynamoDB, the HubSpot simulator). Every AWS call the handlers and the event source mapping make is
counted by a botocore hook (SQS requests per 64 KB of payload, DynamoDB read and write units by DynamoDB's
own rules: 1 KB per write unit, 4 KB per read unit, transactions twice, eventually consistent reads half),
and each Lambda invocation's duration is modelled as its own CPU time plus its calls times an assumed
latency (moto's latency is not AWS's). The counts are priced at the on-demand list prices of one region
(``bench/prices/*.json``, dated) and scaled to a million events, for four shapes: 1 or 50 events per webhook
request, every event a different record or 10 events per record per batch.

Run: ``.venv/bin/python -m bench.costs`` (part of ``make bench``). docs/costs.md explains the lines.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._support import Headline, table
from bench.metering import CountingStdout, Meter, count_calls

PRICES_DIR = Path(__file__).with_name("prices")
MEMORY_GB_PARAMETER = "FunctionMemorySize"


@dataclass(frozen=True)
class Shape:
    name: str
    events: int
    per_request: int
    per_record: int  # events per record (all in one updater batch)


SHAPES = (
    Shape("1 event/request, every event a different record", 100, 1, 1),
    Shape("50 events/request, every event a different record", 1000, 50, 1),
    Shape("1 event/request, 10 events per record", 100, 1, 10),
    Shape("50 events/request, 10 events per record", 1000, 50, 10),
)
WORST = SHAPES[0]


def load_prices() -> dict[str, Any]:
    """The newest prices file."""
    path = sorted(PRICES_DIR.glob("aws-*.json"))[-1]
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    document["file"] = path.name
    return document


# -- the run -------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stack(meter: Meter) -> Iterator[Any]:
    """The local stack as deployed, its handlers wrapped by the meter; the poller started by the caller."""
    from hubsync_local import stack as stack_module
    from hubsync_local.aws import MotoServer
    from hubsync_local.stack import LocalStack, StackConfig

    original = stack_module.load_handler

    def wrapped(function_dir: str, *args: Any, **kwargs: Any) -> Any:
        return meter.wrap(function_dir, original(function_dir, *args, **kwargs))

    with MotoServer() as moto:
        stack_module.load_handler = wrapped  # type: ignore[assignment]
        try:
            config = StackConfig(
                stack_name=f"costs-{uuid.uuid4().hex[:6]}",
                gateway_port=None,
                simulator_port=None,
                aws_endpoint_url=moto.url,
                simulator_seed={},
                start_poller=False,
                # Shorter than the template's 10 s so that the run is quick; a record's events, sent one after
                # another, still share a batch (the counts do not depend on the window, only the latency does).
                window_seconds=3,
                extra_environment={"LOG_LEVEL": "INFO"},
            )
            with LocalStack(config) as stack:
                yield stack
        finally:
            stack_module.load_handler = original  # type: ignore[assignment]


def run_shape(stack: Any, meter: Meter, shape: Shape) -> Meter:
    """Sends the shape's events through the webhook, then lets the mapping drain them; the counts of that."""
    import requests
    from standardwebhooks import Webhook

    from bench._support import OBJECT

    sim = stack.simulator
    records = [sim.add_record(OBJECT, {"property_string": "seed"}) for _ in range(shape.events // shape.per_record)]
    now = int(time.time() * 1000) - 60_000
    events = [
        {
            "id": records[n // shape.per_record],
            "objectType": OBJECT,
            "properties": {"property_string": f"v{n}", "property_number": str(n)},
            "occurredAt": now + n,
        }
        for n in range(shape.events)
    ]
    sim.reset_calls()
    session = requests.Session()
    signer = Webhook(stack.webhook_secrets[0])
    for start in range(0, len(events), shape.per_request):
        body = json.dumps(events[start : start + shape.per_request])
        msg_id = f"msg_{uuid.uuid4().hex}"
        moment = time.time()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment)),
            "webhook-signature": signer.sign(msg_id, _utc(moment), body),
        }
        answer = session.post(stack.webhook_url, data=body.encode(), headers=headers, timeout=30)
        if answer.status_code != 202:
            raise AssertionError(f"webhook answered {answer.status_code}: {answer.text[:200]}")
        meter.webhook_requests += 1
    stack.poller.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        held = sim.records(OBJECT)
        if all(held[rid]["properties"].get("property_string") == _last(events, rid) for rid in records):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{shape.name}: not every record reached its last value")
    stack.poller.stop()
    meter.hubspot_calls = sum(1 for call in sim.calls if "/batch/" in call.path or "/properties/" in call.path)
    return meter


def _last(events: list[dict[str, Any]], record: str) -> str:
    return str(next(e for e in reversed(events) if e["id"] == record)["properties"]["property_string"])


def _utc(moment: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, UTC)


# -- the model -----------------------------------------------------------------------------------------------


def dollars(meter: Meter, events: int, prices: Mapping[str, Any], memory_gb: float) -> dict[str, float]:
    """Dollars per million events, by line item."""
    p, a = prices["prices"], prices["assumptions"]
    scale = 1_000_000 / events
    latency = a["latency_ms"]
    lines: Counter[str] = Counter()
    lines["API Gateway requests"] = meter.webhook_requests * p["api_gateway_http_requests_per_million"] / 1e6
    gb_seconds: Counter[str] = Counter()
    for invocation in meter.invocations:
        waited = sum(count * latency.get(service, 10) for service, count in invocation.calls.items())
        billed_ms = math.ceil(invocation.cpu_seconds * 1000 + waited)
        gb_seconds[invocation.function] += billed_ms / 1000 * memory_gb
    gb_seconds["updater"] += meter.hubspot_calls * latency["hubspot"] / 1000 * memory_gb
    invocations = Counter(invocation.function for invocation in meter.invocations)
    for function in ("receiver", "updater"):
        lines[f"Lambda {function}: invocations"] = invocations[function] * p["lambda_requests_per_million"] / 1e6
        lines[f"Lambda {function}: GB-seconds"] = gb_seconds[function] * p["lambda_arm64_gb_second"]
    billed_sqs = meter.sqs_requests - meter.empty_receives  # idle polls: a fixed cost, not per event
    lines["SQS requests"] = billed_sqs * p["sqs_standard_requests_per_million"] / 1e6
    for table_name in sorted(set(meter.read_units) | set(meter.write_units)):
        label = "record state" if "record" in table_name.lower() else "idempotency"
        lines[f"DynamoDB {label}: write units"] += (
            meter.write_units[table_name] * p["dynamodb_on_demand_write_request_units_per_million"] / 1e6
        )
        lines[f"DynamoDB {label}: read units"] += (
            meter.read_units[table_name] * p["dynamodb_on_demand_read_request_units_per_million"] / 1e6
        )
    secrets = sum(count for name, count in meter.calls.items() if name.startswith("secretsmanager."))
    lines["Secrets Manager calls"] = secrets * p["secrets_manager_api_calls_per_10000"] / 1e4
    traced = len(meter.invocations) * a["xray_sampled_fraction"]
    lines["X-Ray traces (sampled)"] = traced * p["xray_traces_recorded_per_million"] / 1e6
    log_bytes = meter.log_bytes + len(meter.invocations) * a["lambda_platform_log_bytes_per_invocation"]
    lines["CloudWatch Logs ingestion"] = log_bytes / 1e9 * p["cloudwatch_logs_ingestion_per_gb"]
    return {name: value * scale for name, value in lines.items() if value}


def _memory_gb() -> float:
    from hubsync_local.template import Template

    template = Template.load()
    return float(template.parameter(MEMORY_GB_PARAMETER)) / 1024


def run() -> dict[str, Any]:
    prices = load_prices()
    memory_gb = _memory_gb()
    results: dict[str, Any] = {}
    meter = Meter()
    remove = count_calls(meter)
    saved = sys.stdout
    # Powertools binds its log stream when a handler module loads: the counter is in place before the stack.
    sys.stdout = CountingStdout(meter)
    try:
        with _stack(meter) as stack:
            # Warm containers first (their cold reads of secrets and property definitions are per container,
            # not per event): a few events, not counted.
            run_shape(stack, meter, Shape("warm-up", 20, 10, 1))
            for shape in SHAPES:
                meter.reset()
                run_shape(stack, meter, shape)
                results[shape.name] = {
                    "dollars": dollars(meter, shape.events, prices, memory_gb),
                    "per_1000_records": _per_records(meter, shape),
                    "calls": dict(meter.calls),
                    "invocations": Counter(invocation.function for invocation in meter.invocations),
                    "hubspot_calls": meter.hubspot_calls,
                }
    finally:
        sys.stdout = saved
        remove()
    return {"prices": prices, "memory_gb": memory_gb, "shapes": results}


def _per_records(meter: Meter, shape: Shape) -> dict[str, float]:
    """Record state DynamoDB calls and units per 1,000 records written (record-state table only)."""
    records = shape.events / shape.per_record
    state = [name for name in meter.write_units if "record" in name.lower()]
    calls = sum(
        count
        for name, count in meter.calls.items()
        if name in ("dynamodb.TransactWriteItems", "dynamodb.BatchGetItem")  # the record state's calls
    )
    return {
        "calls": calls * 1000 / records,
        "write_units": sum(meter.write_units[name] for name in state) * 1000 / records,
        "read_units": sum(meter.read_units[name] for name in state) * 1000 / records,
    }


def main() -> list[Headline]:
    result = run()
    prices = result["prices"]
    print(
        f"prices: {prices['file']} ({prices['region']}, {prices['date']}); memory {result['memory_gb'] * 1024:.0f} MB"
    )
    names: list[str] = []
    for shape in result["shapes"].values():
        names.extend(name for name in shape["dollars"] if name not in names)
    shapes = list(result["shapes"])
    rows = [(name, *(f"{result['shapes'][s]['dollars'].get(name, 0.0):.3f}" for s in shapes)) for name in names]
    totals = {s: sum(result["shapes"][s]["dollars"].values()) for s in shapes}
    rows.append(("total, $ per million events", *(f"{totals[s]:.3f}" for s in shapes)))
    table(("line item", *(f"shape {i + 1}" for i in range(len(shapes)))), rows)
    for i, s in enumerate(shapes):
        lines = result["shapes"][s]["dollars"]
        largest = max(lines, key=lambda name: lines[name])
        per = result["shapes"][s]["per_1000_records"]
        print(
            f"shape {i + 1}: {s}: ${totals[s]:.2f}/M events; largest: {largest} (${lines[largest]:.2f}); "
            f"record state per 1,000 records: {per['calls']:.0f} DynamoDB calls, {per['write_units']:.0f} write "
            f"units, {per['read_units']:.0f} read units"
        )
    worst = totals[WORST.name]
    merged = result["shapes"][SHAPES[3].name]["dollars"]
    merged_largest = max(merged, key=lambda name: merged[name])
    return [
        Headline("costs", f"$/M events, {WORST.name}", worst, "-", None),
        Headline("costs", f"$/M events, {SHAPES[3].name}", totals[SHAPES[3].name], "-", None),
        Headline(
            "costs",
            "DynamoDB the largest line where events merge (1 = yes)",
            float(merged_largest.startswith("DynamoDB")),
            "0",
            not merged_largest.startswith("DynamoDB"),
        ),
    ]


if __name__ == "__main__":
    main()

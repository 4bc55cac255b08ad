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
import io
import json
import math
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._support import Headline, table

PRICES_DIR = Path(__file__).with_name("prices")
KB = 1024
SQS_CHUNK = 64 * KB
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


# -- DynamoDB's capacity rules, from the request (independent of hubsync's code) ----------------------------


def _value_bytes(value: Mapping[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        return (len(str(inner).lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    return sum(len(str(item)) for item in inner)  # sets


def item_bytes(attributes: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + _value_bytes(value) for name, value in attributes.items())


def _written_bytes(request: Mapping[str, Any]) -> int:
    """An estimate of the item a write leaves: its key (or item) and every value the request carries."""
    if "Item" in request:
        return item_bytes(request["Item"])
    size = item_bytes(request.get("Key", {}))
    names = request.get("ExpressionAttributeNames", {})
    for name, value in request.get("ExpressionAttributeValues", {}).items():
        size += len(names.get(name.replace(":", "#"), name).encode()) + _value_bytes(value)
    return size


def _write_units(request: Mapping[str, Any]) -> int:
    return max(1, math.ceil(_written_bytes(request) / KB))


def dynamodb_units(operation: str, params: Mapping[str, Any]) -> tuple[float, float]:
    """(read units, write units) of one call."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 0.0, float(_write_units(params))
    if operation == "TransactWriteItems":
        reads = writes = 0.0
        for item in params.get("TransactItems", []):
            (kind, request), *_ = item.items()
            if kind == "ConditionCheck":
                reads += 2
            else:
                writes += 2 * _write_units(request)
        return reads, writes
    if operation == "BatchWriteItem":
        writes = 0.0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                (kind, body), *_ = request.items()
                writes += _write_units(body) if kind == "PutRequest" else 1
        return 0.0, writes
    if operation == "GetItem":
        return (1.0 if params.get("ConsistentRead") else 0.5), 0.0
    if operation == "BatchGetItem":
        reads = 0.0
        for keys in params.get("RequestItems", {}).values():
            reads += len(keys.get("Keys", [])) * (1.0 if keys.get("ConsistentRead") else 0.5)
        return reads, 0.0
    if operation == "TransactGetItems":
        return 2.0 * len(params.get("TransactItems", [])), 0.0
    return 1.0, 0.0  # Query, Scan: hubsync makes none; counted as one unit if it ever does


def sqs_requests(operation: str, params: Mapping[str, Any]) -> int:
    """SQS bills every 64 KB of a request's payload as one request."""
    if operation == "SendMessageBatch":
        payload = sum(
            len(entry.get("MessageBody", "").encode())
            + sum(len(k) + len(str(v.get("StringValue", ""))) for k, v in entry.get("MessageAttributes", {}).items())
            for entry in params.get("Entries", [])
        )
        return max(1, math.ceil(payload / SQS_CHUNK))
    if operation == "SendMessage":
        return max(1, math.ceil(len(params.get("MessageBody", "").encode()) / SQS_CHUNK))
    return 1


# -- counting ------------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    function: str
    cpu_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)  # service -> calls made in it


@dataclass
class Meter:
    """Everything counted in one shape's run."""

    calls: Counter[str] = field(default_factory=Counter)  # "sqs.SendMessageBatch" -> calls
    sqs_requests: int = 0
    empty_receives: int = 0
    read_units: Counter[str] = field(default_factory=Counter)  # table -> units
    write_units: Counter[str] = field(default_factory=Counter)
    invocations: list[Invocation] = field(default_factory=list)
    log_bytes: int = 0
    webhook_requests: int = 0
    hubspot_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    local: threading.local = field(default_factory=threading.local)

    def reset(self) -> None:
        """Forget the counts (between shapes); the hook and the wrapped handlers stay bound to this meter."""
        with self.lock:
            self.calls, self.read_units, self.write_units = Counter(), Counter(), Counter()
            self.sqs_requests = self.empty_receives = self.log_bytes = self.webhook_requests = self.hubspot_calls = 0
            self.invocations = []

    def before_call(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        with self.lock:
            self.calls[f"{service}.{operation}"] += 1
            if service == "sqs":
                self.sqs_requests += sqs_requests(operation, params)
            elif service == "dynamodb":
                reads, writes = dynamodb_units(operation, params)
                tables = _tables(params) or ["?"]
                self.read_units[tables[0]] += reads
                self.write_units[tables[0]] += writes
        current: Invocation | None = getattr(self.local, "invocation", None)
        if current is not None:
            current.calls[service] += 1

    def after_receive(self, parsed: Mapping[str, Any], model: Any) -> None:
        if model.name == "ReceiveMessage" and not parsed.get("Messages"):
            with self.lock:
                self.empty_receives += 1  # the mapping's idle polls: a fixed cost, not per event

    def wrap(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(event: Any, context: Any) -> Any:
            invocation = Invocation(function)
            self.local.invocation = invocation
            started = time.thread_time()
            try:
                return handler(event, context)
            finally:
                invocation.cpu_seconds = time.thread_time() - started
                self.local.invocation = None
                with self.lock:
                    self.invocations.append(invocation)

        return invoke


def _tables(params: Mapping[str, Any]) -> list[str]:
    if "TableName" in params:
        return [params["TableName"]]
    if "RequestItems" in params:
        return list(params["RequestItems"])
    names = []
    for item in params.get("TransactItems", []):
        (_, request), *_ = item.items()
        names.append(request.get("TableName", "?"))
    return names


class CountingStdout(io.TextIOBase):
    """Where the handlers' log lines go (CloudWatch Logs ingests them): counted, not kept."""

    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    def write(self, text: str) -> int:
        with self._meter.lock:
            self._meter.log_bytes += len(text.encode("utf-8"))
        return len(text)


# -- the run -------------------------------------------------------------------------------------------------


def count_calls(meter: Meter) -> Callable[[], None]:
    """Counts every call of every botocore client in this process (Powertools' idempotency layer makes its
    own session, so a hook on boto3's default session would miss it), and of the record state's lean
    DynamoDB client (hubsync.dynamodb), which sends without botocore's _make_api_call."""
    from botocore.client import BaseClient

    from hubsync.dynamodb.client import LeanDynamoDB

    original = BaseClient._make_api_call
    original_lean = LeanDynamoDB._make_api_call

    def counting(call: Callable[[Any, str, Mapping[str, Any]], Any]) -> Callable[[Any, str, Mapping[str, Any]], Any]:
        def counted(client: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
            # The lean client keeps its botocore client's meta: the same operation model for both.
            model = client.meta.service_model.operation_model(operation_name)
            meter.before_call(model, api_params)
            result = call(client, operation_name, api_params)
            meter.after_receive(result, model)
            return result

        return counted

    BaseClient._make_api_call = counting(original)  # type: ignore[method-assign]
    LeanDynamoDB._make_api_call = counting(original_lean)  # type: ignore[method-assign]

    def remove() -> None:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
        LeanDynamoDB._make_api_call = original_lean  # type: ignore[method-assign]

    return remove


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

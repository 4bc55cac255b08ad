"""Counting what a run through the handlers costs: every AWS call (botocore's and the record state's lean
client's), SQS requests per 64 KB of payload, DynamoDB read and write units by DynamoDB's own rules, each Lambda
invocation's CPU time, and the log bytes. bench.costs prices the counts; bench.overhead counts the record state's
calls with it."""

from __future__ import annotations

import io
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KB = 1024
SQS_CHUNK = 64 * KB


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

"""Which inputs a 200/207 batch answer proves applied, failed, or leaves unproven.

A 2xx settles an input only when the answer proves it (a proxy or a wrong ``HUBSPOT_BASE_URL`` can
answer 200 without HubSpot having seen anything, and HubSpot itself has answered 2xx with neither
results nor errors). Per input, in this order:

1. a result carrying its ``objectWriteTraceId`` proves it applied; so does, for an input addressed by
   record id, a result with that ``id``; for one addressed through ``idProperty``, a result whose
   properties hold that value for that property;
2. an error naming it (``context.objectWriteTraceId`` or ``context.ids``) fails it (for good or for a
   retry, by the error's category); an input both proven and named by an error is unproven;
3. what is left can only be counted: ``idProperty`` inputs whose results came back without anything to
   match them by are applied when exactly as many such results (naming no input, not holding another
   value of that property) are left over as such inputs, and the answer has no error that names no
   input (nor fewer errors than its ``numErrors`` says).

Everything else is unproven (``UNPROVEN``): retried like a transient failure, never acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hubsync.delivery.hubspot import BatchResult
from hubsync.types import BatchInput


@dataclass
class Settlement:
    """The verdict of a 2xx batch answer per input (trace ids); errors as HubSpot gave them."""

    applied: set[str] = field(default_factory=set)
    errors: list[tuple[dict[str, Any], set[str]]] = field(default_factory=list)  # (error, the traces it names)
    unproven: set[str] = field(default_factory=set)
    unmatched_errors: int = 0  # errors naming no input that was sent

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer's shape for one log line: keys and counts, never values."""
        results = body.get("results")
        errors = body.get("errors")
        return {
            "keys": sorted(str(key) for key in body)[:20],
            "status": body.get("status") if isinstance(body.get("status"), str) else type(body.get("status")).__name__,
            "results": len(results) if isinstance(results, list) else None,
            "errors": len(errors) if isinstance(errors, list) else None,
            "numErrors": body.get("numErrors") if isinstance(body.get("numErrors"), int) else None,
            "unmatchedErrors": self.unmatched_errors,
            "proven": len(self.applied),
            "unproven": len(self.unproven),
        }


def _result_keys(result: Any) -> tuple[str | None, str | None]:
    """(id, trace id) of one result, read as the transport read it or decoded whole."""
    if isinstance(result, BatchResult):
        return result.id, result.trace_id
    if isinstance(result, dict):
        record_id, trace = result.get("id"), result.get("objectWriteTraceId")
        return (record_id if isinstance(record_id, str) else None, trace if isinstance(trace, str) else None)
    return None, None


def _result_property(result: Any, name: str) -> str | None:
    if isinstance(result, BatchResult):
        return result.property_value(name)
    properties = result.get("properties") if isinstance(result, dict) else None
    value = properties.get(name) if isinstance(properties, dict) else None
    return value if isinstance(value, str) else None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool)]
    return []


def _named(error: Any, traces: dict[str, BatchInput], by_id: dict[str, list[str]]) -> set[str]:
    if not isinstance(error, dict) or not isinstance(error.get("context"), dict):
        return set()
    context = error["context"]
    named = {trace for trace in _strings(context.get("objectWriteTraceId")) if trace in traces}
    for record_id in _strings(context.get("ids")):
        named.update(by_id.get(record_id, ()))
    return named


def settle(body: dict[str, Any], inputs: Sequence[BatchInput]) -> Settlement:
    """The verdict of a batch answer already known to be batch-shaped (``results`` a list)."""
    settlement = Settlement()
    traces = {item["objectWriteTraceId"]: item for item in inputs}
    applied = settlement.applied
    leftover_results: list[Any] = []
    by_plain_id: dict[str, str] | None = None  # built only when a result carries no trace id we sent
    for result in body["results"]:
        # Written for HubSpot's usual answer (a result per input, each echoing its trace id): one lookup each.
        trace = result.trace_id if type(result) is BatchResult else _result_keys(result)[1]
        if trace is not None and trace in traces:
            applied.add(trace)
            continue
        if by_plain_id is None:
            by_plain_id = {item["id"]: item["objectWriteTraceId"] for item in inputs if not item.get("idProperty")}
        record_id = _result_keys(result)[0]
        if record_id is not None and record_id in by_plain_id:
            applied.add(by_plain_id[record_id])
        else:
            leftover_results.append(result)

    errors = body.get("errors")
    errors = errors if isinstance(errors, list) else []
    if errors:
        by_id: dict[str, list[str]] = {}
        for item in inputs:
            by_id.setdefault(item["id"], []).append(item["objectWriteTraceId"])
        for error in errors:
            named = _named(error, traces, by_id)
            if not named:
                settlement.unmatched_errors += 1
                continue
            contradicted = named & settlement.applied  # a result says applied, an error says not: neither proves
            settlement.unproven |= contradicted
            settlement.applied -= contradicted
            if named - contradicted:
                settlement.errors.append((error, named - contradicted))
    num_errors = body.get("numErrors")
    if isinstance(num_errors, int) and not isinstance(num_errors, bool) and num_errors > len(errors):
        settlement.unmatched_errors += num_errors - len(errors)  # errors counted but not listed

    if not leftover_results and not errors and not settlement.unmatched_errors and len(applied) == len(traces):
        return settlement  # every input proven by its own result: the usual answer
    named_by_errors = {trace for _, named in settlement.errors for trace in named}
    left = [
        t for t in traces if t not in settlement.applied and t not in named_by_errors and t not in settlement.unproven
    ]
    if left and leftover_results:
        left = _match_by_id_property(left, traces, leftover_results, settlement)
    countable = [trace for trace in left if traces[trace].get("idProperty")]
    if (
        countable
        and len(countable) == len(left)
        and len(leftover_results) == len(countable)
        and not settlement.unmatched_errors
    ):
        settlement.applied.update(countable)
        left = []
    settlement.unproven.update(left)
    return settlement


def _match_by_id_property(
    left: list[str], traces: dict[str, BatchInput], leftover_results: list[Any], settlement: Settlement
) -> list[str]:
    """Matches ``idProperty`` inputs to results holding their value. Removes from ``leftover_results``
    every result that holds a value of that property: the matched ones, and those naming other records
    (which cannot be counted as any input's)."""
    names = {name for name in (traces[trace].get("idProperty") for trace in left) if name}
    holders: dict[tuple[str, str], list[int]] = {}  # (property, value) -> indexes of results holding it
    for name in names:
        for index, result in enumerate(leftover_results):
            value = _result_property(result, name)
            if value is not None:
                holders.setdefault((name, value), []).append(index)
    used: set[int] = set()
    still: list[str] = []
    for trace in left:
        item = traces[trace]
        candidates = [i for i in holders.get((item.get("idProperty") or "", item["id"]), []) if i not in used]
        if not candidates:
            still.append(trace)
            continue
        used.add(candidates[0])
        settlement.applied.add(trace)
    holding = {index for indexes in holders.values() for index in indexes}
    leftover_results[:] = [result for index, result in enumerate(leftover_results) if index not in holding]
    return still

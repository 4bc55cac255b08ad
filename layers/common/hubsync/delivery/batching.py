"""Merging events per record (last write wins, per property, by event time) and cutting requests.

HubSpot refuses a whole batch with duplicate ids, so each record appears once per request; and at
most 100 inputs go in one request. Records addressed through different ``idProperty`` values go in
different requests: HubSpot cannot tell us whether two of them are the same record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from hubsync.events import QueuedEvent
from hubsync.types import BatchInput

MAX_INPUTS_PER_REQUEST = 100

S = TypeVar("S")  # what each contribution carries back (the SQS message it came from)


class MergedInput(msgspec.Struct, Generic[S]):
    """One record's merged properties and the source of every event that contributed.

    A msgspec Struct: one is made per record of a batch, and its C constructor is the cheapest."""

    object_type: str
    id_property: str | None
    id: str
    properties: dict[str, str] = {}
    property_times: dict[str, int] = {}
    sources: list[S] = []
    oldest_received_at: int | None = None  # the earliest receipt among the sources (for the lag metric)
    latest_at: int = 0  # the latest event time merged in

    def as_input(self, trace_id: str, properties: dict[str, str] | None = None) -> BatchInput:
        """The input HubSpot is sent: with ``properties`` when given (those the record state kept), else all."""
        chosen = self.properties if properties is None else properties
        item: BatchInput = {"id": self.id, "properties": chosen, "objectWriteTraceId": trace_id}
        if self.id_property:
            item["idProperty"] = self.id_property
        return item


@dataclass
class BatchRequest(Generic[S]):
    """One ``batch/update`` call: its object type and its inputs keyed by trace id."""

    object_type: str
    inputs: dict[str, MergedInput[S]]

    @property
    def id_property(self) -> str | None:
        """The request's idProperty: requests are cut per (objectType, idProperty), so any input's."""
        for item in self.inputs.values():
            return item.id_property
        return None

    def payload(self) -> list[BatchInput]:
        return [merged.as_input(trace) for trace, merged in self.inputs.items()]


def merge(contributions: Iterable[tuple[QueuedEvent, S]]) -> list[MergedInput[S]]:
    """Merge events per record. Later ``occurred_at`` wins per property; at equal times the value seen
    first stays, as it does across batches (the record state drops a value no newer than the one applied).

    ``contributions`` (event, source) must be in arrival order. One pass, no sort: a value replaces the
    one held when its time is newer (so among equal times the first arrival stays). This loop runs
    once per event of every batch: it is written for speed (no attribute lookups it can avoid).
    """
    records: dict[tuple[str, str, str], MergedInput[S]] = {}
    for event, source in contributions:
        key = (event.object_type, event.id_property or "", event.id)  # event.record_key, inlined
        merged = records.get(key)
        at = event.occurred_at
        if merged is None:
            properties = event.properties
            records[key] = MergedInput(
                event.object_type,
                event.id_property,
                event.id,
                dict(properties),
                dict.fromkeys(properties, at),
                [source],
                event.received_at,
                at,
            )
            continue
        received = event.received_at
        if received is not None and (merged.oldest_received_at is None or received < merged.oldest_received_at):
            merged.oldest_received_at = received
        if at > merged.latest_at:
            # Newer than anything held (the usual case: events come in order): every value wins.
            merged.properties.update(event.properties)
            merged.property_times.update(dict.fromkeys(event.properties, at))
            merged.latest_at = at
        else:
            values, times = merged.properties, merged.property_times
            for name, value in event.properties.items():
                if name not in times or at > times[name]:
                    values[name] = value
                    times[name] = at
        merged.sources.append(source)
    return list(records.values())


def plan_requests(merged: Iterable[MergedInput[S]], max_inputs: int = MAX_INPUTS_PER_REQUEST) -> list[BatchRequest[S]]:
    """The fewest requests: one group per (objectType, idProperty), cut into chunks of ``max_inputs``."""
    groups: dict[tuple[str, str], list[MergedInput[S]]] = {}
    for item in merged:
        groups.setdefault((item.object_type, item.id_property or ""), []).append(item)
    requests: list[BatchRequest[S]] = []
    for (object_type, _), items in groups.items():
        for start in range(0, len(items), max_inputs):
            chunk = items[start : start + max_inputs]
            # Trace ids only need to be unique within one request; short ones keep the payload small.
            requests.append(BatchRequest(object_type, {f"t{i}": item for i, item in enumerate(chunk)}))
    return requests

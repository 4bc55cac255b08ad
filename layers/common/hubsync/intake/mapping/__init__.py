"""Per-source payload mapping: a sender's own webhook bodies become hubsync events, declaratively.

A source's ``transform`` (a JMESPath expression, with Powertools' and hubsync's functions) or ``preset``
(``hubspot-crm``) maps the parsed body to one event, an array of events (nulls skipped) or nothing; the
events then take the usual path (validation, the source's allow-lists, the DLQ for invalid ones). A body
the mapping cannot evaluate is kept whole in the DLQ as UNMAPPED and can be replayed once fixed.

``preview`` shows offline what a body becomes. jmespath is imported only when a transform is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubsync.intake.mapping.allowlist import AllowList
from hubsync.intake.mapping.exceptions import ExpressionError, MappingError
from hubsync.intake.mapping.intake import (
    Judged,
    Mapper,
    judge,
    mapper_for,
    mappers_for,
    queued_body,
    unmapped_rejection,
)
from hubsync.intake.sources import Source

__all__ = [
    "AllowList",
    "ExpressionError",
    "Judged",
    "Mapper",
    "MappingError",
    "Preview",
    "judge",
    "mapper_for",
    "mappers_for",
    "preview",
    "queued_body",
    "unmapped_rejection",
]


@dataclass
class Preview:
    """What a body becomes: ``events`` as they would be queued, ``rejected`` as the receiver's 202 lists them
    (``{"index", "error"}``), and ``unmapped``: the reason, when the whole body could not be mapped."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unmapped: str | None = None


def preview(source: Source, body: bytes, *, default_object_type: str, now_ms: int) -> Preview:
    """The receiver's path for a verified ``body`` of ``source``, offline (no AWS, no signature check).

    Raises ExpressionError when the source's transform is not valid, and BadRequestError when the receiver
    would refuse the body itself (4xx: not UTF-8, not JSON; for hubsync's own shape also an empty one)."""
    mapper = mapper_for(source)
    try:
        raw_events = mapper.read(body)
    except MappingError as exc:
        return Preview(rejected=[unmapped_rejection(exc.message)], unmapped=exc.message)
    judged = judge(
        source,
        raw_events,
        default_object_type=default_object_type,
        now_ms=now_ms,
        max_future_ms=source.tolerance_seconds * 1000,
    )
    return Preview(
        events=[queued_body(event, source.name, None) for _, event in judged.valid],
        rejected=[{"index": index, "error": reason} for index, _, reason in judged.invalid],
    )

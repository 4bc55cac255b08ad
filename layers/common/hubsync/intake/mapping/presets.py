"""Presets: built-in mappings for senders whose bodies hubsync knows (plain Python: no jmespath needed).

``hubspot-crm``: HubSpot's own CRM webhook deliveries, a JSON array of
``{objectId, propertyName, propertyValue, occurredAt, subscriptionType, eventId, attemptNumber, ...}``.
Each ``*.propertyChange`` event becomes an update of that record in the source's object type (identified by
the preset's ``idProperty`` of the target, by default the record id itself); every other subscription type
(creation, deletion, merge, association changes, ...) is ignored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from hubsync.intake.mapping.exceptions import MappingError

HUBSPOT_CRM = "hubspot-crm"
_CHANGE = ".propertyChange"
# Fields HubSpot changes between the attempts of one delivery: left out of the delivery's fingerprint.
_PER_ATTEMPT = ("attemptNumber",)


def hubspot_crm(document: Any, options: Mapping[str, Any]) -> list[Any]:
    """One raw event (or None, for an ignored subscription type) per item of the delivery, in its order."""
    if not isinstance(document, list):
        raise MappingError("a HubSpot CRM delivery is a JSON array of events")
    id_property = options.get("idProperty")
    events: list[Any] = []
    for item in document:
        if not isinstance(item, dict):
            raise MappingError("a HubSpot CRM delivery holds event objects only")
        kind = item.get("subscriptionType")
        if not (isinstance(kind, str) and kind.endswith(_CHANGE)):
            events.append(None)
            continue
        name = item.get("propertyName")
        event: dict[str, Any] = {
            "id": item.get("objectId"),
            # A missing or non-string name makes no properties: the event is then rejected with that reason.
            "properties": {name: item.get("propertyValue")} if isinstance(name, str) else None,
            "occurredAt": item.get("occurredAt"),
        }
        if item.get("eventId") is not None:
            event["eventId"] = item["eventId"]  # informational (not unique, per HubSpot's documentation)
        if id_property:
            event["idProperty"] = id_property
        events.append(event)
    return events


def hubspot_crm_fingerprint(body: bytes) -> bytes:
    """What identifies a HubSpot delivery across its retries: the body without the per-attempt fields.

    HubSpot sends no delivery id, its ``eventId`` is not unique, and every retry counts up ``attemptNumber``
    inside the body, so a hash of the raw body would never match a retry. A body that is not a JSON array
    of objects is identified by its bytes."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        return body
    kept = [{key: value for key, value in item.items() if key not in _PER_ATTEMPT} for item in document]
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

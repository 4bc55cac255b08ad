"""Receiver CPU per event with a mapping against without, side by side in one run (target <= 1.5 x).

The same events reach the receiver three ways, each a signed request of ``EVENTS_PER_REQUEST`` events:

- own shape (the baseline): the default source, Standard Webhooks, ``{"events": [...]}`` in hubsync's shape;
- transform: the ``erp`` source of events/webhook-sources.json, Standard Webhooks, the ERP's nested change set
  mapped by its JMESPath transform (docs/mappings.md);
- preset: the ``hubspot`` source, HubSpot v3 signatures, HubSpot CRM property-change deliveries mapped by the
  ``hubspot-crm`` preset (its body hash included; one property per event, so twice as many events per
  record as the other two).

The receiver is hubsync's ``Receiver`` as ``build_receiver`` makes it (the sources parsed, their mappers
compiled, the verifiers), with in-memory queues in place of SQS (``RecordingSqs``) and no idempotency table:
the figure is the receiver's own work (verify, parse, map, validate, normalise, encode the messages), not
boto3's or the emulator's. CPU is ``time.process_time()``. Each case runs once to warm up, then REPS times
interleaved; the median counts. Every run is checked: all events accepted, none rejected, and the
transform's queued events equal the baseline's (the same work downstream).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench._support import Headline, RecordingSqs, table
from hubsync_local import examples

EVENTS_PER_REQUEST = 100
REQUESTS = 20
REPS = 7
RECORDS = [str(1001 + n) for n in range(20)]
SECRETS = {
    "default": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "erp": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "hubspot": "bench-client-secret",
}


def _receiver() -> tuple[Any, RecordingSqs]:
    from hubsync.config import Settings
    from hubsync.factory import SourceVerifiers
    from hubsync.intake.receipts import NoLedger
    from hubsync.intake.receiver import Receiver
    from hubsync.intake.sources import parse_sources
    from hubsync.secrets import SecretCache
    from hubsync.sqs import QueueSender

    sources_text = examples.sources_text()
    settings = Settings(webhook_secrets=json.dumps({k: [v] for k, v in SECRETS.items()}), webhook_sources=sources_text)
    queue, dlq = RecordingSqs(), RecordingSqs()
    receiver = Receiver(
        parse_sources(sources_text),
        SourceVerifiers(settings, SecretCache()),
        QueueSender(queue, "queue"),  # type: ignore[arg-type]  # send_message_batch is all it calls
        QueueSender(dlq, "dlq"),  # type: ignore[arg-type]
        default_object_type="partner_services",
        ledger=NoLedger(),
    )
    return receiver, queue


def _values(n: int) -> dict[str, Any]:
    return {"status": f"status {n}", "hoursBooked": n % 40 + 0.5, "billable": n % 2 == 0, "tier": "option_b"}


def own_body(first: int, at: int) -> bytes:
    events = []
    for n in range(first, first + EVENTS_PER_REQUEST):
        v = _values(n)
        events.append(
            {
                "id": RECORDS[n % len(RECORDS)],
                "occurredAt": at + n,
                "properties": {
                    "property_string": v["status"],
                    "property_number": v["hoursBooked"],
                    "property_checkbox": v["billable"],
                    "property_dropdown": v["tier"],
                },
            }
        )
    return json.dumps({"events": events}).encode()


def erp_body(first: int, at: int) -> bytes:
    items = [
        {
            "entity": "ServiceOrder",
            "key": {"orderNo": f"SO-{n}", "crmRef": RECORDS[n % len(RECORDS)]},
            "changedAt": at + n,
            "changedBy": "BENCH",
            "values": _values(n),
        }
        for n in range(first, first + EVENTS_PER_REQUEST)
    ]
    document = {"type": "service_orders.changed", "timestamp": "2025-11-28T09:20:00Z"}
    document["data"] = {"tenant": "bench", "changeSet": {"id": f"cs-{first}", "items": items}}  # type: ignore[assignment]
    return json.dumps(document).encode()


def hubspot_body(first: int, at: int) -> bytes:
    items = [
        {
            "eventId": 1_000_000 + n,
            "subscriptionId": 25,
            "portalId": 33,
            "appId": 1160452,
            "occurredAt": at + n,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 501 + n % 3,
            "propertyName": "phone" if n % 2 else "lifecyclestage",
            "propertyValue": f"+44 20 7946 {n % 10_000:04d}" if n % 2 else "opportunity",
            "changeSource": "CRM_UI",
            "sourceId": "userId:5150123",
        }
        for n in range(first, first + EVENTS_PER_REQUEST)
    ]
    return json.dumps(items).encode()


def _request(source: str, body: bytes) -> Any:
    from hubsync.intake.receiver import HttpRequest
    from hubsync.intake.signing.hubspot import sign_v3
    from hubsync.intake.signing.standard_webhooks import sign

    url = f"https://hooks.example.com/webhooks/{source}"
    headers = {"content-type": "application/json"}
    if source == "hubspot":
        now_ms = int(time.time() * 1000)
        headers["x-hubspot-signature-v3"] = sign_v3(SECRETS[source], "POST", url, body, now_ms)
        headers["x-hubspot-request-timestamp"] = str(now_ms)
    else:
        msg_id, now = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(now)})
        headers["webhook-signature"] = sign(SECRETS[source], msg_id, now, body)
    return HttpRequest("POST", f"/webhooks/{source}", headers, body, url, "" if source == "default" else source)


CASES: dict[str, tuple[str, Callable[[int, int], bytes]]] = {
    "own shape": ("default", own_body),
    "transform (erp)": ("erp", erp_body),
    "preset (hubspot-crm)": ("hubspot", hubspot_body),
}


def _run(receiver: Any, queue: RecordingSqs, case: str, at: int) -> tuple[float, list[dict[str, Any]]]:
    """CPU seconds for REQUESTS requests of the case (signed beforehand, not counted), and what was queued."""
    source, make = CASES[case]
    requests = [_request(source, make(i * EVENTS_PER_REQUEST, at)) for i in range(REQUESTS)]
    queue.bodies.clear()
    began = time.process_time()
    for request in requests:
        response = receiver.handle(request)
        if response.status != 202 or response.body["rejected"] or response.body["accepted"] != EVENTS_PER_REQUEST:
            raise AssertionError(f"{case}: {response.status} {response.body}")
    cpu = time.process_time() - began
    return cpu, queue.documents()


def _comparable(documents: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(d["id"], d["occurredAt"], json.dumps(d["properties"], sort_keys=True)) for d in documents]


def run() -> dict[str, Any]:
    import logging

    logging.getLogger("hubsync").setLevel(logging.WARNING)  # as the deployed receiver's INFO goes nowhere here
    receiver, queue = _receiver()
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    at = int(time.time() * 1000) - 60_000  # the events' times: one for every case, so their events compare
    for rep in range(REPS + 1):
        queued = {}
        for case in CASES:
            cpu, queued[case] = _run(receiver, queue, case, at)
            if rep:  # the first round warms up (verifiers, compiled expressions, caches)
                samples[case].append(cpu)
        if _comparable(queued["own shape"]) != _comparable(queued["transform (erp)"]):
            raise AssertionError("the transform queued other events than the baseline")
    events = EVENTS_PER_REQUEST * REQUESTS
    return {case: statistics.median(values) / events * 1e6 for case, values in samples.items()}


def report(result: dict[str, float]) -> list[Headline]:
    base = result["own shape"]
    print(f"receiver CPU per event, {REQUESTS} requests of {EVENTS_PER_REQUEST} events, median of {REPS}")
    table(("case", "µs/event", "÷ own shape"), [(case, value, value / base) for case, value in result.items()])
    transform, preset = result["transform (erp)"] / base, result["preset (hubspot-crm)"] / base
    return [
        Headline("mapping", "receiver CPU/event, transform (erp) / own shape", transform, "<= 1.5", transform <= 1.5),
        Headline("mapping", "receiver CPU/event, preset hubspot-crm / own shape", preset, "<= 1.5", preset <= 1.5),
    ]


def main() -> list[Headline]:
    return report(run())


if __name__ == "__main__":
    main()

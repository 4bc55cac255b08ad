"""Mapped sources end to end through moto's SQS and DynamoDB (and the simulator for the updater): HubSpot's own
deliveries (v3-signed, idempotent across retries), a bad expression at start, replays of what a mapping
rejected, and an UNMAPPED body that SQS's redrive moved back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hubsync.config import Settings
from hubsync.deadletters import dlq
from hubsync.deadletters.replay import Replayer
from hubsync.factory import SourceVerifiers
from hubsync.intake.receipts import DeliveryLedger
from hubsync.intake.receiver import HttpRequest, Receiver
from hubsync.intake.signing.hubspot import sign_v3
from hubsync.intake.sources import parse_sources
from hubsync.secrets import SecretCache
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import LambdaContext, sqs_record
from hubsync_local.simulator import HubSpotSimulator
from support.aws import Queues, create_table, receive_all
from support.updater import make_updater, plenty_of_time

ROOT = Path(__file__).resolve().parents[2]
HUBSPOT_SECRET = "hubspot-app-client-secret"
URL = "https://hooks.example.com/webhooks/crm"
SOURCES = {
    "crm": {"scheme": "hubspot", "preset": {"name": "hubspot-crm", "idProperty": "source_contact_id"}},
    "erp": {
        "scheme": "none",
        "transform": "changes[].{id: sku, properties: {erp_stock: qty}}",
        "properties": ["erp_*"],
    },
}


def receiver(sqs: Any, queues: Queues, sources: dict[str, Any], ledger: Any = None) -> Receiver:
    settings = Settings(webhook_secrets=json.dumps({"crm": [HUBSPOT_SECRET]}))
    return Receiver(
        parse_sources(json.dumps(sources)),
        SourceVerifiers(settings, SecretCache()),
        QueueSender(sqs, queues.queue_url),
        QueueSender(sqs, queues.dlq_url),
        default_object_type="contacts",
        ledger=ledger,
    )


def hubspot_delivery(attempt: int) -> bytes:
    """What HubSpot posts: the same events on every attempt, attemptNumber counting up."""
    base = {"portalId": 62515, "appId": 1160452, "subscriptionId": 2881778, "attemptNumber": attempt}
    events = [
        {**base, "eventId": 100, "subscriptionType": "contact.propertyChange", "objectId": 123,
         "propertyName": "firstname", "propertyValue": "Ada", "occurredAt": 1_700_000_000_000, "changeSource": "CRM"},
        {**base, "eventId": 100, "subscriptionType": "contact.creation", "objectId": 124,
         "occurredAt": 1_700_000_000_001, "changeSource": "CRM"},
        {**base, "eventId": 101, "subscriptionType": "contact.propertyChange", "objectId": 125,
         "propertyName": "email", "propertyValue": "g@h.example", "occurredAt": 1_700_000_000_002},
    ]  # fmt: skip
    return json.dumps(events).encode()


def hubspot_request(body: bytes) -> HttpRequest:
    timestamp = int(time.time() * 1000)
    headers = {
        "content-type": "application/json",
        "x-hubspot-signature-v3": sign_v3(HUBSPOT_SECRET, "POST", URL, body, timestamp),
        "x-hubspot-request-timestamp": str(timestamp),
    }
    return HttpRequest("POST", "/webhooks/crm", headers, body, url=URL, routed_source="crm")


def test_hubspot_crm_deliveries_become_updates_once_across_hubspots_retries(
    sqs_client: Any, queues: Queues, aws_env: str
) -> None:
    service = receiver(sqs_client, queues, SOURCES, DeliveryLedger(create_table(aws_env, "mapped", "id")))
    first = service.handle(hubspot_request(hubspot_delivery(0)), LambdaContext("receiver", 10))
    assert first.status == 202 and first.body == {"accepted": 2, "rejected": []}
    queued = sorted((json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)), key=lambda e: e["id"])
    assert [(e["id"], e["idProperty"], e["objectType"], e["properties"]) for e in queued] == [
        ("123", "source_contact_id", "contacts", {"firstname": "Ada"}),
        ("125", "source_contact_id", "contacts", {"email": "g@h.example"}),
    ]
    assert all(e["source"] == "crm" and len(e["webhookId"]) == 64 for e in queued)  # the delivery's sha256
    # HubSpot's retry (attemptNumber 1, signed anew): the same delivery, answered as before, queued once.
    retry = service.handle(hubspot_request(hubspot_delivery(1)), LambdaContext("receiver", 10))
    assert (retry.status, retry.body) == (202, first.body)
    assert receive_all(sqs_client, queues.queue_url) == []


HANDLER_RUN = """
import json, sys
from hubsync_local.lambda_runtime import LambdaContext, load_module
app = load_module("receiver")
event = {"routeKey": "POST /webhooks/{source}", "pathParameters": {"source": "erp"}, "rawPath": "/webhooks/erp",
         "headers": {"content-type": "application/json"}, "body": '{"changes": []}',
         "requestContext": {"http": {"method": "POST", "path": "/webhooks/erp"}}}
for _ in range(2):  # every request until it is fixed, never a crash
    answer = app.handler(event, LambdaContext("receiver", 10))
    print(json.dumps({"answer": answer}))
"""


def test_a_bad_expression_is_one_log_line_naming_the_source_and_a_503(queues: Queues) -> None:
    # In its own interpreter: the handler's Powertools logger would otherwise keep this test's captured stdout.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("layers/common", "local", "tests")),
        "QUEUE_URL": queues.queue_url,
        "DLQ_URL": queues.dlq_url,
        "WEBHOOK_SECRETS": "[]",
        "WEBHOOK_SOURCES": json.dumps({"erp": {"scheme": "none", "transform": "changes[?"}}),
    }
    done = subprocess.run(
        [sys.executable, "-c", HANDLER_RUN], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    answers = [line["answer"] for line in lines if "answer" in line]
    assert [(a["statusCode"], json.loads(a["body"])["error"]) for a in answers] == [(503, "not_ready")] * 2
    errors = [line["message"] for line in lines if line.get("level") == "ERROR"]
    assert len(errors) == 2 and errors[0] == errors[1]  # one line a request
    assert errors[0].startswith("configuration error: WEBHOOK_SOURCES: source 'erp' transform is not valid JMESPath")
    assert "\n" not in errors[0] and "Traceback" not in done.stderr


def test_a_mapped_event_the_source_may_not_write_is_not_let_through_by_a_replay(
    sqs_client: Any, queues: Queues
) -> None:
    service = receiver(sqs_client, queues, SOURCES)
    body = json.dumps({"changes": [{"sku": "A-1", "qty": 3}, {"sku": "B-2", "qty": {"nested": 1}}]}).encode()
    answer = service.handle(HttpRequest("POST", "/webhooks/erp", {"content-type": "application/json"}, body))
    assert answer.body["accepted"] == 1 and [r["index"] for r in answer.body["rejected"]] == [1]
    receive_all(sqs_client, queues.queue_url)
    # A rejected event edited by hand into one the source may not write (another property) and put back in the DLQ.
    document = dlq.envelope(
        {"id": "B-2", "properties": {"lifecyclestage": "customer"}, "source": "erp"},
        dlq.Failure(dlq.INVALID_EVENT, "property 'lifecyclestage' is not one this source may write"),
        now_ms=int(time.time() * 1000),
        stage="receiver",
    )
    QueueSender(sqs_client, queues.dlq_url).send([dlq.dlq_message("x", document)])
    sources = parse_sources(json.dumps(SOURCES))
    report = Replayer(sqs_client, queues.dlq_url, queues.queue_url, sources=sources, wait_seconds=0).run(
        categories=[dlq.INVALID_EVENT]
    )
    # The nested value goes back to the queue (the updater judges it again); the disallowed one stays.
    assert (report.matched, report.moved, report.refused) == (2, 1, 1)
    (left,) = [dlq.unwrap(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert left.event["properties"] == {"lifecyclestage": "customer"}


def test_an_unmapped_body_mapped_again_sends_its_invalid_events_to_the_dlq(sqs_client: Any, queues: Queues) -> None:
    def with_transform(transform: str) -> Receiver:
        return receiver(sqs_client, queues, {**SOURCES, "erp": {**SOURCES["erp"], "transform": transform}})

    body = json.dumps({"changes": [{"sku": "A-1", "qty": 3}, {"qty": 4}, {"sku": "C-3", "qty": 5}]}).encode()
    request = HttpRequest("POST", "/webhooks/erp", {"content-type": "application/json"}, body)
    unmapped = with_transform("`7`").handle(request)  # a mistake: a number is no event
    assert unmapped.body["accepted"] == 0
    assert unmapped.body["rejected"][0]["error"].startswith("the body could not be mapped")
    # Fixed (SOURCES' own transform): the body's rows become events, the one without a sku is invalid.
    report = Replayer(
        sqs_client, queues.dlq_url, queues.queue_url, sources=parse_sources(json.dumps(SOURCES)), wait_seconds=0
    ).run(categories=[dlq.UNMAPPED])
    assert (report.moved, report.refused, report.failed) == (1, 0, 0)
    queued = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert sorted(e["id"] for e in queued) == ["A-1", "C-3"]
    (invalid,) = [dlq.unwrap(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert invalid.category == dlq.INVALID_EVENT and invalid.document is not None
    assert invalid.document["stage"] == "replayer" and invalid.document["source"] == "erp"
    assert "id must be" in invalid.error["message"]


def test_an_unmapped_body_moved_back_by_sqs_redrive_returns_to_the_dlq_as_it_was(
    hubspot_simulator: HubSpotSimulator, sqs_client: Any, queues: Queues
) -> None:
    body = '{"changes": 7}'
    document = dlq.envelope(body, dlq.Failure(dlq.UNMAPPED, "the transform gave a number"), now_ms=0, stage="receiver")
    document.update(source="erp", webhookId="d-1")
    # As StartMessageMoveTask puts it on the main queue: the envelope itself, no receiver mark.
    record = sqs_record("m1", dlq.dlq_message("m1", document).body, 1, 0)
    result = make_updater(hubspot_simulator, sqs_client, queues.dlq_url).process([record], plenty_of_time)
    assert result.calls == 0
    (back,) = [dlq.unwrap(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert back.category == dlq.UNMAPPED and back.event == body
    assert back.document is not None and back.document["source"] == "erp"


def test_hubsync_replay_reads_the_sources_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubsync_cli.replay import load_sources

    monkeypatch.delenv("WEBHOOK_SOURCES", raising=False)
    assert load_sources(None) is None
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(SOURCES))
    loaded = load_sources(str(path))
    assert loaded is not None and loaded["erp"].transform == SOURCES["erp"]["transform"]
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps({"other": {"transform": "@"}}))
    assert list(load_sources(None) or {}) == ["other"]

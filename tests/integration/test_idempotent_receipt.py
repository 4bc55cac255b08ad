"""Idempotent receipt through a real DynamoDB endpoint (moto's server) and real queues."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from hubsync.config import Settings
from hubsync.factory import SourceVerifiers
from hubsync.intake.receipts import DeliveryLedger
from hubsync.intake.receiver import HttpRequest, Receiver
from hubsync.intake.sources import parse_sources
from hubsync.secrets import SecretCache
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import LambdaContext
from support.aws import Queues, create_table, receive_all

SECRET = "whsec_" + base64.b64encode(b"idempotency-secret-00000").decode()
BODY = (
    b'[{"id": "1001", "properties": {"property_string": "a"}}, {"id": "1002", "properties": {"property_string": "b"}}]'
)


@pytest.fixture
def table(aws_env: str) -> str:
    return create_table(aws_env, "idem", "id")


def request(body: bytes = BODY, msg_id: str = "msg_1", extra: dict[str, str] | None = None) -> HttpRequest:
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
        **(extra or {}),
    }
    return HttpRequest("POST", "/webhooks", headers, body, "https://example.test/webhooks")


def receiver(sqs: Any, queues: Queues, table: str, sources: str | None = None, queue: Any = None) -> Receiver:
    return Receiver(
        parse_sources(sources),
        SourceVerifiers(Settings(webhook_secrets=SECRET), SecretCache()),
        queue or QueueSender(sqs, queues.queue_url),
        QueueSender(sqs, queues.dlq_url),
        default_object_type="partner_services",
        ledger=DeliveryLedger(table, window_seconds=3600),
    )


def queued_ids(sqs: Any, queues: Queues) -> list[str]:
    return sorted(json.loads(m["Body"])["id"] for m in receive_all(sqs, queues.queue_url))


def test_a_repeated_delivery_is_acknowledged_again_and_queued_once(sqs_client: Any, queues: Queues, table: str) -> None:
    service = receiver(sqs_client, queues, table)
    first = service.handle(request(), LambdaContext("receiver", 10))
    again = service.handle(request(), LambdaContext("receiver", 10))
    assert (first.status, again.status) == (202, 202)
    assert first.body == again.body == {"accepted": 2, "rejected": []}
    assert queued_ids(sqs_client, queues) == ["1001", "1002"]
    other = service.handle(request(msg_id="msg_2"))
    assert other.status == 202 and queued_ids(sqs_client, queues) == ["1001", "1002"]


def test_a_delivery_id_reused_with_another_body_is_refused(sqs_client: Any, queues: Queues, table: str) -> None:
    service = receiver(sqs_client, queues, table)
    assert service.handle(request()).status == 202
    changed = service.handle(request(body=b'{"id": "1003", "properties": {"property_string": "c"}}'))
    assert (changed.status, changed.body["error"]) == (422, "delivery_id_reused")
    assert queued_ids(sqs_client, queues) == ["1001", "1002"]


def test_concurrent_duplicates_do_not_both_enqueue(sqs_client: Any, queues: Queues, table: str) -> None:
    inside, release = threading.Event(), threading.Event()
    real = QueueSender(sqs_client, queues.queue_url)

    class HeldQueue:
        def send(self, messages: Any) -> Any:
            inside.set()
            release.wait(10)
            return real.send(messages)

    service = receiver(sqs_client, queues, table, queue=HeldQueue())
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(service.handle(request(), LambdaContext("r", 10))))
    first.start()
    assert inside.wait(10)
    second = service.handle(request(), LambdaContext("r", 10))  # arrives while the first is in progress
    release.set()
    first.join(10)
    assert (second.status, second.body["error"]) == (409, "delivery_in_progress")
    assert second.headers.get("retry-after") == "1"
    assert answers[0].status == 202
    assert queued_ids(sqs_client, queues) == ["1001", "1002"]
    assert service.handle(request()).status == 202  # the sender's retry gets the first answer
    assert queued_ids(sqs_client, queues) == []


def test_a_failed_delivery_leaves_no_record_so_its_retry_is_processed(
    sqs_client: Any, queues: Queues, table: str
) -> None:
    broken = receiver(sqs_client, Queues(queues.queue_url + "-gone", queues.dlq_url, "", ""), table)
    assert broken.handle(request()).status == 503
    assert receiver(sqs_client, queues, table).handle(request()).status == 202
    assert queued_ids(sqs_client, queues) == ["1001", "1002"]


def test_an_unreachable_table_fails_closed(sqs_client: Any, queues: Queues) -> None:
    response = receiver(sqs_client, queues, "no-such-table").handle(request())
    assert (response.status, response.body["error"]) == (503, "not_ready")
    assert receive_all(sqs_client, queues.queue_url) == [] and receive_all(sqs_client, queues.dlq_url) == []


def test_a_header_can_be_the_delivery_key(sqs_client: Any, queues: Queues, table: str) -> None:
    sources = json.dumps({"default": {"idempotencyKey": "header:X-Request-Id"}})
    service = receiver(sqs_client, queues, table, sources)
    assert service.handle(request(msg_id="a", extra={"x-request-id": "r1"})).status == 202
    assert service.handle(request(msg_id="b", extra={"x-request-id": "r1"})).status == 202  # same key
    assert service.handle(request(msg_id="c", extra={"x-request-id": "r2"})).status == 202
    assert len(queued_ids(sqs_client, queues)) == 4

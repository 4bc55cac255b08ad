"""The local stack's AWS side: template.yaml's names and settings, and a poller that acts like Lambda's."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hubsync_local.aws import client, create_stack_resources
from hubsync_local.poller import SqsPoller
from hubsync_local.template import Template
from support.aws import Queues, receive_all


def test_queues_secrets_and_tables_follow_the_template(
    sqs_client: Any, secretsmanager_client: Any, aws_env: str
) -> None:
    name = f"tpl-{uuid.uuid4().hex[:8]}"
    template = Template.load(stack_name=name)
    dynamodb = client("dynamodb", aws_env)
    resources = create_stack_resources(
        template, sqs_client, secretsmanager_client, dynamodb, hubspot_token="tok", webhook_secret='["whsec_x"]'
    )
    assert (resources.idempotency_table, resources.record_state_table) == (
        f"{name}-idempotency",
        f"{name}-record-state",
    )
    ttl = dynamodb.describe_time_to_live(TableName=f"{name}-record-state")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"
    assert resources.queue_url.endswith(f"/{name}-events") and resources.dlq_url.endswith(f"/{name}-dlq")
    queue = sqs_client.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs_client.get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["All"])["Attributes"]
    timeout = template.function_timeout("UpdaterFunction")
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": resources.dlq_arn, "maxReceiveCount": 5}
    assert dlq["MessageRetentionPeriod"] == "1209600"
    secret = secretsmanager_client.get_secret_value(SecretId=resources.webhook_secret_arn)["SecretString"]
    assert json.loads(secret) == ["whsec_x"]
    env = template.function_environment("UpdaterFunction")
    assert env["DLQ_URL"] == resources.dlq_url and env["HUBSPOT_TOKEN_SECRET_ARN"] == resources.hubspot_token_secret_arn
    assert env["MAX_RECEIVE_COUNT"] == "5" and env["OBJECT_TYPE"] == "partner_services"
    assert template.sqs_event("UpdaterFunction")["BatchSize"] == "1000"


def make_poller(sqs: Any, queues: Queues, handler: Any, batch_size: int = 100) -> SqsPoller:
    return SqsPoller(
        sqs,
        queues.queue_url,
        queues.queue_arn,
        handler,
        function_name="updater",
        timeout_seconds=120,
        batch_size=batch_size,
        window_seconds=0,
    )


def send(sqs: Any, queues: Queues, count: int) -> None:
    for i in range(count):
        sqs.send_message(QueueUrl=queues.queue_url, MessageBody=json.dumps({"n": i}))


def test_partial_batch_response_deletes_all_but_the_failures(sqs_client: Any, queues: Queues) -> None:
    send(sqs_client, queues, 5)
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] < 2]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    flush = make_poller(sqs_client, queues, handler).poll_once()
    assert flush is not None and (flush.messages, flush.failures, flush.whole_batch_failed) == (5, 2, False)
    record = seen[0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queues.queue_arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    depth = sqs_client.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["All"])["Attributes"]
    # The two failures were not deleted: in flight until their visibility timeout, then delivered again.
    assert (depth["ApproximateNumberOfMessages"], depth["ApproximateNumberOfMessagesNotVisible"]) == ("0", "2")


def test_an_unknown_identifier_or_an_exception_fails_the_whole_batch(sqs_client: Any, queues: Queues) -> None:
    sqs_client.set_queue_attributes(QueueUrl=queues.queue_url, Attributes={"VisibilityTimeout": "0"})
    send(sqs_client, queues, 3)
    flush = make_poller(
        sqs_client, queues, lambda event, context: {"batchItemFailures": [{"itemIdentifier": "nope"}]}
    ).poll_once()
    assert flush is not None and flush.whole_batch_failed and flush.failures == 3

    def raising(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("crash")

    flush = make_poller(sqs_client, queues, raising).poll_once()
    assert flush is not None and flush.whole_batch_failed and flush.messages == 3


def test_redrive_moves_a_message_to_the_dlq_after_max_receives(sqs_client: Any, queues: Queues) -> None:
    sqs_client.set_queue_attributes(QueueUrl=queues.queue_url, Attributes={"VisibilityTimeout": "0"})
    send(sqs_client, queues, 1)
    poller = make_poller(sqs_client, queues, lambda event, context: {"batchItemFailures": []}, batch_size=1)
    poller.handler = lambda event, context: {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
    }
    for _ in range(5):
        assert poller.poll_once() is not None
    assert poller.poll_once() is None  # the sixth receive finds it moved (maxReceiveCount 5)
    [moved] = receive_all(sqs_client, queues.dlq_url)
    assert json.loads(moved["Body"]) == {"n": 0}

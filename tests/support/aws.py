"""AWS through a real HTTP endpoint: one moto server per test session, fresh queues per test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hubsync_local.aws import REGION, MotoServer, aws_environment, client, free_port

__all__ = [
    "Queues",
    "aws_env",
    "create_table",
    "moto_server",
    "queues",
    "receive_all",
    "secretsmanager_client",
    "sqs_client",
]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 anywhere in the test reaches moto (AWS_ENDPOINT_URL), never a real account."""
    for name, value in aws_environment(moto_server.url).items():
        monkeypatch.setenv(name, value)
    return moto_server.url


@pytest.fixture
def sqs_client(aws_env: str) -> Any:
    return client("sqs", aws_env)


@pytest.fixture
def secretsmanager_client(aws_env: str) -> Any:
    return client("secretsmanager", aws_env)


@dataclass
class Queues:
    queue_url: str
    dlq_url: str
    queue_arn: str
    dlq_arn: str


@pytest.fixture
def queues(sqs_client: Any) -> Iterator[Queues]:
    """A main queue with a redrive policy to its own DLQ; unique names keep each test's queues shallow."""
    suffix = uuid.uuid4().hex[:10]
    dlq_url = sqs_client.create_queue(QueueName=f"t-{suffix}-dlq")["QueueUrl"]
    dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    queue_url = sqs_client.create_queue(
        QueueName=f"t-{suffix}-events", Attributes={"VisibilityTimeout": "30", "RedrivePolicy": redrive}
    )["QueueUrl"]
    queue_arn = sqs_client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    yield Queues(queue_url, dlq_url, queue_arn, dlq_arn)
    for url in (queue_url, dlq_url):
        sqs_client.delete_queue(QueueUrl=url)


def receive_all(sqs: Any, queue_url: str, delete: bool = True) -> list[dict[str, Any]]:
    """Every message now in the queue. Deletes them, or (delete=False) makes them visible again after."""
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        if delete:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    if not delete:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return messages


def create_table(endpoint_url: str, prefix: str, key: str) -> str:
    """A fresh on-demand DynamoDB table with a string partition key ``key``; returns its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client("dynamodb", endpoint_url).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def unreachable_dynamodb(**config: Any) -> Any:
    """A botocore DynamoDB client for a port nobody listens on (``config``: botocore Config arguments)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=1, **config),
    )

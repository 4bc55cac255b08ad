"""Emulated AWS over real HTTP: moto's server in a child process, and the stack's queues and secrets.

The queues, secrets, tables and the archive bucket are created with the names and settings of template.yaml.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubsync_local.processes import stop_process
from hubsync_local.template import Template

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
# moto accepts any credentials; these only keep boto3 from looking for real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's server mode in a child process (its own interpreter: no GIL shared with the functions),
    with its DynamoDB requests made atomic (see hubsync_local.moto_main)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hubsync_local.moto_main", self.host, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **FAKE_CREDENTIALS},
        )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._process.returncode} (port {self.port} in use?)")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.url} within {timeout_seconds}s")

    def reset(self) -> None:
        """Drops every resource (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)
        self._process = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What boto3 needs to reach the emulator: its own AWS_ENDPOINT_URL variable, a region, fake keys."""
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **FAKE_CREDENTIALS}


def client(service: str, endpoint_url: str) -> Any:
    import boto3

    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@dataclass(frozen=True)
class StackResources:
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    hubspot_token_secret_arn: str
    webhook_secret_arn: str
    idempotency_table: str | None = None
    record_state_table: str | None = None
    archive_bucket: str | None = None


def _queue_attributes(template: Template, logical_id: str, overrides: dict[str, str]) -> dict[str, str]:
    properties = template.resolve(template.properties(logical_id))
    attributes: dict[str, str] = {}
    names = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds")
    for name in (*names, "ReceiveMessageWaitTimeSeconds"):
        if name in properties:
            attributes[name] = str(properties[name])
    if "RedrivePolicy" in properties:
        policy = properties["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}
        )
    attributes.update(overrides)
    return attributes


def create_stack_resources(
    template: Template,
    sqs: SQSClient,
    secretsmanager: SecretsManagerClient,
    dynamodb: DynamoDBClient | None = None,
    *,
    hubspot_token: str,
    webhook_secret: str,
    queue_overrides: dict[str, str] | None = None,
    s3: Any = None,
) -> StackResources:
    """The queues and secrets of template.yaml, in moto (and its tables and archive bucket when given the
    clients). Also fills ``template.refs``/``attributes``."""
    urls: dict[str, str] = {}
    for logical_id in ("DeadLetterQueue", "EventQueue"):  # the DLQ first: the queue's redrive names it
        name = template.resolve(template.properties(logical_id)["QueueName"])
        overrides = queue_overrides if logical_id == "EventQueue" else {}
        url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes(template, logical_id, overrides or {}))[  # type: ignore[arg-type]
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[logical_id] = url
        template.refs[logical_id] = url
        template.attributes[f"{logical_id}.Arn"] = arn
        template.attributes[f"{logical_id}.QueueName"] = name
        template.attributes[f"{logical_id}.QueueUrl"] = url
    values = {"HubSpotTokenSecret": hubspot_token, "WebhookSecret": webhook_secret}
    for logical_id, value in values.items():
        name = template.resolve(template.properties(logical_id)["Name"])
        try:
            arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
        except secretsmanager.exceptions.ResourceExistsException:
            arn = secretsmanager.put_secret_value(SecretId=name, SecretString=value)["ARN"]
        template.refs[logical_id] = arn
    tables: dict[str, str | None] = {}
    if dynamodb is not None:
        for logical_id, resource in template.document.get("Resources", {}).items():
            if resource.get("Type") == "AWS::DynamoDB::Table":
                tables[logical_id] = _create_table(template, dynamodb, logical_id)
    return StackResources(
        queue_url=urls["EventQueue"],
        queue_arn=template.attributes["EventQueue.Arn"],
        dlq_url=urls["DeadLetterQueue"],
        dlq_arn=template.attributes["DeadLetterQueue.Arn"],
        hubspot_token_secret_arn=template.refs["HubSpotTokenSecret"],
        webhook_secret_arn=template.refs["WebhookSecret"],
        idempotency_table=tables.get("IdempotencyTable"),
        record_state_table=tables.get("RecordStateTable"),
        archive_bucket=_create_bucket(template, s3) if s3 is not None else None,
    )


def _create_bucket(template: Template, s3: Any) -> str | None:
    """The archive bucket. The template leaves its name to CloudFormation; locally it is <stack>-archive
    (lower case, as bucket names must be). Encryption, public access and the lifecycle are AWS's business:
    template tests check them."""
    if "ArchiveBucket" not in template.document.get("Resources", {}):
        return None
    name = f"{template.stack_name.lower()}-archive"
    # A bucket made by an earlier run against the same emulator is reused.
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=name)
    template.refs["ArchiveBucket"] = name
    template.attributes["ArchiveBucket.Arn"] = f"arn:aws:s3:::{name}"
    return name


def _create_table(template: Template, dynamodb: DynamoDBClient, logical_id: str) -> str | None:
    """A DynamoDB table with the template's name, keys and TTL (billing and encryption are AWS's business)."""
    if logical_id not in template.document.get("Resources", {}):
        return None
    properties = template.resolve(template.properties(logical_id))
    name = str(properties["TableName"])
    # A table made by an earlier run against the same emulator is reused.
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
        )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    template.refs[logical_id] = name
    template.attributes[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:123456789012:table/{name}"
    return name

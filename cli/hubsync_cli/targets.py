"""Finding a stack's parts: CloudFormation outputs by stack name, overridden by explicit options.

Against the local stack, set AWS_ENDPOINT_URL (``make run`` prints it): the emulator holds a stack
named ``hubsync-local`` with the same outputs as a deployment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

OUTPUTS = {
    "queue_url": "QueueUrl",
    "dlq_url": "DeadLetterQueueUrl",
    "mapping_id": "UpdaterEventSourceMappingId",
    "updater_function": "UpdaterFunctionName",
    "token_secret_arn": "HubSpotTokenSecretArn",
    "webhook_secret_arn": "WebhookSecretArn",
    "idempotency_table": "IdempotencyTableName",
    "record_state_table": "RecordStateTableName",
    "archive_bucket": "ArchiveBucketName",
}


@dataclass
class Target:
    stack_name: str | None = None
    queue_url: str | None = None
    dlq_url: str | None = None
    mapping_id: str | None = None
    updater_function: str | None = None
    token_secret_arn: str | None = None
    webhook_secret_arn: str | None = None
    idempotency_table: str | None = None
    record_state_table: str | None = None
    archive_bucket: str | None = None

    def need(self, *fields: str) -> None:
        missing = [f for f in fields if not getattr(self, f)]
        if missing:
            names = ", ".join(f"--{f.replace('_', '-')}" for f in missing)
            raise SystemExit(f"error: give --stack-name, or {names}")


def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]  # AWS_ENDPOINT_URL (boto3's own variable) points it at the emulator


def stack_outputs(stack_name: str) -> dict[str, str]:
    stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def resolve(stack_name: str | None, **explicit: str | None) -> Target:
    """Explicit options win over the stack's outputs, which win over QUEUE_URL/DLQ_URL."""
    target = Target(stack_name=stack_name)
    if stack_name:
        outputs = stack_outputs(stack_name)
        for field, key in OUTPUTS.items():
            setattr(target, field, outputs.get(key))
    target.queue_url = target.queue_url or os.environ.get("QUEUE_URL")
    target.dlq_url = target.dlq_url or os.environ.get("DLQ_URL")
    for field, value in explicit.items():
        if value:
            setattr(target, field, value)
    return target

"""Registers the local stack in the emulator the way a deployment registers itself in AWS, so the
operator's commands work on both alike: a CloudFormation stack carrying the template's outputs, and
the updater's event source mapping (whose Enabled flag ``hubsync pause``/``resume`` flip and the
local poller obeys).

Emulation quirk: moto's event source mappings invoke their function themselves when their queue
gets a message (which needs Docker). So the mapping is attached to an empty shadow queue: it only
carries the state; the local poller does the polling.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from hubsync_local.aws import StackResources
from hubsync_local.template import Template


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def register(template: Template, resources: StackResources, clients: dict[str, Any]) -> str:
    """Creates the stack record and the mapping; returns the mapping's UUID."""
    stack = template.stack_name
    iam, lam, sqs, cfn = clients["iam"], clients["lambda"], clients["sqs"], clients["cloudformation"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=f"{stack}-updater", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    function = f"{stack}-updater"
    lam.create_function(
        FunctionName=function,
        Runtime="python3.13",
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": _empty_zip()},
        Architectures=["arm64"],
        # The deployed function's variables, so `hubsync doctor` finds HUBSPOT_BASE_URL and OBJECT_TYPE.
        Environment={"Variables": template.function_environment("UpdaterFunction")},
    )
    shadow = sqs.create_queue(QueueName=f"{stack}-esm-shadow")["QueueUrl"]
    shadow_arn = sqs.get_queue_attributes(QueueUrl=shadow, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(EventSourceArn=shadow_arn, FunctionName=function, Enabled=True)["UUID"]
    outputs = {
        "QueueUrl": resources.queue_url,
        "QueueArn": resources.queue_arn,
        "DeadLetterQueueUrl": resources.dlq_url,
        "DeadLetterQueueArn": resources.dlq_arn,
        "HubSpotTokenSecretArn": resources.hubspot_token_secret_arn,
        "WebhookSecretArn": resources.webhook_secret_arn,
        "UpdaterFunctionName": function,
        "UpdaterEventSourceMappingId": mapping,
        "IdempotencyTableName": resources.idempotency_table or "",
        "RecordStateTableName": resources.record_state_table or "",
        "ArchiveBucketName": resources.archive_bucket or "",
    }
    body = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "hubsync local stack (outputs only; the resources live in the emulator)",
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items() if value},
    }
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(body))
    return str(mapping)


def mapping_enabled(lam: Any, mapping_id: str) -> bool:
    state = lam.get_event_source_mapping(UUID=mapping_id).get("State", "Enabled")
    return str(state) not in ("Disabled", "Disabling")

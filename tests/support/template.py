"""template.yaml as the tests read it: the local stack's reader (a YAML SafeLoader that understands
CloudFormation's short tags), helpers that resolve references and conditions, and what each function's role must
grant (derived from what the code and the services call, not copied from the template).

Shared by the tests/unit/test_template*.py modules; no SAM or cfn-lint (those run in `make template`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hubsync_local.template import load_template as read_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
RUNBOOK_PATH = ROOT / "docs" / "runbook.md"

# logical id -> folder under functions/
FUNCTIONS = {
    "ReceiverFunction": "receiver",
    "UpdaterFunction": "updater",
    "ReplayerFunction": "replayer",
    "ArchiverFunction": "archiver",  # its own checks: test_template_retention.py
}
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"


@cache
def load_template() -> dict[str, Any]:
    return read_template(TEMPLATE_PATH)


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


# The topic every alarm notifies: the operator's own, or the one the stack creates when none is given.
ALARM_TOPIC = {"Fn::If": ["HasAlarmTopic", ref("AlarmTopicArn"), ref("AlarmTopic")]}


def get_att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties = template["Resources"][logical_id].get("Properties", {})
    assert isinstance(properties, dict)
    return properties


def function_setting(template: dict[str, Any], function: str, key: str) -> Any:
    """A function's property as deployed: its own value, else the one from Globals.Function."""
    own = props(template, function)
    if key in own:
        return own[key]
    return template.get("Globals", {}).get("Function", {}).get(key)


def function_environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    """Globals.Function variables merged with the function's own (SAM merges them this way)."""
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own_env = props(template, function).get("Environment", {}).get("Variables", {})
    return {**global_env, **own_env}


def parameter_of(template: dict[str, Any], value: Any) -> dict[str, Any]:
    """The parameter a `!Ref` points to; fails when the value is not a reference to a parameter."""
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"{value!r} is not a !Ref"
    name = value["Ref"]
    assert name in template.get("Parameters", {}), f"!Ref {name} is not a parameter"
    parameter = template["Parameters"][name]
    assert isinstance(parameter, dict)
    return parameter


def resolve(template: dict[str, Any], value: Any) -> Any:
    """A `!Ref` to a parameter becomes its default as a string (how CloudFormation passes it on);
    references to resources and literals are returned as they are."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.get("Parameters", {}):
        return str(template["Parameters"][value["Ref"]]["Default"])
    return value


# IAM statements: what a Resource may be. !GetAtt X.Arn is the exact ARN of these types (a log group's ends in
# ":*", its streams; a table's covers the table alone, not its indexes or stream); !Ref is an ARN only for
# ARN_BY_REF (a queue's Ref is its URL, a log group's and a table's are their names).
ARN_BY_GET_ATT = {"AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"}
ARN_BY_REF = {"AWS::SecretsManager::Secret"}
PSEUDO_PARAMETERS = {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix"}
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
# X-Ray's write actions have no resource-level permissions: the only statements allowed Resource "*".
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_reference(template: dict[str, Any], resource: Any) -> str:
    """A statement's Resource as a readable key ("!GetAtt EventQueue.Arn", "!Ref WebhookSecret", "!Sub arn:...",
    or "*"). Anything but "*" or the exact ARN of a resource of this template fails."""
    resources = template["Resources"]
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert logical_id in resources and attribute == "Arn", f"{resource!r}: not the ARN of a resource of this stack"
        assert resources[logical_id]["Type"] in ARN_BY_GET_ATT, (
            f"{resource!r}: add {resources[logical_id]['Type']} to ARN_BY_GET_ATT if its Arn is an exact ARN"
        )
        return f"!GetAtt {logical_id}.Arn"
    if isinstance(resource, dict) and set(resource) == {"Ref"}:
        logical_id = resource["Ref"]
        assert logical_id in resources, f"{resource!r}: not a resource of this stack"
        assert resources[logical_id]["Type"] in ARN_BY_REF, (
            f"{resource!r}: the Ref of a {resources[logical_id]['Type']} is no ARN"
        )
        return f"!Ref {logical_id}"
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        names = SUB_VARIABLE.findall(text)
        own = [name for name in names if name.split(".")[0] in resources]
        assert text.startswith("arn:${AWS::Partition}:"), f"{resource!r}: not an ARN"
        assert own and all(name in PSEUDO_PARAMETERS or name in own for name in names), f"{resource!r}"
        # The wildcards allowed: every stream of a log group, every object of a bucket of this stack.
        whole = text.removesuffix(":log-stream:*")
        if text.startswith("arn:${AWS::Partition}:s3:::"):
            whole = whole.removesuffix("/*")
        assert "*" not in whole, f"{resource!r}: wildcard"
        return f"!Sub {text}"
    pytest.fail(f"{resource!r}: a Resource must be the exact ARN of a resource of this stack (or * for X-Ray)")


def role_grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """The role's inline policies as {arn_reference key: actions allowed on it}, at the parameters' defaults
    (a policy under !If is there only when its condition holds: test_template_security.py checks those)."""
    grants: dict[str, set[str]] = {}
    for policy in props(template, role).get("Policies", []):
        policy = evaluate(template, policy, {})
        if policy == ref("AWS::NoValue"):
            continue
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", f"{role}: {statement!r}"
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), f"{role}: {statement!r}"
            for resource in as_list(statement["Resource"]):
                grants.setdefault(arn_reference(template, resource), set()).update(as_list(statement["Action"]))
    return grants


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a nested structure."""
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def updater_queue_event(template: dict[str, Any]) -> dict[str, Any]:
    events = props(template, "UpdaterFunction")["Events"]
    assert list(events) == ["QueueEvent"], "SAM names the mapping UpdaterFunction<EventName>: keep QueueEvent"
    assert events["QueueEvent"]["Type"] == "SQS"
    properties = events["QueueEvent"]["Properties"]
    assert isinstance(properties, dict)
    return properties


# Each function runs with its own explicit role: a role SAM generates would carry AWS managed policies
# (AWSLambdaBasicExecutionRole, the X-Ray one, AWSLambdaSQSQueueExecutionRole) that allow their actions on "*".
FUNCTION_ROLES = {
    "ReceiverFunction": "ReceiverRole",
    "UpdaterFunction": "UpdaterRole",
    "ReplayerFunction": "ReplayerRole",
    "ArchiverFunction": "ArchiverRole",
}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
# ReceiveMessage, DeleteMessage and GetQueueAttributes are what an SQS event source mapping needs.
SQS_EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
SQS_POLL = {*SQS_EVENT_SOURCE, "sqs:ChangeMessageVisibility"}
SQS_SEND = {"sqs:SendMessage"}
READ_SECRET = {"secretsmanager:GetSecretValue"}
# What Powertools' DynamoDBPersistenceLayer calls; no Query or Scan.
IDEMPOTENCY_RECORDS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
# What RecordStateStore calls: BatchGetItem, and TransactWriteItems of Update actions only (a transaction is
# authorised per action inside it; a ConditionCheck action would need dynamodb:ConditionCheckItem).
RECORD_STATE = {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
EXPECTED_GRANTS: dict[str, dict[str, set[str]]] = {
    "ReceiverRole": {
        "!GetAtt ReceiverLogGroup.Arn": LOGS,
        "*": set(XRAY_ACTIONS),
        "!GetAtt EventQueue.Arn": SQS_SEND,
        "!GetAtt DeadLetterQueue.Arn": SQS_SEND,
        "!Ref WebhookSecret": READ_SECRET,
        "!GetAtt IdempotencyTable.Arn": IDEMPOTENCY_RECORDS,
    },
    "UpdaterRole": {
        "!GetAtt UpdaterLogGroup.Arn": LOGS,
        "*": set(XRAY_ACTIONS),
        # Polled by the event source mapping; events go back to it when HubSpot's daily limit is reached.
        "!GetAtt EventQueue.Arn": SQS_POLL | SQS_SEND,
        "!GetAtt DeadLetterQueue.Arn": SQS_SEND,
        "!Ref HubSpotTokenSecret": READ_SECRET,
        "!GetAtt RecordStateTable.Arn": RECORD_STATE,
    },
    "ReplayerRole": {
        "!GetAtt ReplayerLogGroup.Arn": LOGS,
        "*": set(XRAY_ACTIONS),
        # Invalid events of a body mapped again go to the DLQ (INVALID_EVENT).
        "!GetAtt DeadLetterQueue.Arn": SQS_POLL | SQS_SEND,
        "!GetAtt EventQueue.Arn": SQS_SEND,
    },
    "ArchiverRole": {
        "!GetAtt ArchiverLogGroup.Arn": LOGS,
        "*": set(XRAY_ACTIONS),
        "!GetAtt DeadLetterQueue.Arn": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"},
        "!Sub arn:${AWS::Partition}:s3:::${ArchiveBucket}/*": {"s3:PutObject"},
        # Its on-failure destination: Lambda sends a given-up run's invocation record as the function's role.
        "!GetAtt ArchiverFailureQueue.Arn": SQS_SEND,
    },
}


def evaluate(template: dict[str, Any], node: Any, values: dict[str, str]) -> Any:
    """Conditions and !If for the given parameter values (the rest at their defaults); other nodes as they are."""
    if not (isinstance(node, dict) and len(node) == 1):
        return node
    ((key, value),) = node.items()
    if key == "Ref" and value in template["Parameters"]:
        return values.get(value, str(template["Parameters"][value]["Default"]))
    if key in ("Condition", "Fn::Condition"):
        return bool(evaluate(template, template["Conditions"][value], values))
    if key == "Fn::Equals":
        return evaluate(template, value[0], values) == evaluate(template, value[1], values)
    if key == "Fn::Not":
        return not evaluate(template, value[0], values)
    if key == "Fn::And":
        return all(evaluate(template, item, values) for item in value)
    if key == "Fn::Or":
        return any(evaluate(template, item, values) for item in value)
    if key == "Fn::If":
        condition, when_true, when_false = value
        holds = evaluate(template, {"Condition": condition}, values)
        return evaluate(template, when_true if holds else when_false, values)
    return node


# What an !If branch of AWS::NoValue leaves: nothing (the key or list item removed).
NO_VALUE = ref("AWS::NoValue")


def deployed(template: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The template as CloudFormation would deploy it for these parameter values: each !If replaced by its
    branch, AWS::NoValue removed, resources whose condition fails left out. Refs stay as they are."""

    def walk_if(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                holds = evaluate(template, {"Condition": name}, values)
                return walk_if(when_true if holds else when_false)
            mapping = {key: walk_if(value) for key, value in node.items()}
            return {key: value for key, value in mapping.items() if value != NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk_if(item) for item in node) if item != NO_VALUE]
        return node

    resolved = walk_if(template)
    resolved["Resources"] = {
        name: resource
        for name, resource in resolved["Resources"].items()
        if "Condition" not in resource or evaluate(template, {"Condition": resource["Condition"]}, values)
    }
    return resolved

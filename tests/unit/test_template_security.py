"""template.yaml's optional customer managed key (KmsKeyArn): the parameter, the resources it encrypts, what each
role may do with it, and the local stack reading the conditional settings.

The template is read with the tests' helpers (tests/support/template.py); conditions are evaluated for the
parameter values a test names, so "with the key" and "without" are the two templates CloudFormation would deploy.
What each role needs from the key is derived from the services' documented behaviour, not copied from the template.
Reserved concurrency: test_template_concurrency.py; the checkov configuration: test_template_checkov.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hubsync_local.template import Template
from support.template import (
    EXPECTED_GRANTS,
    FUNCTIONS,
    NO_VALUE,
    ROOT,
    arn_reference,
    as_list,
    deployed,
    evaluate,
    function_setting,
    load_template,
    props,
    ref,
    resources_of_type,
    walk,
)

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WITH_KEY = {"KmsKeyArn": KEY}
WITHOUT_KEY: dict[str, str] = {}
KEY_REF = ref("KmsKeyArn")


def property_at(resource: dict[str, Any], path: str) -> Any:
    node: Any = resource.get("Properties", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def test_kms_key_parameter_is_optional(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["KmsKeyArn"]
    assert (parameter["Type"], parameter["Default"]) == ("String", "")
    assert evaluate(template, {"Condition": "UseCustomerKey"}, WITHOUT_KEY) is False
    assert evaluate(template, {"Condition": "UseCustomerKey"}, WITH_KEY) is True


@pytest.mark.parametrize(
    "value",
    [
        KEY,
        "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",  # multi-Region key
        "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ],
)
def test_kms_key_parameter_takes_key_arns(template: dict[str, Any], value: str) -> None:
    assert re.fullmatch(template["Parameters"]["KmsKeyArn"]["AllowedPattern"], value)


@pytest.mark.parametrize(
    "value",
    [
        # IAM statements on an alias ARN do not cover the key, and Lambda and CloudWatch Logs want a key ARN.
        "arn:aws:kms:us-east-1:123456789012:alias/hubsync",
        "alias/hubsync",
        "alias/aws/sns",
        "1234abcd-12ab-34cd-56ef-1234567890ab",  # a key id: the IAM statements need the ARN
        "arn:aws:sns:us-east-1:123456789012:key/1234abcd",
        " " + KEY,
    ],
)
def test_kms_key_parameter_refuses(template: dict[str, Any], value: str) -> None:
    assert not re.fullmatch(template["Parameters"]["KmsKeyArn"]["AllowedPattern"], value)


# Where each kind of resource names its key (CloudFormation property paths). Every resource of these types is
# checked, including ones added later: a new queue, table, secret, log group, topic or bucket must use the key too.
KEY_PROPERTY = {
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::DynamoDB::Table": "SSESpecification.KMSMasterKeyId",
    "AWS::SecretsManager::Secret": "KmsKeyId",
    "AWS::Logs::LogGroup": "KmsKeyId",
    "AWS::SNS::Topic": "KmsMasterKeyId",
}
KEYED_TYPES = sorted({*KEY_PROPERTY, "AWS::S3::Bucket", "AWS::Serverless::Function"})


def keyed_resources(template: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (name, resource["Type"]) for name, resource in template["Resources"].items() if resource["Type"] in KEYED_TYPES
    )


def test_the_stack_has_the_resources_the_key_is_for(template: dict[str, Any]) -> None:
    kinds = {kind for _, kind in keyed_resources(template)}
    assert kinds >= set(KEY_PROPERTY) | {"AWS::Serverless::Function"}


def key_of(template: dict[str, Any], name: str) -> Any:
    """The key a resource of the deployed template is encrypted with (None: the service's default)."""
    resource = template["Resources"][name]
    kind = resource["Type"]
    if kind == "AWS::Serverless::Function":
        return function_setting(template, name, "KmsKeyArn")
    if kind == "AWS::S3::Bucket":
        rules = property_at(resource, "BucketEncryption.ServerSideEncryptionConfiguration") or []
        keys = [rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") for rule in rules]
        return keys[0] if len(keys) == 1 else keys
    return property_at(resource, KEY_PROPERTY[kind])


@pytest.mark.parametrize(("name", "kind"), keyed_resources(load_template()))
def test_resource_uses_the_customer_key_when_given(template: dict[str, Any], name: str, kind: str) -> None:
    with_key = deployed(template, WITH_KEY)
    if name not in with_key["Resources"]:
        pytest.skip(f"{name} is not created when KmsKeyArn is set")
    assert key_of(with_key, name) == KEY_REF, f"{name} ({kind}) does not use KmsKeyArn"
    resource = with_key["Resources"][name]
    if kind == "AWS::SQS::Queue":
        # A queue takes SSE-SQS or SSE-KMS, not both.
        assert property_at(resource, "SqsManagedSseEnabled") is False
    if kind == "AWS::DynamoDB::Table":
        assert property_at(resource, "SSESpecification") == {
            "SSEEnabled": True,
            "SSEType": "KMS",
            "KMSMasterKeyId": KEY_REF,
        }
    if kind == "AWS::S3::Bucket":
        rules = property_at(resource, "BucketEncryption.ServerSideEncryptionConfiguration")
        assert all(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" for rule in rules)


@pytest.mark.parametrize(("name", "kind"), keyed_resources(load_template()))
def test_resource_keeps_aws_encryption_without_the_key(template: dict[str, Any], name: str, kind: str) -> None:
    without = deployed(template, WITHOUT_KEY)
    if name not in without["Resources"]:
        pytest.skip(f"{name} is not created at the defaults")
    assert key_of(without, name) is None, f"{name} names a key although KmsKeyArn is empty"
    resource = without["Resources"][name]
    if kind == "AWS::SQS::Queue":
        assert property_at(resource, "SqsManagedSseEnabled") is True
    if kind == "AWS::DynamoDB::Table":
        # The AWS managed key (aws/dynamodb), as before the parameter existed.
        assert property_at(resource, "SSESpecification") == {"SSEEnabled": True}
    if kind == "AWS::SNS::Topic":
        # CloudWatch cannot publish to a topic under the AWS managed key: alarms would be dropped silently.
        assert "KmsMasterKeyId" not in resource["Properties"]


@pytest.mark.parametrize("values", [WITHOUT_KEY, WITH_KEY])
def test_every_bucket_is_encrypted_either_way(template: dict[str, Any], values: dict[str, str]) -> None:
    # The scope of .checkov.yaml's CKV_AWS_19 skip (checkov cannot evaluate the !If): S3's own algorithms only,
    # one default rule per bucket, in both templates CloudFormation could deploy.
    resources = deployed(template, values)["Resources"]
    buckets = [name for name, resource in resources.items() if resource["Type"] == "AWS::S3::Bucket"]
    assert buckets
    for name in buckets:
        (rule,) = property_at(resources[name], "BucketEncryption.ServerSideEncryptionConfiguration")
        expected = "aws:kms" if values else "AES256"
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == expected, name
        assert rule.get("BucketKeyEnabled") is (True if values else None), name


def test_the_template_names_no_key_but_the_parameter(template: dict[str, Any]) -> None:
    for node in walk(template["Resources"]):
        for key in ("KmsMasterKeyId", "KMSMasterKeyId", "KmsKeyId", "KmsKeyArn", "KMSMasterKeyID"):
            if key in node:
                value = node[key]
                assert value == {"Fn::If": ["UseCustomerKey", KEY_REF, NO_VALUE]}, f"{key}: {value!r}"


def test_function_environments_use_the_key_through_globals(template: dict[str, Any]) -> None:
    # In Globals, so a function added later is covered too (and test_role_may_use_the_key_... then asks its role).
    assert template["Globals"]["Function"]["KmsKeyArn"] == {"Fn::If": ["UseCustomerKey", KEY_REF, NO_VALUE]}
    assert not any("KmsKeyArn" in props(template, function) for function in FUNCTIONS)


# What each service documents a caller needs on a customer managed key, per IAM action the role is allowed:
# - SQS: a producer needs kms:GenerateDataKey and kms:Decrypt, a consumer (the event source mapping polls
#   with the function's role) kms:Decrypt.
# - Secrets Manager: GetSecretValue needs kms:Decrypt.
# - DynamoDB: "When you access an encrypted DynamoDB table, DynamoDB needs to decrypt the table key"; the
#   Decrypt request is made as the principal accessing the table, through DynamoDB.
# - S3 (SSE-KMS): PutObject needs kms:GenerateDataKey, GetObject kms:Decrypt.
# - Lambda: a function's environment under a customer key is decrypted as its execution role (kms:Decrypt).
# Each is allowed only through its service (kms:ViaService), so no role can call KMS directly with the key.
def kms_needs(actions: set[str]) -> set[tuple[str, str]]:
    """(KMS action, service) pairs the given IAM actions need on the key."""
    needs: set[tuple[str, str]] = set()
    if "sqs:SendMessage" in actions:
        needs |= {("kms:GenerateDataKey", "sqs"), ("kms:Decrypt", "sqs")}
    if "sqs:ReceiveMessage" in actions:
        needs.add(("kms:Decrypt", "sqs"))
    if "secretsmanager:GetSecretValue" in actions:
        needs.add(("kms:Decrypt", "secretsmanager"))
    if any(action.startswith("dynamodb:") for action in actions):
        needs.add(("kms:Decrypt", "dynamodb"))
    if "s3:PutObject" in actions:
        needs.add(("kms:GenerateDataKey", "s3"))
    if "s3:GetObject" in actions:
        needs.add(("kms:Decrypt", "s3"))
    return needs


VIA_SERVICE = re.compile(r"^([a-z0-9-]+)\.\$\{AWS::Region\}\.amazonaws\.com$")


def role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in props(template, role).get("Policies", []):
        statements.extend(as_list(policy["PolicyDocument"]["Statement"]))
    return statements


def kms_grants(template: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """The role's (KMS action, service) pairs; fails on any KMS statement not scoped to the key and a service."""
    grants: set[tuple[str, str]] = set()
    for statement in role_statements(template, role):
        actions = as_list(statement["Action"])
        if not any(action.startswith("kms:") for action in actions):
            continue
        assert all(action.startswith("kms:") for action in actions), f"{role}: KMS mixed with others: {statement!r}"
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] == KEY_REF, f"{role}: KMS allowed on {statement['Resource']!r}, not the key"
        assert set(statement["Condition"]) == {"StringEquals"}, statement
        assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}, statement
        services = []
        for value in as_list(statement["Condition"]["StringEquals"]["kms:ViaService"]):
            assert set(value) == {"Fn::Sub"}, value
            match = VIA_SERVICE.match(value["Fn::Sub"])
            assert match, f"{role}: kms:ViaService {value!r} is not <service>.<this region>.amazonaws.com"
            services.append(match.group(1))
        grants |= {(action, service) for action in actions for service in services}
    return grants


def other_grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    """The role's grants other than KMS, as support.template.role_grants reads them."""
    grants: dict[str, set[str]] = {}
    for statement in role_statements(template, role):
        actions = as_list(statement["Action"])
        if any(action.startswith("kms:") for action in actions):
            continue
        for resource in as_list(statement["Resource"]):
            grants.setdefault(arn_reference(template, resource), set()).update(actions)
    return grants


def function_roles(template: dict[str, Any]) -> dict[str, str]:
    """role -> the function it runs (each function has its own role)."""
    roles = {}
    for function in resources_of_type(template, "AWS::Serverless::Function"):
        role = props(template, function)["Role"]
        assert set(role) == {"Fn::GetAtt"}, f"{function}: its role must be one of this stack's"
        roles[role["Fn::GetAtt"][0]] = function
    return roles


def iam_roles(template: dict[str, Any]) -> list[str]:
    return sorted(resources_of_type(template, "AWS::IAM::Role"))


@pytest.mark.parametrize("role", iam_roles(load_template()))
def test_role_may_use_the_key_exactly_as_its_services_need(template: dict[str, Any], role: str) -> None:
    with_key = deployed(template, WITH_KEY)
    allowed = {action for statement in role_statements(with_key, role) for action in as_list(statement["Action"])}
    expected = kms_needs(allowed)
    if role in function_roles(with_key):
        expected.add(("kms:Decrypt", "lambda"))  # its function's environment
    assert kms_grants(with_key, role) == expected


@pytest.mark.parametrize("role", iam_roles(load_template()))
def test_role_has_no_kms_permission_without_the_key(template: dict[str, Any], role: str) -> None:
    without = deployed(template, WITHOUT_KEY)
    assert kms_grants(without, role) == set()


@pytest.mark.parametrize("role", sorted(EXPECTED_GRANTS))
def test_the_key_adds_nothing_but_kms_to_a_role(template: dict[str, Any], role: str) -> None:
    # test_template_access.py checks the grants at the defaults; with the key they must be the same plus KMS.
    assert other_grants(deployed(template, WITH_KEY), role) == EXPECTED_GRANTS[role]


def test_the_function_roles_kms_grants_spelled_out(template: dict[str, Any]) -> None:
    # The derivation above, checked once by hand for today's roles.
    with_key = deployed(template, WITH_KEY)
    full = {("kms:Decrypt", s) for s in ("sqs", "secretsmanager", "dynamodb", "lambda")} | {
        ("kms:GenerateDataKey", "sqs")
    }
    assert kms_grants(with_key, "ReceiverRole") == full
    assert kms_grants(with_key, "UpdaterRole") == full
    assert kms_grants(with_key, "ReplayerRole") == {
        ("kms:Decrypt", "sqs"),
        ("kms:Decrypt", "lambda"),
        ("kms:GenerateDataKey", "sqs"),
    }
    # Reads the DLQ, sends given-up runs' records to its failure queue, writes SSE-KMS objects (single-part
    # PutObject: a data key, no Decrypt), and its environment.
    assert kms_grants(with_key, "ArchiverRole") == {
        ("kms:Decrypt", "sqs"),
        ("kms:Decrypt", "lambda"),
        ("kms:GenerateDataKey", "sqs"),
        ("kms:GenerateDataKey", "s3"),
    }


@pytest.mark.parametrize("role", iam_roles(load_template()))
def test_policy_statements_are_plain_so_scanners_read_them(template: dict[str, Any], role: str) -> None:
    # checkov skips every IAM check of a role whose Statement list holds an !If (seen with checkov 3.3.30): a
    # conditional permission is a whole conditional policy instead.
    for policy in props(template, role).get("Policies", []):
        if set(policy) == {"Fn::If"}:
            _, when_true, when_false = policy["Fn::If"]
            assert when_false == NO_VALUE
            policy = when_true
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert "Fn::If" not in statement and "Effect" in statement, f"{role}: {statement!r}"


@pytest.mark.parametrize(("values", "managed", "key"), [(WITHOUT_KEY, True, None), (WITH_KEY, False, KEY)])
def test_local_stack_reads_the_conditional_settings(values: dict[str, str], managed: bool, key: str | None) -> None:
    local = Template.load(parameters=values)
    queue = local.resolve(local.properties("DeadLetterQueue"))
    assert queue["SqsManagedSseEnabled"] is managed
    assert queue.get("KmsMasterKeyId") == key
    table = local.resolve(local.properties("RecordStateTable"))["SSESpecification"]
    assert table.get("KMSMasterKeyId") == key and table["SSEEnabled"] is True


def test_the_deploy_docs_say_what_the_key_policy_must_allow() -> None:
    deploying = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    section = deploying.split("## Encryption", 1)[1].split("\n## ", 1)[0]
    for needed in ("cloudwatch.amazonaws.com", "logs.", "kms:GenerateDataKey", "kms:Decrypt", "kms:CreateGrant"):
        assert needed in section, needed

"""template.yaml is the source of truth: these tables check what the code and the operators rely on in it.

The template is read with the local stack's reader (a YAML SafeLoader that understands CloudFormation's
short tags), without SAM or cfn-lint (those run in `make template`), so the checks are instant and offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from hubsync.deadletters import dlq
from hubsync.delivery import hubspot, outcomes, sender, updater
from hubsync.delivery.recordstate import DEFAULT_TTL_SECONDS, KEY_ATTRIBUTE, TTL_ATTRIBUTE
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


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


# ---------------------------------------------------------------------------------------------- helpers
def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


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


# ---------------------------------------------------------------------------------------------- basics
def test_reader_turns_short_tags_into_long_form(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "a: !Ref X\nb: !GetAtt Q.Arn\nc: !Sub '${X}-y'\nd: !If [C, !Ref X, !Ref AWS::NoValue]\n", encoding="utf-8"
    )
    assert read_template(path) == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Q", "Arn"]},
        "c": {"Fn::Sub": "${X}-y"},
        "d": {"Fn::If": ["C", {"Ref": "X"}, {"Ref": "AWS::NoValue"}]},
    }


def test_is_a_sam_template(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_the_function_table_covers_every_function(template: dict[str, Any]) -> None:
    assert set(resources_of_type(template, "AWS::Serverless::Function")) == set(FUNCTIONS)
    assert not resources_of_type(template, "AWS::Lambda::Function")


@pytest.mark.parametrize("name", sorted(load_template()["Parameters"]))
def test_parameter_default_satisfies_its_constraints(template: dict[str, Any], name: str) -> None:
    parameter = template["Parameters"][name]
    assert "Default" in parameter, f"{name} has no default: sam deploy --guided could not propose one"
    default = parameter["Default"]
    if "AllowedValues" in parameter:
        assert str(default) in [str(v) for v in parameter["AllowedValues"]]
    if parameter["Type"] == "Number":
        assert parameter.get("MinValue", default) <= default <= parameter.get("MaxValue", default)
    if "AllowedPattern" in parameter:
        assert re.fullmatch(parameter["AllowedPattern"], str(default))


# ---------------------------------------------------------------------------------------------- functions
@pytest.mark.parametrize(("function", "folder"), FUNCTIONS.items())
def test_function_runtime_architecture_handler_and_code(template: dict[str, Any], function: str, folder: str) -> None:
    assert function_setting(template, function, "Runtime") == RUNTIME
    assert function_setting(template, function, "Architectures") == [ARCHITECTURE]
    assert function_setting(template, function, "Handler") == "app.handler"
    assert function_setting(template, function, "CodeUri") == f"functions/{folder}/"
    assert ref("CommonLayer") in function_setting(template, function, "Layers")
    assert function_setting(template, function, "Tracing") == "Active"
    # Handlers use only the layer: a requirements.txt here would make sam build vendor a second copy.
    assert not (ROOT / "functions" / folder / "requirements.txt").exists()


@pytest.mark.parametrize(("function", "folder"), FUNCTIONS.items())
def test_handler_module_exists(function: str, folder: str) -> None:
    app = ROOT / "functions" / folder / "app.py"
    assert app.is_file(), f"{function}: CodeUri has no app.py"
    assert re.search(r"^def handler\(", app.read_text(encoding="utf-8"), re.MULTILINE), f"{app}: no handler()"


@pytest.mark.parametrize(
    ("function", "timeout"), [("ReceiverFunction", 10), ("UpdaterFunction", 120), ("ReplayerFunction", 900)]
)
def test_function_timeout(template: dict[str, Any], function: str, timeout: int) -> None:
    assert function_setting(template, function, "Timeout") == timeout


def test_receiver_answers_within_the_http_api_integration_limit(template: dict[str, Any]) -> None:
    assert function_setting(template, "ReceiverFunction", "Timeout") <= 30


def test_layer_is_built_for_the_runtime_and_architecture(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CommonLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": RUNTIME, "BuildArchitecture": ARCHITECTURE}
    properties = layer["Properties"]
    assert properties["ContentUri"] == "layers/common/"
    assert properties["CompatibleRuntimes"] == [RUNTIME]
    assert properties["CompatibleArchitectures"] == [ARCHITECTURE]
    assert (ROOT / "layers/common/requirements.txt").is_file()
    assert (ROOT / "layers/common/hubsync/__init__.py").is_file()


# ---------------------------------------------------------------------------------------------- configuration
GLOBAL_ENV = {
    "POWERTOOLS_SERVICE_NAME": "hubsync",
    "POWERTOOLS_METRICS_NAMESPACE": "hubsync",
    "LOG_LEVEL": "INFO",
    "OBJECT_TYPE": "partner_services",
}
EXPECTED_ENV: dict[str, dict[str, Any]] = {
    "ReceiverFunction": {
        **GLOBAL_ENV,
        "QUEUE_URL": ref("EventQueue"),
        "DLQ_URL": ref("DeadLetterQueue"),
        "WEBHOOK_SECRET_ARN": ref("WebhookSecret"),
        "WEBHOOK_SOURCES": '{"default": {"scheme": "standard-webhooks"}}',
        "MAX_BODY_BYTES": "1048576",
        "MAX_EVENTS_PER_REQUEST": "500",
        "IDEMPOTENCY_TABLE": ref("IdempotencyTable"),
        "IDEMPOTENCY_WINDOW_SECONDS": "86400",
    },
    "UpdaterFunction": {
        **GLOBAL_ENV,
        "QUEUE_URL": ref("EventQueue"),
        "DLQ_URL": ref("DeadLetterQueue"),
        "HUBSPOT_BASE_URL": "https://api.hubapi.com",
        "HUBSPOT_TOKEN_SECRET_ARN": ref("HubSpotTokenSecret"),
        "HUBSPOT_RATE_LIMIT": "100",
        "HUBSPOT_MAX_IN_FLIGHT": "4",
        "MAX_RECEIVE_COUNT": "5",
        "UPDATER_MAX_CONCURRENCY": "2",
        "RECORD_STATE_TABLE": ref("RecordStateTable"),
        "OBJECT_SETTINGS": "{}",
        "SCHEMA_CHECKS": "on",
        "PROPERTY_CACHE_SECONDS": "300",
    },
    "ReplayerFunction": {
        **GLOBAL_ENV,
        "QUEUE_URL": ref("EventQueue"),
        "DLQ_URL": ref("DeadLetterQueue"),
        # It maps UNMAPPED bodies again as the receiver would.
        "WEBHOOK_SOURCES": '{"default": {"scheme": "standard-webhooks"}}',
        "MAX_EVENTS_PER_REQUEST": "500",
    },
    "ArchiverFunction": {
        **GLOBAL_ENV,
        "DLQ_URL": ref("DeadLetterQueue"),
        "ARCHIVE_BUCKET": ref("ArchiveBucket"),
        "ARCHIVE_AFTER_SECONDS": "1036800",
    },
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_environment_variables(template: dict[str, Any], function: str) -> None:
    env = function_environment(template, function)
    assert {name: resolve(template, value) for name, value in env.items()} == EXPECTED_ENV[function]


@pytest.mark.parametrize(
    ("variable", "name", "default", "minimum", "maximum"),
    [
        ("MAX_BODY_BYTES", "MaxBodyBytes", 1048576, 1024, 4194304),
        ("MAX_EVENTS_PER_REQUEST", "MaxEventsPerRequest", 500, 1, 10000),
        ("IDEMPOTENCY_WINDOW_SECONDS", "IdempotencyWindowSeconds", 86400, 60, 604800),
    ],
)
def test_receiver_limit_is_a_parameter(
    template: dict[str, Any], variable: str, name: str, default: int, minimum: int, maximum: int
) -> None:
    value = function_environment(template, "ReceiverFunction")[variable]
    assert value == ref(name)
    parameter = parameter_of(template, value)
    assert parameter["Type"] == "Number"
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (default, minimum, maximum)


def test_largest_body_fits_a_lambda_invocation_after_base64(template: dict[str, Any]) -> None:
    largest = template["Parameters"]["MaxBodyBytes"]["MaxValue"]
    # Lambda's synchronous payload limit (6 MB) less room for the event envelope around the body.
    assert largest * 4 / 3 + 512 * 1024 <= 6 * 1024 * 1024


def test_webhook_sources_default_is_the_default_source_without_secrets(template: dict[str, Any]) -> None:
    value = function_environment(template, "ReceiverFunction")["WEBHOOK_SOURCES"]
    parameter = parameter_of(template, value)
    assert value == ref("WebhookSources")
    assert parameter["Type"] == "String"
    sources = json.loads(parameter["Default"])
    assert sources == {"default": {"scheme": "standard-webhooks"}}
    assert len(parameter["Default"]) <= parameter["MaxLength"]
    # The secrets live in WebhookSecret, keyed by the same source names.
    assert not SECRET_LOOKING_VALUE.search(parameter["Default"])
    assert "secret" in parameter["Description"].lower() and "WebhookSecret" in parameter["Description"]


def test_every_parameter_is_in_one_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def test_every_parameter_is_constrained(template: dict[str, Any]) -> None:
    for name, parameter in template["Parameters"].items():
        if "AllowedValues" in parameter:
            continue
        if parameter["Type"] == "Number":
            assert {"MinValue", "MaxValue"} <= set(parameter), f"{name}: a Number needs MinValue and MaxValue"
        else:
            assert {"AllowedPattern", "MaxLength"} <= set(parameter), f"{name}: a String needs a pattern and a length"
            assert parameter["AllowedPattern"].startswith("^") and parameter["AllowedPattern"].endswith("$"), name


def test_hubspot_max_in_flight_is_a_parameter(template: dict[str, Any]) -> None:
    value = function_environment(template, "UpdaterFunction")["HUBSPOT_MAX_IN_FLIGHT"]
    assert value == ref("HubSpotMaxInFlight")
    parameter = parameter_of(template, value)
    assert parameter["Type"] == "Number"
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (4, 1, 16)


def test_hubspot_rate_limit_takes_only_hubspot_tiers(template: dict[str, Any]) -> None:
    parameter = parameter_of(template, function_environment(template, "UpdaterFunction")["HUBSPOT_RATE_LIMIT"])
    assert sorted(int(v) for v in parameter["AllowedValues"]) == [100, 110, 190, 250]


# ---------------------------------------------------------------------------------------------- secrets
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|CREDENTIAL|API_?KEY|PRIVATE", re.IGNORECASE)
SECRET_LOOKING_VALUE = re.compile(r"whsec_|^pat-|^Bearer ", re.IGNORECASE)


def test_no_environment_variable_holds_a_secret(template: dict[str, Any]) -> None:
    secrets = resources_of_type(template, "AWS::SecretsManager::Secret")
    for function in FUNCTIONS:
        for name, value in function_environment(template, function).items():
            if isinstance(value, dict) and value.get("Ref") in secrets:
                assert name.endswith("_SECRET_ARN"), f"{function}.{name} carries a secret's ARN: name it *_SECRET_ARN"
            elif SECRET_NAME.search(name):
                pytest.fail(f"{function}.{name} looks like a secret: pass a *_SECRET_ARN (!Ref to a secret) instead")
            assert not (isinstance(value, str) and SECRET_LOOKING_VALUE.search(value)), f"{function}.{name}"
            if name.endswith("_SECRET_ARN"):
                assert isinstance(value, dict) and value.get("Ref") in secrets, f"{function}.{name} must !Ref a secret"


def test_no_parameter_takes_a_secret(template: dict[str, Any]) -> None:
    for name, parameter in template["Parameters"].items():
        assert not re.search(r"secret|token|password|credential", name, re.IGNORECASE), name
        assert not parameter.get("NoEcho"), f"{name}: secrets belong in Secrets Manager, not in parameters"


@pytest.mark.parametrize(
    ("secret", "name", "placeholder_check"),
    [
        ("HubSpotTokenSecret", "${AWS::StackName}/hubspot-token", lambda v: v == "REPLACE_WITH_PRIVATE_APP_TOKEN"),
        # An empty list: the receiver refuses every request (401) until real secrets are put in.
        ("WebhookSecret", "${AWS::StackName}/webhook-secrets", lambda v: json.loads(v) == []),
    ],
)
def test_secret_is_created_with_a_placeholder(
    template: dict[str, Any], secret: str, name: str, placeholder_check: Callable[[str], bool]
) -> None:
    resource = template["Resources"][secret]
    assert resource["Type"] == "AWS::SecretsManager::Secret"
    assert resource["Properties"]["Name"] == {"Fn::Sub": name}
    assert placeholder_check(resource["Properties"]["SecretString"])


# ---------------------------------------------------------------------------------------------- queues
def updater_queue_event(template: dict[str, Any]) -> dict[str, Any]:
    events = props(template, "UpdaterFunction")["Events"]
    assert list(events) == ["QueueEvent"], "SAM names the mapping UpdaterFunction<EventName>: keep QueueEvent"
    assert events["QueueEvent"]["Type"] == "SQS"
    properties = events["QueueEvent"]["Properties"]
    assert isinstance(properties, dict)
    return properties


def test_updater_reads_the_event_queue(template: dict[str, Any]) -> None:
    assert updater_queue_event(template)["Queue"] == get_att("EventQueue", "Arn")


@pytest.mark.parametrize(
    ("path", "default", "minimum", "maximum"),
    [
        (("BatchSize",), 1000, 1, 10000),
        # SQS event sources need a window of at least 1 s once BatchSize > 10.
        (("MaximumBatchingWindowInSeconds",), 10, 1, 300),
        (("ScalingConfig", "MaximumConcurrency"), 2, 2, 1000),
    ],
)
def test_event_source_mapping_setting_is_a_parameter(
    template: dict[str, Any], path: tuple[str, ...], default: int, minimum: int, maximum: int
) -> None:
    value: Any = updater_queue_event(template)
    for key in path:
        value = value[key]
    parameter = parameter_of(template, value)
    assert parameter["Type"] == "Number"
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (default, minimum, maximum)


def test_updater_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    assert updater_queue_event(template)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_updater_concurrency_is_shared_with_the_code(template: dict[str, Any]) -> None:
    mapping_limit = updater_queue_event(template)["ScalingConfig"]["MaximumConcurrency"]
    assert function_environment(template, "UpdaterFunction")["UPDATER_MAX_CONCURRENCY"] == mapping_limit


def test_reserved_concurrency_never_throttles_the_mapping(template: dict[str, Any]) -> None:
    reserved = function_setting(template, "UpdaterFunction", "ReservedConcurrentExecutions")
    mapping_limit = updater_queue_event(template)["ScalingConfig"]["MaximumConcurrency"]
    # Under !If (ReserveConcurrency): each branch is no reservation or a safe one.
    branches = reserved["Fn::If"][1:] if isinstance(reserved, dict) and "Fn::If" in reserved else [reserved]
    for branch in branches:
        if branch in (None, ref("AWS::NoValue")) or branch == mapping_limit:  # the same parameter: never lower
            continue
        limit = parameter_of(template, mapping_limit)
        assert int(resolve(template, branch)) >= limit["MaxValue"]


def test_visibility_timeout_covers_six_updater_timeouts_and_the_batching_window(template: dict[str, Any]) -> None:
    visibility = props(template, "EventQueue")["VisibilityTimeout"]
    timeout = function_setting(template, "UpdaterFunction", "Timeout")
    window = parameter_of(template, updater_queue_event(template)["MaximumBatchingWindowInSeconds"])
    assert visibility >= 6 * timeout + window["MaxValue"]
    assert visibility <= 43200  # the SQS maximum (12 h)


def test_redrive_policy_and_the_updaters_last_attempt_agree(template: dict[str, Any]) -> None:
    redrive = props(template, "EventQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == get_att("DeadLetterQueue", "Arn")
    env_value = function_environment(template, "UpdaterFunction")["MAX_RECEIVE_COUNT"]
    # One parameter feeds both, so a deploy cannot set them apart.
    assert redrive["maxReceiveCount"] == env_value
    parameter = parameter_of(template, env_value)
    assert parameter["Default"] >= 5
    assert parameter["MinValue"] >= 5


@pytest.mark.parametrize(("queue", "suffix"), [("EventQueue", "events"), ("DeadLetterQueue", "dlq")])
def test_queue_is_standard_encrypted_and_named_after_the_stack(
    template: dict[str, Any], queue: str, suffix: str
) -> None:
    properties = props(template, queue)
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert not properties.get("FifoQueue")
    assert evaluate(template, properties["SqsManagedSseEnabled"], {}) is True  # at the defaults (no KmsKeyArn)
    assert properties["QueueName"] == {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"}


def test_dead_letter_queue_keeps_messages_longer_than_the_queue(template: dict[str, Any]) -> None:
    dlq_retention = props(template, "DeadLetterQueue")["MessageRetentionPeriod"]
    queue_retention = props(template, "EventQueue")["MessageRetentionPeriod"]
    # A message keeps its first enqueue time in a standard queue's DLQ: the DLQ must not expire it sooner.
    # Both keep SQS's maximum; the archiver (test_template_retention.py) covers what the DLQ cannot keep.
    assert dlq_retention == 1209600
    assert dlq_retention >= queue_retention


def test_dead_letter_queue_allows_redrive_from_the_event_queue_only(template: dict[str, Any]) -> None:
    policy = props(template, "DeadLetterQueue")["RedriveAllowPolicy"]
    assert policy["redrivePermission"] == "byQueue"
    queue_name = props(template, "EventQueue")["QueueName"]["Fn::Sub"]
    arn = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + queue_name
    assert policy["sourceQueueArns"] == [{"Fn::Sub": arn}]


# ---------------------------------------------------------------------------------------------- idempotency
def test_idempotency_table_has_the_powertools_default_layout(template: dict[str, Any]) -> None:
    table = template["Resources"]["IdempotencyTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    # The local stack creates the table under the same name.
    assert properties["TableName"] == {"Fn::Sub": "${AWS::StackName}-idempotency"}
    # DynamoDBPersistenceLayer's defaults: partition key "id" (a string), no sort key, TTL on "expiration".
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in properties
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # The role's grants cover the table alone: an index or a stream would need more.
    assert not {"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"} & set(properties)


def test_idempotency_records_are_disposable(template: dict[str, Any]) -> None:
    table = template["Resources"]["IdempotencyTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Delete", "Delete")


# ---------------------------------------------------------------------------------------------- record state
def test_record_state_table_has_the_layout_of_the_code(template: dict[str, Any]) -> None:
    table = template["Resources"]["RecordStateTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    assert properties["TableName"] == {"Fn::Sub": "${AWS::StackName}-record-state"}
    # RecordStateStore's partition key (a string, the caller's record key), no sort key, and its TTL attribute.
    assert properties["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in properties
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # The role's grants cover the table alone: an index or a stream would need more.
    assert not {"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"} & set(properties)


def test_record_state_goes_with_the_stack(template: dict[str, Any]) -> None:
    # Losing it only loses the protection against late events once; a retained table would block a redeploy.
    table = template["Resources"]["RecordStateTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_record_state_outlives_the_events_it_orders(template: dict[str, Any]) -> None:
    # An event can wait in the queue and then in the DLQ: its record's times must still be there after that.
    retention = (
        props(template, "EventQueue")["MessageRetentionPeriod"]
        + props(template, "DeadLetterQueue")["MessageRetentionPeriod"]
    )
    assert retention < DEFAULT_TTL_SECONDS


def test_updater_finds_the_record_state_table(template: dict[str, Any]) -> None:
    assert function_environment(template, "UpdaterFunction")["RECORD_STATE_TABLE"] == ref("RecordStateTable")
    assert "RECORD_STATE_TABLE" not in function_environment(template, "ReceiverFunction")


# ---------------------------------------------------------------------------------------------- least privilege
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


@pytest.mark.parametrize(("function", "role"), FUNCTION_ROLES.items())
def test_function_runs_with_its_own_role(template: dict[str, Any], function: str, role: str) -> None:
    assert props(template, function)["Role"] == get_att(role, "Arn")
    assert template["Resources"][role]["Type"] == "AWS::IAM::Role"
    # Policies (SAM policy templates or managed policies) would only apply to a role SAM generates.
    assert "Policies" not in props(template, function)
    assert not {"Policies", "Role"} & set(template.get("Globals", {}).get("Function", {}))


def test_the_function_roles_are_the_only_iam_resources(template: dict[str, Any]) -> None:
    iam = {name for name, resource in template["Resources"].items() if resource["Type"].startswith("AWS::IAM::")}
    # No AWS::IAM::Policy or ManagedPolicy adding permissions to a role from outside it, and no shared role.
    assert iam == set(FUNCTION_ROLES.values())


@pytest.mark.parametrize("role", FUNCTION_ROLES.values())
def test_role_is_assumed_by_lambda_only(template: dict[str, Any], role: str) -> None:
    properties = props(template, role)
    assert "ManagedPolicyArns" not in properties
    # A RoleName would make deploys need CAPABILITY_NAMED_IAM (samconfig.toml grants CAPABILITY_IAM).
    assert "RoleName" not in properties
    (statement,) = as_list(properties["AssumeRolePolicyDocument"]["Statement"])
    assert statement["Effect"] == "Allow"
    assert statement["Action"] in ("sts:AssumeRole", ["sts:AssumeRole"])
    assert set(statement["Principal"]) == {"Service"}
    assert as_list(statement["Principal"]["Service"]) == ["lambda.amazonaws.com"]


@pytest.mark.parametrize("role", FUNCTION_ROLES.values())
def test_role_grants_exactly_its_actions_on_exact_arns(template: dict[str, Any], role: str) -> None:
    assert role_grants(template, role) == EXPECTED_GRANTS[role]


@pytest.mark.parametrize(("function", "role"), FUNCTION_ROLES.items())
def test_role_writes_logs_to_its_functions_group_only(template: dict[str, Any], function: str, role: str) -> None:
    log_group = props(template, function)["LoggingConfig"]["LogGroup"]["Ref"]
    logs = {key for key, actions in role_grants(template, role).items() if any(a.startswith("logs:") for a in actions)}
    # A log group's Arn attribute ends in ":*", so it covers arn:...:log-group:NAME:log-stream:*.
    assert logs == {f"!GetAtt {log_group}.Arn"}


@pytest.mark.parametrize(("function", "role"), FUNCTION_ROLES.items())
def test_sqs_event_source_can_poll_its_queue(template: dict[str, Any], function: str, role: str) -> None:
    grants = role_grants(template, role)
    for event in props(template, function).get("Events", {}).values():
        if event["Type"] == "SQS":
            queue = arn_reference(template, event["Properties"]["Queue"])
            assert grants.get(queue, set()) >= SQS_EVENT_SOURCE, f"{function}: the mapping cannot poll {queue}"


def test_no_wildcard_permissions_anywhere(template: dict[str, Any]) -> None:
    for node in walk(template["Resources"]):
        if "Statement" not in node:
            continue
        for statement in as_list(node["Statement"]):
            if statement.get("Effect") == "Deny":
                continue  # a wildcard in a Deny takes more away (the archive bucket's TLS-only policy)
            actions = as_list(statement.get("Action", []))
            assert not any("*" in action for action in actions), statement
            if "*" in as_list(statement.get("Resource", [])):
                assert set(actions) <= XRAY_ACTIONS, f"Resource * is only for X-Ray's actions: {statement!r}"


# ---------------------------------------------------------------------------------------------- webhook API
def test_webhook_api_is_an_http_api_with_throttling_parameters(template: dict[str, Any]) -> None:
    assert template["Resources"]["WebhookApi"]["Type"] == "AWS::Serverless::HttpApi"
    throttling = props(template, "WebhookApi")["DefaultRouteSettings"]
    assert parameter_of(template, throttling["ThrottlingBurstLimit"])["Default"] == 200
    assert parameter_of(template, throttling["ThrottlingRateLimit"])["Default"] == 100


def test_receiver_serves_the_webhook_routes(template: dict[str, Any]) -> None:
    events = props(template, "ReceiverFunction")["Events"].values()
    assert all(event["Type"] == "HttpApi" for event in events)
    assert all(event["Properties"]["ApiId"] == ref("WebhookApi") for event in events)
    # Payload format 2.0 is the HTTP API default; the receiver parses 2.0 events.
    assert all(event["Properties"].get("PayloadFormatVersion", "2.0") == "2.0" for event in events)
    routes = {(event["Properties"]["Method"], event["Properties"]["Path"]) for event in events}
    assert routes == {("POST", "/webhooks"), ("POST", "/webhooks/{source}")}


def test_only_the_receiver_is_reachable_from_outside(template: dict[str, Any]) -> None:
    assert "Events" not in props(template, "ReplayerFunction")
    assert {e["Type"] for e in props(template, "UpdaterFunction")["Events"].values()} == {"SQS"}


# ---------------------------------------------------------------------------------------------- logs
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_its_own_group_with_retention(template: dict[str, Any], function: str) -> None:
    log_group_ref = props(template, function)["LoggingConfig"]["LogGroup"]
    log_group = template["Resources"][log_group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    function_name = props(template, function)["FunctionName"]["Fn::Sub"]
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}
    assert parameter_of(template, log_group["Properties"]["RetentionInDays"])["Default"] == 30


# ---------------------------------------------------------------------------------------------- alarms
# Powertools Metrics: EMF metrics in this namespace, with the dimension service=<POWERTOOLS_SERVICE_NAME>.
NAMESPACE = "hubsync"
SERVICE = [{"Name": "service", "Value": "hubsync"}]
RECEIVER_METRICS = {"WebhookRequests", "EventsAccepted", "EventsRejected", "RequestsRefused", "ReceiverUnavailable"}
UPDATER_METRICS = {
    "EventsReceived",
    "InputsMerged",
    "HubSpotCalls",
    "IsolationCalls",
    "RateLimited",
    "DailyLimitHit",
    "HubSpotAuthFailures",
    "UnprovenInputs",
    "EventsApplied",
    "SupersededValues",
    "RetriedLater",
    "Requeued",
    "DeadLettered",
    "EndToEndLag",
}
# Every alarm notifies this on ALARM and on OK: the operator's topic when given, else the stack's own.
ALARM_TOPIC = {"Fn::If": ["HasAlarmTopic", ref("AlarmTopicArn"), ref("AlarmTopic")]}


class AlarmSpec(NamedTuple):
    namespace: str
    metric: str
    dimensions: list[dict[str, Any]]
    statistic: str
    comparison: str
    threshold: Any  # a number, or a !Ref to the parameter that sets it


AT_LEAST = "GreaterThanOrEqualToThreshold"
EXPECTED_ALARMS = {
    "DeadLetterQueueNotEmptyAlarm": AlarmSpec(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        [{"Name": "QueueName", "Value": get_att("DeadLetterQueue", "QueueName")}],
        "Maximum",
        "GreaterThanThreshold",
        0,
    ),
    "OldestMessageAgeAlarm": AlarmSpec(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": get_att("EventQueue", "QueueName")}],
        "Maximum",
        "GreaterThanThreshold",
        ref("OldestMessageAgeAlarmSeconds"),
    ),
    "DailyLimitAlarm": AlarmSpec(NAMESPACE, "DailyLimitHit", SERVICE, "Sum", AT_LEAST, 1),
    "HubSpotAuthAlarm": AlarmSpec(NAMESPACE, "HubSpotAuthFailures", SERVICE, "Sum", AT_LEAST, 1),
    # The 5xx senders saw: the receiver's own 503s and API Gateway's answers to its crashes and timeouts.
    "ReceiverErrorsAlarm": AlarmSpec(
        "AWS/ApiGateway",
        "5xx",
        [{"Name": "ApiId", "Value": ref("WebhookApi")}, {"Name": "Stage", "Value": "$default"}],
        "Sum",
        AT_LEAST,
        ref("ReceiverErrorAlarmThreshold"),
    ),
    # The handler never raises for one message: any invocation error is a crash or a timeout.
    "UpdaterErrorsAlarm": AlarmSpec(
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": ref("UpdaterFunction")}], "Sum", AT_LEAST, 1
    ),
    # Retention (test_template_retention.py): dead letters nobody replayed, and archiver runs that failed.
    "DeadLetterQueueOldestAgeAlarm": AlarmSpec(
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": get_att("DeadLetterQueue", "QueueName")}],
        "Maximum",
        "GreaterThanThreshold",
        ref("DlqOldestAgeAlarmSeconds"),
    ),
    "ArchiverErrorsAlarm": AlarmSpec(
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": ref("ArchiverFunction")}], "Sum", AT_LEAST, 1
    ),
    # Scheduled runs Lambda gave up (also those throttled until they expired, which Errors does not count).
    "ArchiverRunsDroppedAlarm": AlarmSpec(
        "AWS/Lambda",
        "AsyncEventsDropped",
        [{"Name": "FunctionName", "Value": ref("ArchiverFunction")}],
        "Sum",
        AT_LEAST,
        1,
    ),
}


def test_the_alarm_table_covers_every_alarm(template: dict[str, Any]) -> None:
    assert set(resources_of_type(template, "AWS::CloudWatch::Alarm")) == set(EXPECTED_ALARMS)


@pytest.mark.parametrize(("alarm", "spec"), EXPECTED_ALARMS.items())
def test_alarm_watches_its_metric(template: dict[str, Any], alarm: str, spec: AlarmSpec) -> None:
    properties = props(template, alarm)
    assert "Metrics" not in properties  # one metric, no metric math
    watched = AlarmSpec(
        properties["Namespace"],
        properties["MetricName"],
        properties["Dimensions"],
        properties["Statistic"],
        properties["ComparisonOperator"],
        properties["Threshold"],
    )
    assert watched == spec
    assert (properties["Period"], properties["EvaluationPeriods"]) == (300, 1)
    assert properties["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("alarm", EXPECTED_ALARMS)
def test_alarm_notifies_the_alarm_topic(template: dict[str, Any], alarm: str) -> None:
    properties = props(template, alarm)
    assert properties["AlarmActions"] == [ALARM_TOPIC]
    assert properties["OKActions"] == [ALARM_TOPIC]
    assert properties["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")


def test_alarm_names_are_distinct(template: dict[str, Any]) -> None:
    names = [props(template, alarm)["AlarmName"]["Fn::Sub"] for alarm in EXPECTED_ALARMS]
    assert len(set(names)) == len(names)


def test_alarms_on_application_metrics_select_the_powertools_service(template: dict[str, Any]) -> None:
    env = function_environment(template, "UpdaterFunction")
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    for function in FUNCTIONS:
        assert function_environment(template, function)["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    own = [spec for spec in EXPECTED_ALARMS.values() if spec.namespace == NAMESPACE]
    assert own and all(spec.metric in UPDATER_METRICS for spec in own)
    # Powertools adds service=<POWERTOOLS_SERVICE_NAME> to every metric: an alarm without it matches nothing.
    assert all(spec.dimensions == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}] for spec in own)


@pytest.mark.parametrize(
    ("name", "default", "minimum", "maximum"),
    [
        ("OldestMessageAgeAlarmSeconds", 900, 60, 1036800),
        ("DlqOldestAgeAlarmSeconds", 864000, 3600, 1080000),
        ("ReceiverErrorAlarmThreshold", 5, 1, 100000),
    ],
)
def test_alarm_threshold_is_a_parameter(
    template: dict[str, Any], name: str, default: int, minimum: int, maximum: int
) -> None:
    parameter = template["Parameters"][name]
    assert parameter["Type"] == "Number"
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (default, minimum, maximum)


def test_oldest_message_alarm_can_fire_before_the_queue_drops_events(template: dict[str, Any]) -> None:
    largest = template["Parameters"]["OldestMessageAgeAlarmSeconds"]["MaxValue"]
    assert largest <= props(template, "EventQueue")["MessageRetentionPeriod"]


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_sections() -> dict[str, str]:
    """The runbook's sections by their GitHub anchor, each with its text up to the next heading."""
    sections: dict[str, str] = {}
    anchor = ""
    for line in RUNBOOK_PATH.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            anchor = github_anchor(line.lstrip("#"))
            sections[anchor] = ""
        elif anchor:
            sections[anchor] += line + "\n"
    return sections


@pytest.mark.parametrize("alarm", EXPECTED_ALARMS)
def test_alarm_description_points_to_its_runbook_section(template: dict[str, Any], alarm: str) -> None:
    description = props(template, alarm)["AlarmDescription"]
    assert len(description) <= 1024  # CloudWatch's limit
    anchor = alarm.lower()
    assert f"docs/runbook.md#{anchor}" in description
    section = runbook_sections()[anchor]
    assert all(f"**{part}**" in section for part in ("Means", "First checks", "Do"))


RETRY_CAUSES = (
    outcomes.AUTH,
    outcomes.RATE_LIMITED,
    outcomes.DAILY_LIMIT,
    outcomes.LOCKED,
    outcomes.SERVER_ERROR,
    hubspot.TIMEOUT,
    hubspot.CONNECTION,
    outcomes.INCOMPLETE,
    outcomes.BAD_RESPONSE,
    sender.DEADLINE,
    updater.LEASED,
    updater.STATE_UNAVAILABLE,
    sender.CONFIGURATION,
)


@pytest.mark.parametrize("category", dlq.CATEGORIES)
def test_runbook_covers_the_dlq_category(category: str) -> None:
    section = runbook_sections()[github_anchor(category)]
    assert all(f"**{part}**" in section for part in ("Means", "Inspect", "Do"))
    assert f"hubsync dlq ls --stack-name S --category {category}" in section or "hubsync dlq show" in section


def test_runbook_covers_every_retry_cause() -> None:
    section = runbook_sections()[github_anchor(dlq.RETRIES_EXHAUSTED)]
    assert all(f"| `{cause}` |" in section for cause in RETRY_CAUSES)
    assert "hubsync replay --stack-name S --category RETRIES_EXHAUSTED" in section


# ---------------------------------------------------------------------------------------------- alarm topic
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


TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-alarms"


@pytest.mark.parametrize(
    ("topic_arn", "email", "created", "subscribed"),
    [
        ("", "", True, False),
        ("", "oncall@example.com", True, True),
        (TOPIC, "", False, False),
        # The operator's own topic: the stack subscribes no one to it.
        (TOPIC, "oncall@example.com", False, False),
    ],
)
def test_alarm_topic_is_created_only_when_none_is_given(
    template: dict[str, Any], topic_arn: str, email: str, created: bool, subscribed: bool
) -> None:
    values = {"AlarmTopicArn": topic_arn, "AlarmEmail": email}
    for name, value in values.items():
        assert re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)

    def exists(logical_id: str) -> bool:
        condition = template["Resources"][logical_id].get("Condition")
        return condition is None or bool(evaluate(template, {"Condition": condition}, values))

    assert exists("AlarmTopic") is created
    assert exists("AlarmEmailSubscription") is subscribed
    in_use = ref("AlarmTopic") if created else topic_arn
    for alarm in EXPECTED_ALARMS:
        for actions in ("AlarmActions", "OKActions"):
            assert [evaluate(template, action, values) for action in props(template, alarm)[actions]] == [in_use]
    assert evaluate(template, template["Outputs"]["AlarmTopicArnOut"]["Value"], values) == in_use


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AlarmTopicArn", "ops-alarms"),
        ("AlarmTopicArn", "arn:aws:sqs:us-east-1:123456789012:ops-alarms"),
        ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops-alarms.fifo"),  # alarms cannot notify FIFO
        ("AlarmEmail", "oncall"),
        ("AlarmEmail", "on call@example.com"),
    ],
)
def test_alarm_parameter_refuses(template: dict[str, Any], name: str, value: str) -> None:
    assert not re.fullmatch(template["Parameters"][name]["AllowedPattern"], value)


def test_alarm_topic_and_its_email_subscription(template: dict[str, Any]) -> None:
    topic = template["Resources"]["AlarmTopic"]
    assert (topic["Type"], topic["Condition"]) == ("AWS::SNS::Topic", "CreateAlarmTopic")
    # CloudWatch cannot publish to a topic encrypted with the AWS managed key: alarms would be dropped silently.
    assert topic["Properties"].get("KmsMasterKeyId") not in ("alias/aws/sns", "aws/sns")
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert (subscription["Type"], subscription["Condition"]) == ("AWS::SNS::Subscription", "SubscribeAlarmEmail")
    assert subscription["Properties"] == {
        "TopicArn": ref("AlarmTopic"),
        "Protocol": "email",
        "Endpoint": ref("AlarmEmail"),
    }


# ---------------------------------------------------------------------------------------------- dashboard
def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """DashboardBody with each ${...} replaced: parameters by their defaults, the rest by "<name>"."""
    text = props(template, "Dashboard")["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str), "DashboardBody: a !Sub of a JSON string"

    def dummy(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in template["Parameters"]:
            return str(template["Parameters"][name]["Default"])
        assert name in PSEUDO_PARAMETERS | {"AWS::StackName"} or name.split(".")[0] in template["Resources"], name
        return f"<{name}>"

    body = json.loads(SUB_VARIABLE.sub(dummy, text))
    assert isinstance(body, dict)
    return body


def dashboard_metrics(template: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric of every metric widget."""
    metrics = []
    for widget in dashboard_body(template)["widgets"]:
        if widget["type"] != "metric":
            continue
        assert widget["properties"]["region"] == "<AWS::Region>"
        for entry in widget["properties"]["metrics"]:
            names = [item for item in entry if isinstance(item, str)]
            assert entry[: len(names)] == names and len(entry) - len(names) <= 1, entry  # [ns, name, dims..., {opts}]
            namespace, metric, *dimensions = names
            assert len(dimensions) % 2 == 0, entry
            metrics.append((namespace, metric, dict(zip(dimensions[::2], dimensions[1::2], strict=True))))
    return metrics


def test_dashboard_is_named_after_the_stack(template: dict[str, Any]) -> None:
    assert template["Resources"]["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"
    assert props(template, "Dashboard")["DashboardName"] == {"Fn::Sub": "${AWS::StackName}"}


def test_dashboard_metrics_are_hubsync_or_aws_metrics(template: dict[str, Any]) -> None:
    for namespace, metric, dimensions in dashboard_metrics(template):
        assert namespace == NAMESPACE or namespace.startswith("AWS/"), namespace
        if namespace == NAMESPACE:
            assert metric in RECEIVER_METRICS | UPDATER_METRICS, metric
            assert dimensions == {"service": "hubsync"}, metric


def test_dashboard_shows_every_application_metric(template: dict[str, Any]) -> None:
    shown = {metric for namespace, metric, _ in dashboard_metrics(template) if namespace == NAMESPACE}
    assert shown == RECEIVER_METRICS | UPDATER_METRICS


def test_dashboard_watches_this_stacks_resources(template: dict[str, Any]) -> None:
    watched: dict[str, set[str]] = {}
    for namespace, _, dimensions in dashboard_metrics(template):
        for name, value in dimensions.items():
            watched.setdefault(f"{namespace} {name}", set()).add(value)
    assert watched == {
        "hubsync service": {"hubsync"},
        "AWS/SQS QueueName": {"<EventQueue.QueueName>", "<DeadLetterQueue.QueueName>"},
        "AWS/ApiGateway ApiId": {"<WebhookApi>"},
        "AWS/ApiGateway Stage": {"$default"},
        "AWS/Lambda FunctionName": {f"<{function}>" for function in FUNCTIONS},
    }


def test_dashboard_shows_every_alarms_state(template: dict[str, Any]) -> None:
    widgets = [w for w in dashboard_body(template)["widgets"] if w["type"] == "alarm"]
    shown = {alarm for widget in widgets for alarm in widget["properties"]["alarms"]}
    assert shown == {f"<{alarm}.Arn>" for alarm in EXPECTED_ALARMS}


# ---------------------------------------------------------------------------------------------- outputs
EXPECTED_OUTPUTS = {
    "WebhookUrl": {"Fn::Sub": "https://${WebhookApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/webhooks"},
    "QueueUrl": ref("EventQueue"),
    "QueueArn": get_att("EventQueue", "Arn"),
    "DeadLetterQueueUrl": ref("DeadLetterQueue"),
    "DeadLetterQueueArn": get_att("DeadLetterQueue", "Arn"),
    "HubSpotTokenSecretArn": ref("HubSpotTokenSecret"),
    "WebhookSecretArn": ref("WebhookSecret"),
    "IdempotencyTableName": ref("IdempotencyTable"),
    "RecordStateTableName": ref("RecordStateTable"),
    "ReceiverFunctionName": ref("ReceiverFunction"),
    "UpdaterFunctionName": ref("UpdaterFunction"),
    "ReplayerFunctionName": ref("ReplayerFunction"),
    # The SQS event source mapping SAM generates for UpdaterFunction's QueueEvent (pause/resume).
    "UpdaterEventSourceMappingId": ref("UpdaterFunctionQueueEvent"),
    "DashboardUrl": {
        "Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home"
        "?region=${AWS::Region}#dashboards:name=${Dashboard}"
    },
    "AlarmTopicArnOut": ALARM_TOPIC,
}


@pytest.mark.parametrize(("output", "value"), EXPECTED_OUTPUTS.items())
def test_output(template: dict[str, Any], output: str, value: Any) -> None:
    assert template["Outputs"][output]["Value"] == value

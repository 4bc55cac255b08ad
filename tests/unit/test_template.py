"""template.yaml is the source of truth: these tables check what the code and the operators rely on in it.

This module: the functions (runtime, architecture, handlers, timeouts, the layer), their configuration and
parameters, secrets kept out of both, and the outputs. Queues and tables: test_template_queues.py; roles and the
webhook API: test_template_access.py; logs, alarms and the dashboard: test_template_alarms.py; the optional key:
test_template_security.py; reserved concurrency: test_template_concurrency.py; checkov: test_template_checkov.py;
DLQ retention and the archive: test_template_retention.py.

The template is read with the local stack's reader (tests/support/template.py), without SAM or cfn-lint (those
run in `make template`), so the checks are instant and offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubsync_local.template import load_template as read_template
from support.template import (
    ALARM_TOPIC,
    ARCHITECTURE,
    FUNCTIONS,
    ROOT,
    RUNTIME,
    function_environment,
    function_setting,
    get_att,
    load_template,
    parameter_of,
    ref,
    resolve,
    resources_of_type,
)


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

"""template.yaml's access: each function's own role grants exactly the actions it calls on exact ARNs (the
expected grants are in tests/support/template.py), and only the receiver is reachable from outside, by the HTTP API.
"""

from __future__ import annotations

from typing import Any

import pytest

from support.template import (
    EXPECTED_GRANTS,
    FUNCTION_ROLES,
    SQS_EVENT_SOURCE,
    XRAY_ACTIONS,
    arn_reference,
    as_list,
    get_att,
    parameter_of,
    props,
    ref,
    role_grants,
    walk,
)


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

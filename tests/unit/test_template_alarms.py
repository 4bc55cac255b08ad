"""template.yaml's observability: each function's log group, the alarms (metric, threshold parameter, topic,
runbook section), the alarm topic and its subscription, and the dashboard.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import pytest

from hubsync.deadletters import dlq
from hubsync.delivery import hubspot, outcomes, sender, updater
from support.template import (
    ALARM_TOPIC,
    FUNCTIONS,
    PSEUDO_PARAMETERS,
    RUNBOOK_PATH,
    SUB_VARIABLE,
    evaluate,
    function_environment,
    get_att,
    parameter_of,
    props,
    ref,
    resources_of_type,
)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_its_own_group_with_retention(template: dict[str, Any], function: str) -> None:
    log_group_ref = props(template, function)["LoggingConfig"]["LogGroup"]
    log_group = template["Resources"][log_group_ref["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    function_name = props(template, function)["FunctionName"]["Fn::Sub"]
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{function_name}"}
    assert parameter_of(template, log_group["Properties"]["RetentionInDays"])["Default"] == 30


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

"""template.yaml's queues and tables: the updater's event source mapping, the queue and its DLQ (redrive,
retention, visibility), the idempotency table and the record state table, each as the code expects them.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.delivery.recordstate import DEFAULT_TTL_SECONDS, KEY_ATTRIBUTE, TTL_ATTRIBUTE
from support.template import (
    evaluate,
    function_environment,
    function_setting,
    get_att,
    parameter_of,
    props,
    ref,
    resolve,
    updater_queue_event,
)


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

"""Nothing expires unseen: retention and sizes of both queues, the alarms before expiry, and the archive
(bucket, schedule, role). Limits are SQS's and S3's documented ones, written here, not taken from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubsync import config
from hubsync.deadletters.archive import archiver
from hubsync.deadletters.archive.replayer import STALE_AFTER_SECONDS
from hubsync.delivery.recordstate import DEFAULT_TTL_SECONDS
from hubsync_local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]

# SQS: MessageRetentionPeriod 60 s to 14 days, MaximumMessageSize 1 KiB to 1 MiB.
SQS_MAX_RETENTION = 14 * 86_400
SQS_MAX_MESSAGE_SIZE = 1024 * 1024
QUEUES = ("EventQueue", "DeadLetterQueue")
SCHEDULE_HOURS = 6
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Lambda's asynchronous invocation settings: MaximumRetryAttempts 0-2, MaximumEventAgeInSeconds 60-21600.
LAMBDA_MAX_ASYNC_RETRIES = 2
LAMBDA_EVENT_AGE_RANGE = (60, 21_600)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties = template["Resources"][logical_id].get("Properties", {})
    assert isinstance(properties, dict)
    return properties


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parameter(template: dict[str, Any], name: str) -> dict[str, Any]:
    value = template["Parameters"][name]
    assert isinstance(value, dict)
    return value


# ---------------------------------------------------------------------------------------------- queues
@pytest.mark.parametrize("queue", QUEUES)
def test_queue_keeps_messages_the_sqs_maximum(template: dict[str, Any], queue: str) -> None:
    assert props(template, queue)["MessageRetentionPeriod"] == SQS_MAX_RETENTION


@pytest.mark.parametrize("queue", QUEUES)
def test_queue_sets_the_largest_message_size_explicitly(template: dict[str, Any], queue: str) -> None:
    assert props(template, queue)["MaximumMessageSize"] == SQS_MAX_MESSAGE_SIZE


def test_visibility_and_redrive_stay_as_they_were(template: dict[str, Any]) -> None:
    queue = props(template, "EventQueue")
    assert queue["VisibilityTimeout"] == 1020
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }


# ---------------------------------------------------------------------------------------------- alarms
@pytest.mark.parametrize(
    ("alarm", "queue", "threshold"),
    [
        ("OldestMessageAgeAlarm", "EventQueue", "OldestMessageAgeAlarmSeconds"),
        ("DeadLetterQueueOldestAgeAlarm", "DeadLetterQueue", "DlqOldestAgeAlarmSeconds"),
    ],
)
def test_oldest_age_alarm_fires_before_the_queue_expires_messages(
    template: dict[str, Any], alarm: str, queue: str, threshold: str
) -> None:
    properties = props(template, alarm)
    assert properties["Namespace"] == "AWS/SQS" and properties["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert properties["Threshold"] == {"Ref": threshold}
    limit = parameter(template, threshold)
    assert limit["Type"] == "Number" and limit["MinValue"] <= limit["Default"] <= limit["MaxValue"]
    # Even the largest threshold leaves at least a day (and an alarm period) to act before SQS deletes.
    assert limit["MaxValue"] + properties["Period"] <= props(template, queue)["MessageRetentionPeriod"] - 86_400


def test_alarm_thresholds_default_to_an_hour_scale_and_ten_days(template: dict[str, Any]) -> None:
    assert parameter(template, "OldestMessageAgeAlarmSeconds")["Default"] <= 3600
    assert parameter(template, "DlqOldestAgeAlarmSeconds")["Default"] == 10 * 86_400


def test_the_dlq_alarm_fires_before_the_archiver_takes_the_message(template: dict[str, Any]) -> None:
    assert (
        parameter(template, "DlqOldestAgeAlarmSeconds")["Default"]
        < parameter(template, "ArchiveAfterSeconds")["Default"]
    )


def test_archiver_failures_alarm(template: dict[str, Any]) -> None:
    properties = props(template, "ArchiverErrorsAlarm")
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/Lambda", "Errors")
    assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ArchiverFunction"}}]
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and properties["Threshold"] == 1


@pytest.mark.parametrize("name", ["DlqOldestAgeAlarmSeconds", "ArchiveAfterSeconds", "ArchiveRetentionDays"])
def test_retention_parameter_is_constrained_and_grouped(template: dict[str, Any], name: str) -> None:
    value = parameter(template, name)
    assert value["Type"] == "Number" and {"MinValue", "MaxValue", "Default", "Description"} <= set(value)
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert sum(name in group["Parameters"] for group in groups) == 1


# ---------------------------------------------------------------------------------------------- layer
def test_layer_description_names_what_it_ships(template: dict[str, Any]) -> None:
    description = props(template, "CommonLayer")["Description"]
    assert len(description) <= 256  # Lambda's limit for a layer version's description
    assert "hubsync" in description
    requirements = (ROOT / "layers/common/requirements.txt").read_text(encoding="utf-8")
    names = [line.split("==")[0].strip() for line in requirements.splitlines() if line and not line.startswith("#")]
    assert names, "requirements.txt pins the layer's runtime dependencies"
    assert all(name in description for name in names), (names, description)


# ---------------------------------------------------------------------------------------------- bucket
def bucket(template: dict[str, Any]) -> dict[str, Any]:
    resource = template["Resources"]["ArchiveBucket"]
    assert resource["Type"] == "AWS::S3::Bucket"
    return props(template, "ArchiveBucket")


def bucket_encryption(values: dict[str, str]) -> dict[str, Any]:
    """The bucket's one encryption rule as CloudFormation would deploy it for these parameter values."""
    local = Template.load(parameters=values)
    (rule,) = local.resolve(local.properties("ArchiveBucket")["BucketEncryption"])["ServerSideEncryptionConfiguration"]
    assert isinstance(rule, dict)
    return rule


def test_bucket_is_encrypted_with_s3_managed_keys_by_default() -> None:
    # SSE-S3: no caller needs a KMS permission. A bucket key only applies to SSE-KMS.
    assert bucket_encryption({}) == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


def test_bucket_is_encrypted_with_the_customer_key_when_given() -> None:
    # SSE-KMS with the key itself (S3 would otherwise use aws/s3), and a bucket key: S3 then asks KMS for a
    # bucket-level key from time to time, not a data key per object.
    assert bucket_encryption({"KmsKeyArn": KEY}) == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY},
        "BucketKeyEnabled": True,
    }


def test_bucket_blocks_every_kind_of_public_access(template: dict[str, Any]) -> None:
    assert bucket(template)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_owner_owns_every_object(template: dict[str, Any]) -> None:
    assert bucket(template)["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_outlives_the_stack_and_needs_no_global_name(template: dict[str, Any]) -> None:
    resource = template["Resources"]["ArchiveBucket"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert "BucketName" not in bucket(template)


def test_bucket_lifecycle_expires_objects_and_aborts_uploads(template: dict[str, Any]) -> None:
    (rule,) = bucket(template)["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "ArchiveRetentionDays"}
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert not {"Prefix", "Filter"} & set(rule)  # every object of the bucket
    days = parameter(template, "ArchiveRetentionDays")
    assert 1 <= days["MinValue"] <= days["Default"] <= days["MaxValue"]


def test_bucket_policy_refuses_plain_http(template: dict[str, Any]) -> None:
    policy = template["Resources"]["ArchiveBucketPolicy"]
    assert policy["Type"] == "AWS::S3::BucketPolicy"
    assert props(template, "ArchiveBucketPolicy")["Bucket"] == {"Ref": "ArchiveBucket"}
    (statement,) = as_list(props(template, "ArchiveBucketPolicy")["PolicyDocument"]["Statement"])
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ArchiveBucket", "Arn"]},
        {"Fn::Sub": "${ArchiveBucket.Arn}/*"},
    ]


# ---------------------------------------------------------------------------------------------- schedule
def test_archiver_runs_on_a_schedule_only(template: dict[str, Any]) -> None:
    events = props(template, "ArchiverFunction")["Events"]
    (event,) = events.values()
    assert event["Type"] == "Schedule"  # an EventBridge rule: no extra IAM role
    assert event["Properties"]["Schedule"] == f"rate({SCHEDULE_HOURS} hours)"
    assert event["Properties"]["Enabled"] is True


def test_archiver_takes_every_message_before_sqs_deletes_it(template: dict[str, Any]) -> None:
    after = parameter(template, "ArchiveAfterSeconds")
    retention = props(template, "DeadLetterQueue")["MessageRetentionPeriod"]
    timeout = props(template, "ArchiverFunction")["Timeout"]
    assert timeout <= 900  # Lambda's limit
    # A message due just after a run is seen by the next one: at least two runs fall before it expires.
    assert after["MaxValue"] + 2 * SCHEDULE_HOURS * 3600 + timeout <= retention
    assert after["Default"] == config.DEFAULT_ARCHIVE_AFTER_SECONDS == archiver.DEFAULT_ARCHIVE_AFTER_SECONDS


def test_archiver_environment(template: dict[str, Any]) -> None:
    variables = props(template, "ArchiverFunction")["Environment"]["Variables"]
    assert variables == {
        config.DLQ_URL: {"Ref": "DeadLetterQueue"},
        config.ARCHIVE_BUCKET: {"Ref": "ArchiveBucket"},
        config.ARCHIVE_AFTER_SECONDS: {"Ref": "ArchiveAfterSeconds"},
    }


def test_stale_archive_replays_are_refused_by_the_record_state_ttl() -> None:
    # Past the record state's TTL the updater cannot know a newer value was applied since.
    assert STALE_AFTER_SECONDS == DEFAULT_TTL_SECONDS


# ---------------------------------------------------------------------------------------------- role
def test_archiver_role_grants_exactly_what_the_archiver_calls(template: dict[str, Any]) -> None:
    assert props(template, "ArchiverFunction")["Role"] == {"Fn::GetAtt": ["ArchiverRole", "Arn"]}
    # The one policy besides archiver-kms, which exists only with KmsKeyArn (test_template_security.py).
    policy, kms = props(template, "ArchiverRole")["Policies"]
    assert kms["Fn::If"][0] == "UseCustomerKey" and kms["Fn::If"][1]["PolicyName"] == "archiver-kms"
    grants = {
        (action, str(resource))
        for statement in as_list(policy["PolicyDocument"]["Statement"])
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    dlq = str({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]})
    objects = str({"Fn::Sub": "arn:${AWS::Partition}:s3:::${ArchiveBucket}/*"})
    logs = str({"Fn::GetAtt": ["ArchiverLogGroup", "Arn"]})
    failures = str({"Fn::GetAtt": ["ArchiverFailureQueue", "Arn"]})
    assert grants == {
        ("sqs:SendMessage", failures),
        ("sqs:ReceiveMessage", dlq),
        ("sqs:DeleteMessage", dlq),
        ("sqs:ChangeMessageVisibility", dlq),
        ("s3:PutObject", objects),
        ("logs:CreateLogStream", logs),
        ("logs:PutLogEvents", logs),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


# ---------------------------------------------------------------------------------------------- failed runs
def test_a_run_lambda_gives_up_lands_in_a_queue_of_this_stack(template: dict[str, Any]) -> None:
    # The schedule invokes asynchronously: without an on-failure destination Lambda drops a run it gave up.
    invoke_config = props(template, "ArchiverFunction")["EventInvokeConfig"]
    on_failure = invoke_config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["ArchiverFailureQueue", "Arn"]}}
    assert template["Resources"]["ArchiverFailureQueue"]["Type"] == "AWS::SQS::Queue"
    # Lambda retries a failed run (a transient S3 or SQS fault) within its own limits; a throttled one is kept
    # no longer than the schedule's interval, after which the next run has been invoked anyway.
    assert 1 <= invoke_config["MaximumRetryAttempts"] <= LAMBDA_MAX_ASYNC_RETRIES
    low, high = LAMBDA_EVENT_AGE_RANGE
    assert low <= invoke_config["MaximumEventAgeInSeconds"] <= min(high, SCHEDULE_HOURS * 3600)
    assert "OnSuccess" not in invoke_config["DestinationConfig"]


def test_the_failed_runs_queue_keeps_records_the_sqs_maximum(template: dict[str, Any]) -> None:
    queue = props(template, "ArchiverFailureQueue")
    assert queue["MessageRetentionPeriod"] == SQS_MAX_RETENTION
    assert queue["MaximumMessageSize"] == SQS_MAX_MESSAGE_SIZE
    assert "RedrivePolicy" not in queue  # nothing consumes it: the records wait for an operator


def test_a_dropped_run_raises_an_alarm(template: dict[str, Any]) -> None:
    # AsyncEventsDropped counts the events Lambda gave up, including those it sent to the destination and those
    # throttled until they expired (which Errors does not count).
    properties = props(template, "ArchiverRunsDroppedAlarm")
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/Lambda", "AsyncEventsDropped")
    assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ArchiverFunction"}}]
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold" and properties["Threshold"] == 1


def test_outputs_name_the_bucket_and_the_function(template: dict[str, Any]) -> None:
    assert template["Outputs"]["ArchiveBucketName"]["Value"] == {"Ref": "ArchiveBucket"}
    assert template["Outputs"]["ArchiverFunctionName"]["Value"] == {"Ref": "ArchiverFunction"}

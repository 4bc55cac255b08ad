"""template.yaml's reserved concurrency (ReserveConcurrency), with and without it as CloudFormation would deploy
each, and no function invoked asynchronously without a failure destination.
"""

from __future__ import annotations

from typing import Any

from support.template import (
    deployed,
    function_setting,
    props,
    ref,
    resources_of_type,
    updater_queue_event,
)


def test_reserve_concurrency_parameter(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["ReserveConcurrency"]
    assert (parameter["Type"], parameter["Default"], parameter["AllowedValues"]) == (
        "String",
        "true",
        ["true", "false"],
    )


def reserved(template: dict[str, Any], function: str) -> Any:
    return function_setting(template, function, "ReservedConcurrentExecutions")


def test_updater_reserves_exactly_its_mapping_concurrency(template: dict[str, Any]) -> None:
    on = deployed(template, {"ReserveConcurrency": "true"})
    # The same parameter as ScalingConfig.MaximumConcurrency: never below it (which would throttle the mapping and
    # spend receives), never above (which would hold account capacity the mapping cannot use).
    assert reserved(on, "UpdaterFunction") == updater_queue_event(on)["ScalingConfig"]["MaximumConcurrency"]
    assert reserved(on, "UpdaterFunction") == ref("UpdaterMaxConcurrency")
    assert reserved(deployed(template, {"ReserveConcurrency": "false"}), "UpdaterFunction") is None


def test_replayer_runs_one_at_a_time(template: dict[str, Any]) -> None:
    assert reserved(deployed(template, {"ReserveConcurrency": "true"}), "ReplayerFunction") == 1
    assert reserved(deployed(template, {"ReserveConcurrency": "false"}), "ReplayerFunction") is None


def test_archiver_runs_one_at_a_time(template: dict[str, Any]) -> None:
    # Scheduled runs, their retries and runs invoked by hand never overlap (the replayer's rule, for the same reason).
    assert reserved(deployed(template, {"ReserveConcurrency": "true"}), "ArchiverFunction") == 1
    assert reserved(deployed(template, {"ReserveConcurrency": "false"}), "ArchiverFunction") is None


def test_only_the_receiver_has_no_reservation(template: dict[str, Any]) -> None:
    # The scope of .checkov.yaml's CKV_AWS_115 skip: a function added later decides, and says so here.
    on = deployed(template, {"ReserveConcurrency": "true"})
    unreserved = {f for f in resources_of_type(on, "AWS::Serverless::Function") if reserved(on, f) is None}
    assert unreserved == {"ReceiverFunction"}


# Event sources Lambda invokes asynchronously (where a function DLQ or on-failure destination would apply).
ASYNC_EVENT_TYPES = {
    "S3",
    "SNS",
    "Schedule",
    "ScheduleV2",
    "CloudWatchEvent",
    "EventBridgeRule",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
}


def test_no_function_is_invoked_asynchronously_without_a_failure_destination(template: dict[str, Any]) -> None:
    # The reason of .checkov.yaml's CKV_AWS_116 skip. A scheduled function must keep what fails (DeadLetterQueue
    # or EventInvokeConfig.DestinationConfig.OnFailure): an async invocation that fails after Lambda's retries is
    # otherwise dropped.
    for function in resources_of_type(template, "AWS::Serverless::Function"):
        events = {event["Type"] for event in props(template, function).get("Events", {}).values()}
        if events & ASYNC_EVENT_TYPES:
            properties = props(template, function)
            on_failure = properties.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
            assert properties.get("DeadLetterQueue") or on_failure, f"{function} is invoked asynchronously"

"""Record state errors: DynamoDB unreachable or refusing, through moto's server, and the paths moto cannot reach
(transaction conflicts, other cancellations, keys that stay unprocessed) with botocore's Stubber.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hubsync.delivery.recordstate import (
    RecordStateStore,
    RecordStateUnavailableError,
)
from hubsync_local.aws import REGION
from support.aws import unreachable_dynamodb
from support.recordstate import LEASE_SECONDS, R1, R2, START, Clock


def test_missing_table_is_unavailable(dynamodb: Any, clock: Clock) -> None:
    store = RecordStateStore("no-such-table", "run-a", client=dynamodb, clock=clock)
    with pytest.raises(RecordStateUnavailableError) as caught:
        store.acquire([R1], START + LEASE_SECONDS)
    assert caught.value.details == {"operation": "TransactWriteItems", "code": "ResourceNotFoundException"}
    with pytest.raises(RecordStateUnavailableError, match="BatchGetItem"):
        store.read([R1])
    with pytest.raises(RecordStateUnavailableError):
        store.commit({R1: {"name": 1}}, release=[R1])
    with pytest.raises(RecordStateUnavailableError):
        store.release([R1])


def test_unreachable_endpoint_is_unavailable(clock: Clock) -> None:
    closed = unreachable_dynamodb(retries={"max_attempts": 1})
    store = RecordStateStore("t", "run-a", client=closed, clock=clock)
    with pytest.raises(RecordStateUnavailableError) as caught:
        store.read([R1])
    assert caught.value.details["code"] == "EndpointConnectionError"


def test_builds_its_own_client_only_when_none_is_given(aws_env: str, table: str) -> None:
    # aws_env points boto3 at moto (AWS_ENDPOINT_URL), so the client built here reaches the same table.
    store = RecordStateStore(table, "run-a")
    assert store.acquire([R1], store._clock() + LEASE_SECONDS) == {R1}


# moto never reports TransactionConflict or a throttled transaction: botocore's Stubber stands in for DynamoDB.
@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    stub_client = boto3.client(
        "dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(stub_client) as stubber:
        yield stub_client, stubber
        stubber.assert_no_pending_responses()


def cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


def test_commit_retries_after_a_transaction_conflict(
    stubbed: tuple[Any, Stubber], clock: Clock, sleeps: list[float]
) -> None:
    stub_client, stubber = stubbed
    cancelled(stubber, "None", "TransactionConflict")
    stubber.add_response("transact_write_items", {})
    store = RecordStateStore("t", "run-a", client=stub_client, clock=clock, sleep=sleeps.append)
    store.commit({R1: {"name": 1}, R2: {"name": 2}}, release=[R1, R2])
    assert len(sleeps) == 1


def test_acquire_leaves_out_records_in_conflict(stubbed: tuple[Any, Stubber], clock: Clock) -> None:
    stub_client, stubber = stubbed
    cancelled(stubber, "TransactionConflict", "None")
    stubber.add_response("transact_write_items", {})
    store = RecordStateStore("t", "run-a", client=stub_client, clock=clock)
    assert store.acquire([R1, R2], START + LEASE_SECONDS) == {R2}


def test_commit_gives_up_after_repeated_conflicts(stubbed: tuple[Any, Stubber], clock: Clock) -> None:
    stub_client, stubber = stubbed
    for _ in range(4):
        cancelled(stubber, "TransactionConflict")
    store = RecordStateStore("t", "run-a", client=stub_client, clock=clock, sleep=lambda _: None)
    with pytest.raises(RecordStateUnavailableError, match="4 attempts"):
        store.commit({R1: {"name": 1}}, release=[R1])


@pytest.mark.parametrize("code", ["ThrottlingError", "ValidationError", "ProvisionedThroughputExceeded"])
def test_other_cancellations_are_unavailable(stubbed: tuple[Any, Stubber], clock: Clock, code: str) -> None:
    stub_client, stubber = stubbed
    cancelled(stubber, "None", code)
    store = RecordStateStore("t", "run-a", client=stub_client, clock=clock)
    with pytest.raises(RecordStateUnavailableError, match="TransactionCanceledException") as caught:
        store.acquire([R1, R2], START + LEASE_SECONDS)
    assert caught.value.details["reasons"] == ["None", code]


def test_read_gives_up_when_keys_stay_unprocessed(
    stubbed: tuple[Any, Stubber], clock: Clock, sleeps: list[float]
) -> None:
    stub_client, stubber = stubbed
    for _ in range(5):
        stubber.add_response(
            "batch_get_item", {"Responses": {"t": []}, "UnprocessedKeys": {"t": {"Keys": [{"record": {"S": R1}}]}}}
        )
    store = RecordStateStore("t", "run-a", client=stub_client, clock=clock, sleep=sleeps.append)
    with pytest.raises(RecordStateUnavailableError, match="unprocessed"):
        store.read([R1])
    assert sleeps == [0.05, 0.1, 0.2, 0.4, 0.8]

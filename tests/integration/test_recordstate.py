"""Record state (per-property event times and leases) through a real DynamoDB endpoint: moto's server.

What moto's server was checked to do like DynamoDB: conditional Updates inside TransactWriteItems, a
TransactionCanceledException with one CancellationReason per item (with the item when
ReturnValuesOnConditionCheckFailure is ALL_OLD), ConsistentRead BatchGetItem, and UnprocessedKeys once an
answer would pass 16 MB. What it does not: it ignores ClientRequestToken (no idempotent replay), never reports
TransactionConflict or throttling, and its UnprocessedKeys carry the keys alone (DynamoDB returns the whole
request). The few paths moto cannot reach use botocore's Stubber, at the end of this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from hubsync.delivery.recordstate import (
    DEFAULT_TTL_SECONDS,
    LeaseLostError,
    RecordStateStore,
    RecordStateUnavailableError,
    superseded,
)
from hubsync_local.aws import REGION, client
from support.aws import create_table, unreachable_dynamodb

START = 1_700_000_000.0
LEASE_SECONDS = 30.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Calls:
    """Counts the requests a client sends, per operation (the before-send hook, which botocore and the lean
    client both offer, once per request sent: moto answers without retries)."""

    def __init__(self, dynamodb: Any) -> None:
        self.counts: dict[str, int] = {}
        dynamodb.meta.events.register("before-send.dynamodb.*", self._count)

    def _count(self, request: Any, **_: Any) -> None:
        operation = request.headers["X-Amz-Target"]
        name = (operation.decode() if isinstance(operation, bytes) else operation).rsplit(".", 1)[-1]
        self.counts[name] = self.counts.get(name, 0) + 1


@pytest.fixture
def admin(aws_env: str) -> Any:
    """botocore's client, for setting the table up and reading it back."""
    return client("dynamodb", aws_env)


@pytest.fixture(params=["lean", "botocore"])
def dynamodb(request: pytest.FixtureRequest, aws_env: str, admin: Any) -> Any:
    """The client the store is given: the lean one the updater deploys with, and botocore's (a caller's own).
    Both have botocore's calls for set-up and reading back: the lean one through ``admin``."""
    if request.param == "botocore":
        return admin
    from hubsync.dynamodb.client import LeanDynamoDB
    from hubsync.dynamodb.sigv4 import Credentials

    return _WithAdmin(LeanDynamoDB(client("dynamodb", aws_env), Credentials("testing", "testing")), admin)


class _WithAdmin:
    """The lean client for what it has, botocore's for the rest (create_table, put_item, get_item ...)."""

    def __init__(self, lean: Any, admin: Any) -> None:
        self._lean, self._admin = lean, admin
        self.meta = lean.meta

    def transact_write_items(self, **params: Any) -> Any:
        return self._lean.transact_write_items(**params)

    def batch_get_item(self, **params: Any) -> Any:
        return self._lean.batch_get_item(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._admin, name)


@pytest.fixture
def table(dynamodb: Any) -> Iterator[str]:
    name = create_table(dynamodb.meta.endpoint_url, "record-state", "record")
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def store_for(dynamodb: Any, table: str, clock: Clock, sleeps: list[float]) -> Any:
    def make(owner: str) -> RecordStateStore:
        return RecordStateStore(table, owner, client=dynamodb, clock=clock, sleep=sleeps.append)

    return make


def raw(dynamodb: Any, table: str, key: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=table, Key={"record": {"S": key}}, ConsistentRead=True).get(
        "Item", {}
    )
    return item


def lease_owner(dynamodb: Any, table: str, key: str) -> str | None:
    owner: str | None = raw(dynamodb, table, key).get("lease_owner", {}).get("S")
    return owner


def key(n: int) -> str:
    return f"partner_services#my_unique_property_name#{n}"


R1, R2, R3, R4 = key(1), key(2), key(3), key(4)


# ---------------------------------------------------------------------------------------------- round trip
def test_acquire_read_commit_release_round_trip(dynamodb: Any, table: str, store_for: Any) -> None:
    store = store_for("run-a")
    calls = Calls(dynamodb)
    assert store.acquire([R1, R2], START + LEASE_SECONDS) == {R1, R2}
    assert calls.counts == {"TransactWriteItems": 1}, "all free: one transaction"
    assert store.read([R1, R2]) == {}, "records never committed are absent"
    store.commit({R1: {"name": 1_000, "city": 2_000}}, release=[R1, R2])
    assert store.read([R1, R2]) == {R1: {"name": 1_000, "city": 2_000}}
    assert calls.counts == {"TransactWriteItems": 2, "BatchGetItem": 2}
    # The documented item layout; the leases are gone.
    item = raw(dynamodb, table, R1)
    assert set(item) == {"record", "times", "rev", "expiration"}
    assert item["times"] == {"M": {"name": {"N": "1000"}, "city": {"N": "2000"}}}
    assert item["rev"] == {"N": "1"}
    assert item["expiration"] == {"N": str(int(START) + DEFAULT_TTL_SECONDS)}
    assert set(raw(dynamodb, table, R2)) == {"record", "expiration"}, "released without times"


def test_acquire_writes_the_lease_and_the_ttl(dynamodb: Any, table: str, store_for: Any) -> None:
    store_for("run-a").acquire([R1], START + LEASE_SECONDS)
    item = raw(dynamodb, table, R1)
    assert item["lease_owner"] == {"S": "run-a"}
    assert float(item["lease_until"]["N"]) == START + LEASE_SECONDS
    # A lease of a run that dies before committing still expires with the table's TTL.
    assert item["expiration"] == {"N": str(int(START) + DEFAULT_TTL_SECONDS)}


def test_read_and_acquire_ignore_duplicate_keys(store_for: Any) -> None:
    store = store_for("run-a")
    assert store.acquire([R1, R1, R2], START + LEASE_SECONDS) == {R1, R2}
    store.commit({R1: {"name": 5}}, release=[R1, R2, R1])
    assert store.read([R1, R1]) == {R1: {"name": 5}}


def test_empty_calls_touch_nothing(dynamodb: Any, store_for: Any) -> None:
    store = store_for("run-a")
    calls = Calls(dynamodb)
    assert store.acquire([], START + LEASE_SECONDS) == set()
    assert store.read([]) == {}
    store.commit({}, release=[])
    store.release([])
    assert calls.counts == {}


# ---------------------------------------------------------------------------------------------- leases
def test_second_owner_gets_the_free_records_only(dynamodb: Any, table: str, store_for: Any) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    assert a.acquire([R1, R2], START + LEASE_SECONDS) == {R1, R2}
    calls = Calls(dynamodb)
    assert b.acquire([R1, R3, R2, R4], START + LEASE_SECONDS) == {R3, R4}
    assert calls.counts == {"TransactWriteItems": 2}, "cancelled once, then once more without R1 and R2"
    assert [lease_owner(dynamodb, table, k) for k in (R1, R2, R3, R4)] == ["run-a", "run-a", "run-b", "run-b"]


def test_owner_gets_nothing_when_every_record_is_held(dynamodb: Any, store_for: Any) -> None:
    store_for("run-a").acquire([R1, R2], START + LEASE_SECONDS)
    calls = Calls(dynamodb)
    assert store_for("run-b").acquire([R1, R2], START + LEASE_SECONDS) == set()
    assert calls.counts == {"TransactWriteItems": 1}, "nothing left to try again with"


def test_expired_lease_can_be_taken(dynamodb: Any, table: str, store_for: Any, clock: Clock) -> None:
    store_for("run-a").acquire([R1], START + LEASE_SECONDS)
    clock.now = START + LEASE_SECONDS - 1
    assert store_for("run-b").acquire([R1], clock.now + LEASE_SECONDS) == set(), "not expired yet"
    clock.now = START + LEASE_SECONDS
    assert store_for("run-b").acquire([R1], clock.now + LEASE_SECONDS) == {R1}
    assert lease_owner(dynamodb, table, R1) == "run-b"


def test_own_lease_is_taken_again_and_extended(dynamodb: Any, table: str, store_for: Any, clock: Clock) -> None:
    store = store_for("run-a")
    store.acquire([R1], START + LEASE_SECONDS)
    clock.now = START + 10
    assert store.acquire([R1, R2], START + 100) == {R1, R2}
    assert float(raw(dynamodb, table, R1)["lease_until"]["N"]) == START + 100


def test_released_records_are_free_at_once(store_for: Any) -> None:
    a = store_for("run-a")
    a.acquire([R1, R2], START + LEASE_SECONDS)
    a.release([R1, R2])
    assert store_for("run-b").acquire([R1, R2], START + LEASE_SECONDS) == {R1, R2}


def test_release_leaves_alone_a_lease_another_run_took(dynamodb: Any, table: str, store_for: Any, clock: Clock) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R1, R2], START + LEASE_SECONDS)
    clock.now = START + LEASE_SECONDS + 1
    b.acquire([R1], clock.now + LEASE_SECONDS)
    a.release([R1, R2])  # no error: R1 is no longer a's to give up
    assert lease_owner(dynamodb, table, R1) == "run-b"
    assert lease_owner(dynamodb, table, R2) is None


def test_acquire_refuses_more_than_one_transaction_and_past_leases(store_for: Any) -> None:
    store = store_for("run-a")
    with pytest.raises(ValueError, match="at most 100"):
        store.acquire([key(n) for n in range(101)], START + LEASE_SECONDS)
    with pytest.raises(ValueError, match="future"):
        store.acquire([R1], START)


def test_a_hubspot_request_of_100_records_takes_one_transaction_each_way(dynamodb: Any, store_for: Any) -> None:
    store = store_for("run-a")
    keys = [key(n) for n in range(100)]
    calls = Calls(dynamodb)
    assert store.acquire(keys, START + LEASE_SECONDS) == set(keys)
    assert store.read(keys) == {}
    store.commit({k: {"name": 1} for k in keys}, release=keys)
    assert calls.counts == {"TransactWriteItems": 2, "BatchGetItem": 1}


def test_commit_of_more_than_100_records_is_split(dynamodb: Any, store_for: Any) -> None:
    store = store_for("run-a")
    keys = [key(n) for n in range(150)]
    store.acquire(keys[:100], START + LEASE_SECONDS)
    store.acquire(keys[100:], START + LEASE_SECONDS)
    calls = Calls(dynamodb)
    store.commit({k: {"name": 7} for k in keys}, release=keys)
    assert calls.counts == {"TransactWriteItems": 2}
    assert store.read(keys) == {k: {"name": 7} for k in keys}


# ---------------------------------------------------------------------------------------------- times
def test_commit_only_raises_times(store_for: Any) -> None:
    store = store_for("run-a")
    store.acquire([R1], START + LEASE_SECONDS)
    store.read([R1])
    store.commit({R1: {"name": 100, "city": 50}}, release=[R1])
    store.acquire([R1], START + LEASE_SECONDS)
    assert store.read([R1]) == {R1: {"name": 100, "city": 50}}
    # Older, equal and newer times in one commit: only the newer one and the new property are stored.
    store.commit({R1: {"name": 90, "city": 60, "zip": 1}}, release=[R1])
    assert store.read([R1]) == {R1: {"name": 100, "city": 60, "zip": 1}}


def test_commit_without_a_read_merges_on_the_stored_times(dynamodb: Any, store_for: Any) -> None:
    first = store_for("run-a")
    first.acquire([R1], START + LEASE_SECONDS)
    first.commit({R1: {"name": 100, "city": 50}}, release=[R1])
    # Another run that commits without reading first: its guess (no rev) fails the condition, the item comes
    # back with the cancellation, and the second attempt merges on it.
    other = store_for("run-b")
    other.acquire([R1], START + LEASE_SECONDS)
    calls = Calls(dynamodb)
    other.commit({R1: {"name": 90, "zip": 5}}, release=[R1])
    assert calls.counts == {"TransactWriteItems": 2}
    assert other.read([R1]) == {R1: {"name": 100, "city": 50, "zip": 5}}


def test_commit_keeping_the_lease_can_commit_again(dynamodb: Any, table: str, store_for: Any) -> None:
    store = store_for("run-a")
    store.acquire([R1], START + LEASE_SECONDS)
    store.read([R1])
    store.commit({R1: {"name": 1}}, release=[])
    assert lease_owner(dynamodb, table, R1) == "run-a"
    calls = Calls(dynamodb)
    store.commit({R1: {"name": 2}}, release=[R1])  # its own rev was remembered: one transaction
    assert calls.counts == {"TransactWriteItems": 1}
    assert raw(dynamodb, table, R1)["rev"] == {"N": "2"}
    assert store.read([R1]) == {R1: {"name": 2}}


def test_commit_after_a_lost_lease_raises_and_does_not_write(
    dynamodb: Any, table: str, store_for: Any, clock: Clock
) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R1, R2], START + LEASE_SECONDS)
    a.read([R1, R2])
    # a's HubSpot call outlives its lease: b takes R1, applies a newer event and releases it.
    clock.now = START + LEASE_SECONDS + 1
    assert b.acquire([R1], clock.now + LEASE_SECONDS) == {R1}
    b.read([R1])
    b.commit({R1: {"name": 200}}, release=[R1])
    with pytest.raises(LeaseLostError) as caught:
        a.commit({R1: {"name": 300}, R2: {"name": 1}}, release=[R1, R2])
    assert caught.value.keys == [R1]
    assert caught.value.details == {"keys": [R1]}
    assert a.read([R1, R2]) == {R1: {"name": 200}, R2: {"name": 1}}, "R1 untouched, R2 committed"
    assert lease_owner(dynamodb, table, R2) is None


def test_commit_while_another_run_holds_the_lease_leaves_it_alone(
    dynamodb: Any, table: str, store_for: Any, clock: Clock
) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R1], START + LEASE_SECONDS)
    clock.now = START + LEASE_SECONDS + 1
    b.acquire([R1], clock.now + LEASE_SECONDS)
    with pytest.raises(LeaseLostError):
        a.commit({R1: {"name": 300}}, release=[R1])
    assert lease_owner(dynamodb, table, R1) == "run-b"
    assert "times" not in raw(dynamodb, table, R1)


def test_commit_after_an_expired_lease_nobody_took_goes_through(store_for: Any, clock: Clock) -> None:
    store = store_for("run-a")
    store.acquire([R1], START + LEASE_SECONDS)
    clock.now = START + 10 * LEASE_SECONDS  # nobody else took the record, so nobody else wrote it either
    store.commit({R1: {"name": 1}}, release=[R1])
    assert store.read([R1]) == {R1: {"name": 1}}


@pytest.mark.parametrize(
    ("merged", "stored", "expected"),
    [
        ({"name": 10, "city": 20}, {}, set()),
        ({"name": 10}, {"name": 9}, set()),
        ({"name": 10}, {"name": 10}, {"name"}),  # the same event replayed
        ({"name": 10}, {"name": 11}, {"name"}),
        ({"name": 10, "city": 20, "zip": 30}, {"name": 11, "city": 19, "other": 99}, {"name"}),
        ({}, {"name": 1}, set()),
    ],
)
def test_superseded(merged: dict[str, int], stored: dict[str, int], expected: set[str]) -> None:
    assert superseded(merged, stored) == expected


# ---------------------------------------------------------------------------------------------- the read spared
def test_an_acquire_that_proves_what_is_remembered_spares_the_read(dynamodb: Any, store_for: Any) -> None:
    a = store_for("run-a")
    a.acquire([R1, R2], START + LEASE_SECONDS)
    assert a.read([R1, R2]) == {}
    a.commit({R1: {"name": 10}}, release=[R1, R2])
    calls = Calls(dynamodb)
    assert a.acquire([R1, R2], START + LEASE_SECONDS) == {R1, R2}
    assert a.read([R1, R2]) == {R1: {"name": 10}}
    assert calls.counts == {"TransactWriteItems": 1}, "the acquire named the revs: nothing to read"


def test_a_commit_by_another_run_since_is_found_by_the_acquire(dynamodb: Any, store_for: Any, clock: Clock) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R1], START + LEASE_SECONDS)
    a.read([R1])
    a.commit({R1: {"name": 10}}, release=[R1])
    assert b.acquire([R1], START + LEASE_SECONDS) == {R1}
    assert b.read([R1]) == {R1: {"name": 10}}
    b.commit({R1: {"name": 20, "other": 5}}, release=[R1])
    calls = Calls(dynamodb)
    # A remembers rev 1; B made it 2. The acquire fails on it, learns the item, and goes through on the new rev.
    assert a.acquire([R1], START + LEASE_SECONDS) == {R1}
    assert a.read([R1]) == {R1: {"name": 20, "other": 5}}
    assert calls.counts == {"TransactWriteItems": 2}
    a.commit({R1: {"name": 15}}, release=[R1])  # older than B's: not raised
    assert b.read([R1]) == {R1: {"name": 20, "other": 5}}


def test_a_record_remembered_as_new_but_written_since_is_read_from_the_cancellation(store_for: Any) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R2], START + LEASE_SECONDS)
    assert a.read([R2]) == {}
    a.release([R2])
    b.acquire([R2], START + LEASE_SECONDS)
    b.read([R2])
    b.commit({R2: {"name": 5}}, release=[R2])
    assert a.acquire([R2], START + LEASE_SECONDS) == {R2}
    assert a.read([R2]) == {R2: {"name": 5}}


def test_a_remembered_record_another_run_holds_is_still_left_out(store_for: Any, clock: Clock) -> None:
    a, b = store_for("run-a"), store_for("run-b")
    a.acquire([R1, R3], START + LEASE_SECONDS)
    a.read([R1, R3])
    a.commit({R1: {"name": 1}, R3: {"name": 1}}, release=[R1, R3])
    assert b.acquire([R1], START + LEASE_SECONDS) == {R1}
    assert a.acquire([R1, R3], START + LEASE_SECONDS) == {R3}
    clock.now += LEASE_SECONDS + 1  # B's lease ran out: A may take it, and reads what is there
    assert a.acquire([R1], clock.now + LEASE_SECONDS) == {R1}
    assert a.read([R1]) == {R1: {"name": 1}}


def test_a_proof_lasts_only_as_long_as_the_lease(dynamodb: Any, store_for: Any, clock: Clock) -> None:
    a = store_for("run-a")
    a.acquire([R1], START + LEASE_SECONDS)
    a.read([R1])
    a.commit({R1: {"name": 1}}, release=[R1])
    a.acquire([R1], START + LEASE_SECONDS)
    clock.now += LEASE_SECONDS + 1  # the lease ended before the read: anyone may have written since
    calls = Calls(dynamodb)
    assert a.read([R1]) == {R1: {"name": 1}}
    assert calls.counts == {"BatchGetItem": 1}


def test_read_retries_unprocessed_keys(dynamodb: Any, table: str, store_for: Any, sleeps: list[float]) -> None:
    # DynamoDB answers at most 16 MB per BatchGetItem and returns the rest as UnprocessedKeys: 50 items of
    # ~360 KB (items are limited to 400 KB) make moto do the same. The size is in a few very long names
    # (longer than HubSpot allows) only because moto parses thousands of short ones slowly.
    keys = [key(n) for n in range(50)]
    times = {f"p{n}_{'x' * 10_000}": 1_700_000_000_000 + n for n in range(36)}
    item_times = {"M": {name: {"N": str(at)} for name, at in times.items()}}
    for k in keys:
        dynamodb.put_item(TableName=table, Item={"record": {"S": k}, "times": item_times, "rev": {"N": "1"}})
    calls = Calls(dynamodb)
    assert store_for("run-a").read(keys) == dict.fromkeys(keys, times)
    assert calls.counts["BatchGetItem"] >= 2
    assert sleeps, "backed off before asking for the rest"


# ---------------------------------------------------------------------------------------------- errors
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


# ---------------------------------------------------------------------------------------------- what moto cannot do
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

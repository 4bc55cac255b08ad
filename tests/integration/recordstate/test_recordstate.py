"""Record state (per-property event times and leases) through a real DynamoDB endpoint: moto's server.

What moto's server was checked to do like DynamoDB: conditional Updates inside TransactWriteItems, a
TransactionCanceledException with one CancellationReason per item (with the item when
ReturnValuesOnConditionCheckFailure is ALL_OLD), ConsistentRead BatchGetItem, and UnprocessedKeys once an
answer would pass 16 MB. What it does not: it ignores ClientRequestToken (no idempotent replay), never reports
TransactionConflict or throttling, and its UnprocessedKeys carry the keys alone (DynamoDB returns the whole
request). The few paths moto cannot reach use botocore's Stubber, in test_recordstate_errors.py.

This module: the round trip, leases, and times. The read the store spares: test_recordstate_reads.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.delivery.recordstate import (
    DEFAULT_TTL_SECONDS,
    LeaseLostError,
    superseded,
)
from support.recordstate import LEASE_SECONDS, R1, R2, R3, R4, START, Calls, Clock, key, lease_owner, raw


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

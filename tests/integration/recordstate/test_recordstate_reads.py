"""Record state through moto's server: the read the store spares when its acquire proves what is
remembered (requests counted per operation), and unprocessed keys read again."""

from __future__ import annotations

from typing import Any

from support.recordstate import LEASE_SECONDS, R1, R2, R3, START, Calls, Clock, key


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

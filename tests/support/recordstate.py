"""Helpers for the record state tests (tests/integration/recordstate/): a fake clock, a per-operation request
counter, the lean DynamoDB client with botocore's for set-up, reading an item back, the record keys.
"""

from __future__ import annotations

from typing import Any

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


class WithAdmin:
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

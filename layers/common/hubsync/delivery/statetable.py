"""The record state table's wire level: its item layout, the requests the store makes (conditional updates in
transactions, consistent batch reads) and what DynamoDB's answers mean. The protocol (leases, revs, merging) is
hubsync.delivery.recordstate's; the layout is documented there."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from hubsync.exceptions import HubsyncError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef, TransactWriteItemTypeDef

# The table's partition key and TTL attribute (template.yaml's RecordStateTable declares the same).
KEY_ATTRIBUTE = "record"
TTL_ATTRIBUTE = "expiration"
# DynamoDB's limits: items in one TransactWriteItems, keys in one BatchGetItem.
MAX_TRANSACTION_ITEMS = 100
MAX_BATCH_GET_KEYS = 100
READ_ATTEMPTS = 5
BACKOFF_SECONDS = 0.05

NAMES = {
    "#record": KEY_ATTRIBUTE,
    "#times": "times",
    "#rev": "rev",
    "#owner": "lease_owner",
    "#until": "lease_until",
    "#exp": TTL_ATTRIBUTE,
}
# Cancellation reasons this module acts on; any other (throttling, validation, ...) makes the table unavailable.
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
HANDLED_REASONS = {"None", CONDITION_FAILED, CONFLICT}


class RecordStateUnavailableError(HubsyncError):
    """The record state table could not be read or written: leave the events on the queue."""


@dataclass(frozen=True)
class Stored:
    """What the table holds for one record, as last seen by this store."""

    rev: int | None
    times: dict[str, int]


def conditional_update(
    table_name: str, key: str, update: str, condition: str, values: Mapping[str, Any]
) -> TransactWriteItemTypeDef:
    names, used = placeholders(update, condition, tuple(values))
    return update_item(table_name, key, update, condition, names, {name: values[name] for name in used})


def update_item(
    table_name: str, key: str, update: str, condition: str, names: Mapping[str, str], values: Mapping[str, Any]
) -> TransactWriteItemTypeDef:
    return {
        "Update": {
            "TableName": table_name,
            "Key": {KEY_ATTRIBUTE: {"S": key}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            # On a failed condition the item comes back with the cancellation: whose lease, which rev.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def transact(client: DynamoDBClient, items: list[TransactWriteItemTypeDef]) -> list[Mapping[str, Any]] | None:
    """None when the transaction went through, else one cancellation reason per item."""
    try:
        # A fresh token per call: botocore's own retry of a commit that did go through (a timeout) is
        # then answered as a success instead of failing the condition on the lease just released.
        client.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
    except ClientError as exc:
        reasons: list[Mapping[str, Any]] = list(exc.response.get("CancellationReasons", []))
        code = exc.response.get("Error", {}).get("Code", "")
        handled = len(reasons) == len(items) and all(r.get("Code") in HANDLED_REASONS for r in reasons)
        if code != "TransactionCanceledException" or not handled:
            raise unavailable("TransactWriteItems", exc) from exc
        return reasons
    except BotoCoreError as exc:
        raise unavailable("TransactWriteItems", exc) from exc
    return None


def batch_get(
    client: DynamoDBClient, table_name: str, keys: list[str], sleep: Callable[[float], None]
) -> list[Mapping[str, Any]]:
    items: list[Mapping[str, Any]] = []
    remaining: list[Mapping[str, Any]] = [{KEY_ATTRIBUTE: {"S": key}} for key in keys]
    for attempt in range(READ_ATTEMPTS):
        # Rebuilt each time rather than resending UnprocessedKeys as returned: only the keys are needed.
        request: KeysAndAttributesTypeDef = {
            "Keys": remaining,
            "ConsistentRead": True,
            "ProjectionExpression": "#record, #times, #rev",
            "ExpressionAttributeNames": {k: NAMES[k] for k in ("#record", "#times", "#rev")},
        }
        try:
            response = client.batch_get_item(RequestItems={table_name: request})
        except (ClientError, BotoCoreError) as exc:
            raise unavailable("BatchGetItem", exc) from exc
        items.extend(response.get("Responses", {}).get(table_name, []))
        unprocessed = response.get("UnprocessedKeys", {}).get(table_name)
        remaining = list(unprocessed["Keys"]) if unprocessed else []
        if not remaining:
            return items
        # UnprocessedKeys means throttling or a response over 16 MB: back off before asking for the rest.
        sleep(BACKOFF_SECONDS * 2**attempt)
    raise RecordStateUnavailableError(
        f"record state read left keys unprocessed after {READ_ATTEMPTS} attempts", {"unprocessed": len(remaining)}
    )


def state_client() -> DynamoDBClient:
    """The DynamoDB client the record state uses: hubsync's lean JSON client (hubsync.dynamodb) made from a boto3
    client, whose endpoint, region, credentials, timeouts and event hooks it keeps. botocore's own
    serialisation, parsing and endpoint rules were most of the updater's CPU with the record state on (about
    6 ms for a 100-item transaction); this module builds every request in DynamoDB's wire format already, and
    DynamoDB validates each one (a request it refuses raises RecordStateUnavailableError like any other)."""
    import boto3

    from hubsync.dynamodb.client import LeanDynamoDB

    # boto3's default session, as the other clients of the container use: its models and endpoint data are
    # loaded once (a session of its own would read them again: 50-75 ms of cold start, against 10).
    client = boto3.client("dynamodb")
    credentials = boto3.DEFAULT_SESSION.get_credentials() if boto3.DEFAULT_SESSION is not None else None
    if credentials is None:
        raise RecordStateUnavailableError("no AWS credentials found for the record state table", {})
    return cast("DynamoDBClient", LeanDynamoDB(client, credentials))


def unavailable(operation: str, exc: Exception) -> RecordStateUnavailableError:
    details: dict[str, Any] = {"operation": operation, "code": type(exc).__name__}
    if isinstance(exc, ClientError):
        details["code"] = exc.response.get("Error", {}).get("Code", "")
        if "CancellationReasons" in exc.response:  # which items were refused, and why (e.g. ThrottlingError)
            details["reasons"] = [reason.get("Code") for reason in exc.response["CancellationReasons"]]
    return RecordStateUnavailableError(
        f"record state table unavailable: {operation} failed ({details['code']})", details
    )


@functools.lru_cache(maxsize=64)
def placeholders(update: str, condition: str, offered: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The names an expression pair uses (DynamoDB refuses names and values an expression does not use), and
    which of the ``offered`` values it uses. A handful of expression shapes exist, so this is worked out once
    each rather than for every item: it was a third of the cost of building a 100-item commit."""
    expressions = f"{update} {condition}"
    names = {k: v for k, v in NAMES.items() if k in expressions}
    return names, tuple(name for name in offered if name in expressions)


def stored_of(item: Mapping[str, Any]) -> Stored:
    rev = int(item["rev"]["N"]) if "rev" in item else None
    times = {name: int(value["N"]) for name, value in item.get("times", {}).get("M", {}).items()}
    return Stored(rev, times)


def seconds(epoch: float) -> str:
    # Fixed-point: DynamoDB numbers are decimal strings, and repr() of a float may use an exponent.
    return f"{epoch:.3f}"


def unique(keys: Iterable[str]) -> list[str]:
    # A transaction or batch naming one item twice is refused as a whole.
    return list(dict.fromkeys(keys))


def chunks(keys: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]

"""Per-record ordering state in DynamoDB: the event time last applied to each property, and a lease.

HubSpot has no conditional update, so hubsync keeps order itself: a record's final state must be
last-write-wins per property by event time (``occurredAt``, epoch ms), whatever order events arrive in,
when a batch is retried after newer events were applied, and when two updaters run at once. So the updater,
for each HubSpot request:

1. ``acquire(keys, lease_until)`` takes a short lease on the records (the ones another updater holds are
   left out: their events wait for a later attempt);
2. ``read(leased)`` gives the times already applied; ``superseded(merged, stored)`` names the properties
   whose merged event is not newer, and those are dropped from the request;
3. after HubSpot took the request, ``commit(applied, release=leased)`` stores the new times and gives the
   leases back; when HubSpot failed, ``release(leased)`` gives them back without storing anything; when
   the outcome is unknown (a request that may still land), ``commit(..., hold=keys, hold_until=...)``
   keeps those leases a while longer instead, under a name no run holds (``<owner>#in-doubt``), so that no
   writer, this one included, moves in while the request could still land.

Item layout (partition key ``record``, a string; the other attributes are not declared, DynamoDB is
schemaless):

- ``record`` (S): the caller's record key, e.g. ``partner_services#my_unique_property_name#512``.
- ``times`` (M): property name -> occurredAt (N, epoch ms) of the value last sent to HubSpot.
- ``rev`` (N): raised by one by every commit that writes ``times``; absent before the first one.
- ``lease_owner`` (S): the updater run holding the lease; absent when the record is free.
- ``lease_until`` (N): epoch seconds; after this, another run may take the lease.
- ``expiration`` (N): epoch seconds, the table's TTL attribute; set on every acquire and commit.

Why one map rather than an attribute per property (``t_<property>``): DynamoDB limits every expression
to 4 KB and 300 operators, so an update that names and guards each property (``attribute_not_exists(#p)
OR #p < :p``) fails for records with more than about 70 properties. Here every expression has a fixed
size: a commit writes the whole merged map, on condition that ``rev`` is still the one this store read
(and that the lease is still ours). The merge itself (a time is only ever raised) is done here, against
exactly the state the condition proved current; when the condition finds a newer ``rev`` (an item not
read first, or a stale read), the item that failed the condition comes back with the cancellation
(``ReturnValuesOnConditionCheckFailure``) and the merge is redone on it.

Lease semantics: a lease is taken when the record has none, an expired one, or one of this owner (so
``owner`` must be unique per updater run, e.g. the Lambda request id). A commit needs the lease to still
name this owner, expired or not: if nobody took it meanwhile, nobody else wrote the record either. If
another run took it, the commit does not touch that record and raises ``LeaseLostError`` after committing
the others. Choose ``lease_until`` longer than a HubSpot request can take, retries included.

A record's times are kept ``ttl_seconds`` (30 days) after its last acquire or commit: longer than the queue
(4 days) and the DLQ (14 days) keep a message, so an event normally cannot arrive after its record's times
were forgotten (only a DLQ replay, which queues it anew, can stretch that).

Errors: anything DynamoDB refuses other than the handled conditional failures raises
``RecordStateUnavailableError``: leave the events on the queue, they are safe to retry.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
DEFAULT_TTL_SECONDS = 30 * 86_400

# One transaction, then more without the records found taken (and with the rev of those this store remembered
# wrongly). Records still contended after that are simply not leased: their events wait for a later attempt,
# which is cheaper than chasing a busy record.
_ACQUIRE_ATTEMPTS = 3
# A commit retries after a TransactionConflict (another run's acquire touching a record at that instant)
# or a stale rev; each attempt either succeeds or learns something, so a few are plenty.
_COMMIT_ATTEMPTS = 4
_READ_ATTEMPTS = 5
_BACKOFF_SECONDS = 0.05

_NAMES = {
    "#record": KEY_ATTRIBUTE,
    "#times": "times",
    "#rev": "rev",
    "#owner": "lease_owner",
    "#until": "lease_until",
    "#exp": TTL_ATTRIBUTE,
}
# Cancellation reasons this module acts on; any other (throttling, validation, ...) makes the table unavailable.
_CONDITION_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"
_HANDLED_REASONS = {"None", _CONDITION_FAILED, _CONFLICT}

# A lease held after an unknown outcome names its owner with this suffix: nobody, that owner included, takes
# it before it expires.
IN_DOUBT_SUFFIX = "#in-doubt"

_ACQUIRE_UPDATE = "SET #owner = :me, #until = :until, #exp = :exp"
_ACQUIRE_CONDITION = "attribute_not_exists(#owner) OR #until <= :now OR #owner = :me"
# For a record this store has seen: the lease as above, and the rev it remembers. When the transaction goes
# through, what the store remembers is what is stored, and the read is skipped.
_ACQUIRE_IF_REV = f"({_ACQUIRE_CONDITION}) AND #rev = :rev"
_ACQUIRE_IF_NEW = f"({_ACQUIRE_CONDITION}) AND attribute_not_exists(#rev)"
# What a store remembers of records (rev and times), at most: past this it forgets them all and reads again.
MAX_REMEMBERED = 20_000


class RecordStateUnavailableError(HubsyncError):
    """The record state table could not be read or written: leave the events on the queue."""


class LeaseLostError(HubsyncError):
    """Another run took these records' leases before the commit: their times were not stored."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = sorted(keys)
        super().__init__(f"lease lost on {len(self.keys)} record(s) before the commit", {"keys": self.keys})


def superseded(merged_times: Mapping[str, int], stored: Mapping[str, int]) -> set[str]:
    """Properties whose merged event is not newer than the one applied. An equal time is the same event
    replayed (a retried batch), so it is dropped too."""
    return {name for name, at in merged_times.items() if name in stored and at <= stored[name]}


@dataclass(frozen=True)
class _Stored:
    """What the table holds for one record, as last seen by this store."""

    rev: int | None
    times: dict[str, int]


class RecordStateStore:
    """Per record: the occurredAt last applied for each property, and a lease.

    One store per updater run (``owner``); it may be shared by that run's threads as long as no two of
    them work on the same record at once (each HubSpot request has its own records).
    """

    def __init__(
        self,
        table_name: str,
        owner: str,
        client: DynamoDBClient | None = None,
        clock: Callable[[], float] = time.time,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            client = state_client()
        self.client = client
        self.table_name = table_name
        self.owner = owner
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._sleep = sleep
        # rev and times per record from read(), commit() and failed conditions, so a commit can merge without
        # reading again, and an acquire that proves them current (its condition names the rev) spares the read.
        # Threads touch distinct keys, and single dict operations are atomic, so no lock is needed.
        self._known: dict[str, _Stored] = {}
        # Record -> lease end, for records whose remembered state the last acquire proved current.
        self._proven: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------ leases
    def acquire(self, keys: Sequence[str], lease_until: float) -> set[str]:
        """Leases as many of ``keys`` (at most 100) as possible until ``lease_until`` (epoch seconds).

        One transaction when every record is free; when some are held by another run, one more without
        them. Returns the keys this owner now holds; the others are not touched.
        """
        pending = _unique(keys)
        if len(pending) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"at most {MAX_TRANSACTION_ITEMS} records per acquire, got {len(pending)}")
        now = self._clock()
        if lease_until <= now:
            raise ValueError("lease_until must be in the future")
        values = {
            ":me": {"S": self.owner},
            ":until": {"N": _seconds(lease_until)},
            ":now": {"N": _seconds(now)},
            ":exp": {"N": str(int(now) + self._ttl_seconds)},
        }
        base_names, used = _placeholders(_ACQUIRE_UPDATE, _ACQUIRE_IF_REV, tuple(values))
        shared = {name: values[name] for name in used if name != ":rev"}
        for _ in range(_ACQUIRE_ATTEMPTS):
            if not pending:
                break
            items = [self._acquire_item(key, base_names, shared) for key in pending]
            reasons = self._transact(items)
            if reasons is None:
                for key in pending:
                    if key in self._known:
                        self._proven[key] = lease_until
                return set(pending)
            # Held by another run (condition failed) or being written by one right now (conflict): either
            # way not ours to take in this batch. A record whose lease was free failed on the rev remembered: it
            # came back with the cancellation, and the next attempt names the rev it has now.
            taken = set()
            for key, reason in zip(pending, reasons, strict=True):
                code = reason.get("Code")
                if code == "None":
                    continue
                item: Mapping[str, Any] = reason.get("Item") or {}
                if code == _CONDITION_FAILED and key in self._known and not self._held_by_another(item, now):
                    self._known[key] = _stored(item) if item else _Stored(None, {})
                else:
                    taken.add(key)
            pending = [key for key in pending if key not in taken]
        return set()

    def _acquire_item(self, key: str, names: Mapping[str, str], shared: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        known = self._known.get(key)
        if known is None:
            return self._item(key, _ACQUIRE_UPDATE, _ACQUIRE_CONDITION, _LEASE_NAMES, shared)
        if known.rev is None:
            return self._item(key, _ACQUIRE_UPDATE, _ACQUIRE_IF_NEW, names, shared)
        return self._item(key, _ACQUIRE_UPDATE, _ACQUIRE_IF_REV, names, {**shared, ":rev": {"N": str(known.rev)}})

    def _held_by_another(self, item: Mapping[str, Any], now: float) -> bool:
        owner = item.get("lease_owner", {}).get("S")
        until = float(item.get("lease_until", {}).get("N", "0"))
        return owner is not None and owner != self.owner and until > now

    def release(self, keys: Iterable[str]) -> None:
        """Gives up leases without storing anything (e.g. the HubSpot request failed)."""
        # A lease another run took is no longer ours to give up: nothing to report.
        with contextlib.suppress(LeaseLostError):
            self.commit({}, keys)

    # ------------------------------------------------------------------------------------------ times
    def read(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """Record key -> {property: occurredAt applied}, read consistently; records with nothing applied
        are absent."""
        result: dict[str, dict[str, int]] = {}
        now = self._clock()
        unread = []
        for key in _unique(keys):
            proven_until = self._proven.pop(key, None)
            known = self._known.get(key)
            if proven_until is not None and proven_until > now and known is not None:
                if known.times:  # what the acquire just proved stored, under a lease this store still holds
                    result[key] = dict(known.times)
            else:
                unread.append(key)
        for chunk in _chunks(unread, MAX_BATCH_GET_KEYS):
            found = {item[KEY_ATTRIBUTE]["S"]: _stored(item) for item in self._batch_get(chunk)}
            for key in chunk:
                stored = found.get(key, _Stored(None, {}))
                self._remember_read(key, stored)
                if stored.times:
                    result[key] = dict(stored.times)
        return result

    def commit(
        self,
        applied: Mapping[str, Mapping[str, int]],
        release: Iterable[str],
        hold: Iterable[str] = (),
        hold_until: float | None = None,
    ) -> None:
        """Stores the times of ``applied`` (a time is only ever raised) and gives up the leases of ``release``
        (normally every leased key, a superset of ``applied``), in one transaction per 100 records. The
        leases of ``hold`` are kept, until ``hold_until`` (epoch seconds) when given: records a request may
        still reach late (its outcome unknown), which no other writer may touch before it no longer can.

        Conditional on each lease still naming this owner: a record whose lease another run took is left
        untouched, the others are committed, then ``LeaseLostError`` lists the lost ones.
        """
        held = set(hold)
        releasing = [key for key in release if key not in held]
        keys = _unique([*applied, *releasing, *(held if hold_until is not None else ())])
        lost: set[str] = set()
        for chunk in _chunks(keys, MAX_TRANSACTION_ITEMS):
            lost |= self._commit_chunk(chunk, applied, set(releasing), held, hold_until)
        if lost:
            raise LeaseLostError(lost)

    def _commit_chunk(
        self,
        keys: list[str],
        applied: Mapping[str, Mapping[str, int]],
        releasing: set[str],
        held: set[str],
        hold_until: float | None,
    ) -> set[str]:
        pending, lost = list(keys), set[str]()
        for attempt in range(_COMMIT_ATTEMPTS):
            now = self._clock()
            writes = {
                key: self._commit_item(
                    key, applied.get(key), key in releasing, now, hold_until if key in held else None
                )
                for key in pending
            }
            reasons = self._transact([item for item, _ in writes.values()])
            if reasons is None:
                for key, (_, merged) in writes.items():
                    self._remember(key, merged)
                return lost
            conflict = False
            for key, reason in zip(pending, reasons, strict=True):
                if reason.get("Code") == _CONFLICT:
                    conflict = True
                elif reason.get("Code") == _CONDITION_FAILED:
                    item: Mapping[str, Any] = reason.get("Item") or {}
                    if item.get("lease_owner", {}).get("S") == self.owner:
                        self._known[key] = _stored(item)  # ours still, but the rev moved: merge again on it
                    else:
                        lost.add(key)
                        self._known.pop(key, None)
            pending = [key for key in pending if key not in lost]
            if not pending:
                return lost
            if conflict:
                self._sleep(_BACKOFF_SECONDS * 2**attempt)
        raise RecordStateUnavailableError(
            f"record state commit did not go through in {_COMMIT_ATTEMPTS} attempts", {"keys": sorted(pending)}
        )

    def _commit_item(
        self, key: str, times: Mapping[str, int] | None, releasing: bool, now: float, hold_until: float | None = None
    ) -> tuple[TransactWriteItemTypeDef, dict[str, int] | None]:
        """The update for one record, and the times it stores (None when it stores none)."""
        values: dict[str, Any] = {":me": {"S": self.owner}}
        condition = "#owner = :me"
        sets: list[str] = []
        clauses = []
        merged: dict[str, int] | None = None
        if times is not None:
            known = self._known.get(key)
            merged = dict(known.times) if known else {}
            for name, at in times.items():
                if name not in merged or at > merged[name]:  # only ever raised
                    merged[name] = int(at)
            values.update(
                {
                    ":times": {"M": {name: {"N": str(at)} for name, at in merged.items()}},
                    ":exp": {"N": str(int(now) + self._ttl_seconds)},
                    ":one": {"N": "1"},
                }
            )
            sets += ["#times = :times", "#exp = :exp"]
            clauses.append("ADD #rev :one")
            # Unknown or never committed: attribute_not_exists. If the record has a rev after all, the
            # cancellation returns the item and the next attempt merges on it.
            if known is not None and known.rev is not None:
                condition += " AND #rev = :rev"
                values[":rev"] = {"N": str(known.rev)}
            else:
                condition += " AND attribute_not_exists(#rev)"
        if hold_until is not None:
            # Held under another name, so that this owner's own next batch cannot take it back either: a late
            # request could otherwise land after that batch's newer value.
            sets += ["#owner = :doubt", "#until = :held"]
            values[":held"] = {"N": _seconds(hold_until)}
            values[":doubt"] = {"S": f"{self.owner}{IN_DOUBT_SUFFIX}"}
        elif releasing:
            clauses.append("REMOVE #owner, #until")
        if sets:
            clauses.insert(0, "SET " + ", ".join(sets))
        return self._update(key, " ".join(clauses), condition, values), merged

    def _remember(self, key: str, merged: dict[str, int] | None) -> None:
        """After a commit went through: its times under the next rev. Kept after the release too: the next acquire
        names that rev, so a commit by another run meanwhile fails it and comes back, instead of being missed."""
        self._proven.pop(key, None)
        if merged is not None:
            known = self._known.get(key)
            rev = known.rev if known is not None and known.rev is not None else 0
            self._remember_read(key, _Stored(rev + 1, merged))

    def _remember_read(self, key: str, stored: _Stored) -> None:
        if len(self._known) >= MAX_REMEMBERED and key not in self._known:
            # Forgetting is always safe (the next acquire reads again); a cap keeps a long-lived container small.
            self._known.clear()
        self._known[key] = stored

    # ------------------------------------------------------------------------------------------ I/O
    def _update(self, key: str, update: str, condition: str, values: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        names, used = _placeholders(update, condition, tuple(values))
        return self._item(key, update, condition, names, {name: values[name] for name in used})

    def _item(
        self, key: str, update: str, condition: str, names: Mapping[str, str], values: Mapping[str, Any]
    ) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {KEY_ATTRIBUTE: {"S": key}},
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                # On a failed condition the item comes back with the cancellation: whose lease, which rev.
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> list[Mapping[str, Any]] | None:
        """None when the transaction went through, else one cancellation reason per item."""
        try:
            # A fresh token per call: botocore's own retry of a commit that did go through (a timeout) is
            # then answered as a success instead of failing the condition on the lease just released.
            self.client.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            reasons: list[Mapping[str, Any]] = list(exc.response.get("CancellationReasons", []))
            code = exc.response.get("Error", {}).get("Code", "")
            handled = len(reasons) == len(items) and all(r.get("Code") in _HANDLED_REASONS for r in reasons)
            if code != "TransactionCanceledException" or not handled:
                raise _unavailable("TransactWriteItems", exc) from exc
            return reasons
        except BotoCoreError as exc:
            raise _unavailable("TransactWriteItems", exc) from exc
        return None

    def _batch_get(self, keys: list[str]) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        remaining: list[Mapping[str, Any]] = [{KEY_ATTRIBUTE: {"S": key}} for key in keys]
        for attempt in range(_READ_ATTEMPTS):
            # Rebuilt each time rather than resending UnprocessedKeys as returned: only the keys are needed.
            request: KeysAndAttributesTypeDef = {
                "Keys": remaining,
                "ConsistentRead": True,
                "ProjectionExpression": "#record, #times, #rev",
                "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#record", "#times", "#rev")},
            }
            try:
                response = self.client.batch_get_item(RequestItems={self.table_name: request})
            except (ClientError, BotoCoreError) as exc:
                raise _unavailable("BatchGetItem", exc) from exc
            items.extend(response.get("Responses", {}).get(self.table_name, []))
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
            remaining = list(unprocessed["Keys"]) if unprocessed else []
            if not remaining:
                return items
            # UnprocessedKeys means throttling or a response over 16 MB: back off before asking for the rest.
            self._sleep(_BACKOFF_SECONDS * 2**attempt)
        raise RecordStateUnavailableError(
            f"record state read left keys unprocessed after {_READ_ATTEMPTS} attempts", {"unprocessed": len(remaining)}
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


def _unavailable(operation: str, exc: Exception) -> RecordStateUnavailableError:
    details: dict[str, Any] = {"operation": operation, "code": type(exc).__name__}
    if isinstance(exc, ClientError):
        details["code"] = exc.response.get("Error", {}).get("Code", "")
        if "CancellationReasons" in exc.response:  # which items were refused, and why (e.g. ThrottlingError)
            details["reasons"] = [reason.get("Code") for reason in exc.response["CancellationReasons"]]
    return RecordStateUnavailableError(
        f"record state table unavailable: {operation} failed ({details['code']})", details
    )


_LEASE_NAMES = {k: v for k, v in _NAMES.items() if k in f"{_ACQUIRE_UPDATE} {_ACQUIRE_CONDITION}"}


@functools.lru_cache(maxsize=64)
def _placeholders(update: str, condition: str, offered: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The names an expression pair uses (DynamoDB refuses names and values an expression does not use), and
    which of the ``offered`` values it uses. A handful of expression shapes exist, so this is worked out once
    each rather than for every item: it was a third of the cost of building a 100-item commit."""
    expressions = f"{update} {condition}"
    names = {k: v for k, v in _NAMES.items() if k in expressions}
    return names, tuple(name for name in offered if name in expressions)


def _stored(item: Mapping[str, Any]) -> _Stored:
    rev = int(item["rev"]["N"]) if "rev" in item else None
    times = {name: int(value["N"]) for name, value in item.get("times", {}).get("M", {}).items()}
    return _Stored(rev, times)


def _seconds(epoch: float) -> str:
    # Fixed-point: DynamoDB numbers are decimal strings, and repr() of a float may use an exponent.
    return f"{epoch:.3f}"


def _unique(keys: Iterable[str]) -> list[str]:
    # A transaction or batch naming one item twice is refused as a whole.
    return list(dict.fromkeys(keys))


def _chunks(keys: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]

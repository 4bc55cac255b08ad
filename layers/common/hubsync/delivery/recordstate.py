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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hubsync.delivery.statetable import (
    BACKOFF_SECONDS,
    CONDITION_FAILED,
    CONFLICT,
    KEY_ATTRIBUTE,
    MAX_BATCH_GET_KEYS,
    MAX_TRANSACTION_ITEMS,
    NAMES,
    TTL_ATTRIBUTE,
    RecordStateUnavailableError,
    Stored,
    batch_get,
    chunks,
    conditional_update,
    placeholders,
    seconds,
    state_client,
    stored_of,
    transact,
    unique,
    update_item,
)
from hubsync.exceptions import HubsyncError

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "IN_DOUBT_SUFFIX",
    "KEY_ATTRIBUTE",
    "MAX_REMEMBERED",
    "TTL_ATTRIBUTE",
    "LeaseLostError",
    "RecordStateStore",
    "RecordStateUnavailableError",
    "state_client",
    "superseded",
]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

DEFAULT_TTL_SECONDS = 30 * 86_400

# One transaction, then more without the records found taken (and with the rev of those this store remembered
# wrongly). Records still contended after that are simply not leased: their events wait for a later attempt,
# which is cheaper than chasing a busy record.
_ACQUIRE_ATTEMPTS = 3
# A commit retries after a TransactionConflict (another run's acquire touching a record at that instant)
# or a stale rev; each attempt either succeeds or learns something, so a few are plenty.
_COMMIT_ATTEMPTS = 4

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
_LEASE_NAMES = {k: v for k, v in NAMES.items() if k in f"{_ACQUIRE_UPDATE} {_ACQUIRE_CONDITION}"}


class LeaseLostError(HubsyncError):
    """Another run took these records' leases before the commit: their times were not stored."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = sorted(keys)
        super().__init__(f"lease lost on {len(self.keys)} record(s) before the commit", {"keys": self.keys})


def superseded(merged_times: Mapping[str, int], stored: Mapping[str, int]) -> set[str]:
    """Properties whose merged event is not newer than the one applied. An equal time is the same event
    replayed (a retried batch), so it is dropped too."""
    return {name for name, at in merged_times.items() if name in stored and at <= stored[name]}


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
        self._known: dict[str, Stored] = {}
        # Record -> lease end, for records whose remembered state the last acquire proved current.
        self._proven: dict[str, float] = {}

    # ------------------------------------------------------------------------------------------ leases
    def acquire(self, keys: Sequence[str], lease_until: float) -> set[str]:
        """Leases as many of ``keys`` (at most 100) as possible until ``lease_until`` (epoch seconds).

        One transaction when every record is free; when some are held by another run, one more without
        them. Returns the keys this owner now holds; the others are not touched.
        """
        pending = unique(keys)
        if len(pending) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"at most {MAX_TRANSACTION_ITEMS} records per acquire, got {len(pending)}")
        now = self._clock()
        if lease_until <= now:
            raise ValueError("lease_until must be in the future")
        values = {
            ":me": {"S": self.owner},
            ":until": {"N": seconds(lease_until)},
            ":now": {"N": seconds(now)},
            ":exp": {"N": str(int(now) + self._ttl_seconds)},
        }
        base_names, used = placeholders(_ACQUIRE_UPDATE, _ACQUIRE_IF_REV, tuple(values))
        shared = {name: values[name] for name in used if name != ":rev"}
        for _ in range(_ACQUIRE_ATTEMPTS):
            if not pending:
                break
            items = [self._acquire_item(key, base_names, shared) for key in pending]
            reasons = transact(self.client, items)
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
                if code == CONDITION_FAILED and key in self._known and not self._held_by_another(item, now):
                    self._known[key] = stored_of(item) if item else Stored(None, {})
                else:
                    taken.add(key)
            pending = [key for key in pending if key not in taken]
        return set()

    def _acquire_item(self, key: str, names: Mapping[str, str], shared: Mapping[str, Any]) -> TransactWriteItemTypeDef:
        known = self._known.get(key)
        if known is None:
            return update_item(self.table_name, key, _ACQUIRE_UPDATE, _ACQUIRE_CONDITION, _LEASE_NAMES, shared)
        if known.rev is None:
            return update_item(self.table_name, key, _ACQUIRE_UPDATE, _ACQUIRE_IF_NEW, names, shared)
        return update_item(
            self.table_name, key, _ACQUIRE_UPDATE, _ACQUIRE_IF_REV, names, {**shared, ":rev": {"N": str(known.rev)}}
        )

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
        for key in unique(keys):
            proven_until = self._proven.pop(key, None)
            known = self._known.get(key)
            if proven_until is not None and proven_until > now and known is not None:
                if known.times:  # what the acquire just proved stored, under a lease this store still holds
                    result[key] = dict(known.times)
            else:
                unread.append(key)
        for chunk in chunks(unread, MAX_BATCH_GET_KEYS):
            found = {
                item[KEY_ATTRIBUTE]["S"]: stored_of(item)
                for item in batch_get(self.client, self.table_name, chunk, self._sleep)
            }
            for key in chunk:
                stored = found.get(key, Stored(None, {}))
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
        keys = unique([*applied, *releasing, *(held if hold_until is not None else ())])
        lost: set[str] = set()
        for chunk in chunks(keys, MAX_TRANSACTION_ITEMS):
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
            reasons = transact(self.client, [item for item, _ in writes.values()])
            if reasons is None:
                for key, (_, merged) in writes.items():
                    self._remember(key, merged)
                return lost
            conflict = False
            for key, reason in zip(pending, reasons, strict=True):
                if reason.get("Code") == CONFLICT:
                    conflict = True
                elif reason.get("Code") == CONDITION_FAILED:
                    item: Mapping[str, Any] = reason.get("Item") or {}
                    if item.get("lease_owner", {}).get("S") == self.owner:
                        self._known[key] = stored_of(item)  # ours still, but the rev moved: merge again on it
                    else:
                        lost.add(key)
                        self._known.pop(key, None)
            pending = [key for key in pending if key not in lost]
            if not pending:
                return lost
            if conflict:
                self._sleep(BACKOFF_SECONDS * 2**attempt)
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
            values[":held"] = {"N": seconds(hold_until)}
            values[":doubt"] = {"S": f"{self.owner}{IN_DOUBT_SUFFIX}"}
        elif releasing:
            clauses.append("REMOVE #owner, #until")
        if sets:
            clauses.insert(0, "SET " + ", ".join(sets))
        return conditional_update(self.table_name, key, " ".join(clauses), condition, values), merged

    def _remember(self, key: str, merged: dict[str, int] | None) -> None:
        """After a commit went through: its times under the next rev. Kept after the release too: the next acquire
        names that rev, so a commit by another run meanwhile fails it and comes back, instead of being missed."""
        self._proven.pop(key, None)
        if merged is not None:
            known = self._known.get(key)
            rev = known.rev if known is not None and known.rev is not None else 0
            self._remember_read(key, Stored(rev + 1, merged))

    def _remember_read(self, key: str, stored: Stored) -> None:
        if len(self._known) >= MAX_REMEMBERED and key not in self._known:
            # Forgetting is always safe (the next acquire reads again); a cap keeps a long-lived container small.
            self._known.clear()
        self._known[key] = stored

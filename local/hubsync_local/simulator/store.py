"""Records per object type, with indexes for unique properties. Thread-safe: one re-entrant lock.

Callers that must check and then write atomically (a batch update) hold `store.lock` around both.
Empty values are not stored: writing "" removes the property, the way HubSpot clears a value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from .schema import ObjectSchema, PropertyDef
from .wire import JsonObject, iso_ms


class StoreError(ValueError):
    """A record that cannot be added: unknown type, invalid value, taken id or unique value."""


@dataclass
class StoredRecord:
    id: str
    properties: dict[str, str] = field(default_factory=dict)
    created_ms: int = 0
    updated_ms: int = 0


def id_order(record_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then any others by text: the order HubSpot lists records in."""
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


class Store:
    def __init__(self, schemas: Mapping[str, ObjectSchema], wall_ms: Callable[[], int]) -> None:
        self.lock = threading.RLock()
        self._wall_ms = wall_ms
        self._schemas = dict(schemas)
        self._aliases = {alias: s.name for s in self._schemas.values() for alias in (s.name, *s.aliases)}
        self._records: dict[str, dict[str, StoredRecord]] = {name: {} for name in self._schemas}
        self._unique: dict[str, dict[str, dict[str, str]]] = {
            name: {prop: {} for prop in s.unique_properties()} for name, s in self._schemas.items()
        }

    def define(self, object_type: str, prop: PropertyDef) -> PropertyDef:
        """Add a property to a type or replace the one of that name (definitions changing at run time).

        Stored values stay as they are, as HubSpot keeps them when an option is removed. A property made
        unique must hold unique values already; the computed system properties cannot be redefined.
        """
        with self.lock:
            schema = self.known(object_type)
            old = schema.properties.get(prop.name)
            if old is not None and old.system:
                raise StoreError(f"{prop.name} is computed from the record; the simulator cannot redefine it")
            now = self._wall_ms()
            prop = replace(
                prop,
                group_name=prop.group_name or (old.group_name if old else schema.group_name),
                created_ms=old.created_ms if old else now,
                updated_ms=now,
            )
            changed = replace(schema, properties={**schema.properties, prop.name: prop})
            index = self._unique[schema.name]
            if changed.is_unique(prop.name) and prop.name not in index:
                index[prop.name] = self._index_of(schema.name, prop.name)
            elif not changed.is_unique(prop.name):
                index.pop(prop.name, None)
            self._schemas[schema.name] = changed
            return prop

    def _index_of(self, object_type: str, prop: str) -> dict[str, str]:
        index: dict[str, str] = {}
        for record in self._records[object_type].values():
            value = record.properties.get(prop)
            if value is None:
                continue
            if value in index:
                raise StoreError(f"{prop} cannot be unique: records {index[value]} and {record.id} share {value!r}")
            index[value] = record.id
        return index

    def restore(self, schemas: Mapping[str, ObjectSchema]) -> None:
        """Back to `schemas` (the seed's definitions) with no records."""
        with self.lock:
            self._schemas = {name: schemas[name] for name in self._schemas}
            self._unique = {name: {prop: {} for prop in s.unique_properties()} for name, s in self._schemas.items()}
            self.clear()

    def schema(self, object_type: str) -> ObjectSchema | None:
        name = self._aliases.get(object_type) or self._aliases.get(object_type.lower())
        return self._schemas.get(name) if name else None

    def known(self, object_type: str) -> ObjectSchema:
        """The schema of a known type (name or alias); StoreError otherwise."""
        schema = self.schema(object_type)
        if schema is None:
            raise StoreError(f"unknown object type {object_type!r}")
        return schema

    def get(self, object_type: str, record_id: str) -> StoredRecord | None:
        with self.lock:
            return self._records[self.known(object_type).name].get(record_id)

    def find(self, object_type: str, prop: str, value: str) -> StoredRecord | None:
        """The record whose unique property `prop` holds `value`."""
        with self.lock:
            schema = self.known(object_type)
            owner = self._unique[schema.name].get(prop, {}).get(value)
            return self._records[schema.name].get(owner) if owner else None

    def owner(self, object_type: str, prop: str, value: str) -> str | None:
        with self.lock:
            return self._unique[self.known(object_type).name].get(prop, {}).get(value)

    def all(self, object_type: str) -> list[StoredRecord]:
        with self.lock:
            records = self._records[self.known(object_type).name]
            return [records[key] for key in sorted(records, key=id_order)]

    def add(
        self,
        object_type: str,
        properties: Mapping[str, str],
        record_id: str | None = None,
        created_ms: int | None = None,
    ) -> str:
        """Create a record after checking its values; returns its id (the next number when none is given)."""
        return self.create(object_type, properties, created_ms, record_id).id

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str],
        created_ms: int | None = None,
        record_id: str | None = None,
    ) -> StoredRecord:
        """`add`, returning the stored record."""
        with self.lock:
            schema = self.known(object_type)
            records = self._records[schema.name]
            for name, value in properties.items():
                failure = schema.check(name, value, as_hubspot=True) if isinstance(value, str) else None
                if not isinstance(value, str) or failure:
                    raise StoreError(failure.message if failure else f"{name}: values are strings")
                if schema.is_unique(name) and value and self.owner(schema.name, name, value):
                    raise StoreError(f"{name}={value!r} already belongs to another {schema.label}")
            new_id = record_id or self._next_id(records)
            if new_id in records:
                raise StoreError(f"{schema.label} {new_id} already exists")
            now = self._wall_ms() if created_ms is None else created_ms
            records[new_id] = StoredRecord(new_id, {}, now, now)
            self.write(schema, records[new_id], properties, now)
            return records[new_id]

    @staticmethod
    def _next_id(records: Mapping[str, StoredRecord]) -> str:
        numbers = [int(key) for key in records if key.isdigit()]
        return str(max(numbers, default=1000) + 1)

    def write(self, schema: ObjectSchema, record: StoredRecord, properties: Mapping[str, str], now_ms: int) -> None:
        """Apply already-validated values to a stored record, keeping unique indexes in step."""
        with self.lock:
            index = self._unique[schema.name]
            for name, value in properties.items():
                old = record.properties.pop(name, None)
                if name in index and old is not None:
                    index[name].pop(old, None)
                if value != "":
                    record.properties[name] = value
                    if name in index:
                        index[name][value] = record.id
            record.updated_ms = now_ms

    def clear(self) -> None:
        with self.lock:
            for name in self._records:
                self._records[name].clear()
                for index in self._unique[name].values():
                    index.clear()


def value_of(schema: ObjectSchema, record: StoredRecord, name: str) -> str | None:
    """A property's value as HubSpot shows it; computed for the read-only system properties."""
    prop = schema.properties.get(name)
    if prop is not None and prop.system == "id":
        return record.id
    if prop is not None and prop.system == "created":
        return iso_ms(record.created_ms)
    if prop is not None and prop.system == "modified":
        return iso_ms(record.updated_ms)
    return record.properties.get(name)


def render(schema: ObjectSchema, record: StoredRecord, names: Iterable[str] | None = None) -> JsonObject:
    """A SimplePublicObject. `names` None: every stored value; else those properties (null when unset,
    like HubSpot; unknown names left out)."""
    if names is None:
        shown = [*record.properties, *(p.name for p in schema.properties.values() if p.system)]
    else:
        shown = [name for name in names if name in schema.properties]
    return {
        "id": record.id,
        "properties": {name: value_of(schema, record, name) for name in sorted(set(shown))},
        "createdAt": iso_ms(record.created_ms),
        "updatedAt": iso_ms(record.updated_ms),
        "archived": False,
    }

"""The CRM object endpoints with HubSpot's semantics, free of HTTP: each takes parsed input, returns an Answer.

Where HubSpot's behaviour is copied from observation (HUBSPOT.md), the comment says so; the rest follows
its OpenAPI files (`BatchResponseSimplePublicObject`, `StandardError`, `Error`, ...).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .body import Body
from .schema import ObjectSchema, PropertyFailure
from .store import Store, StoredRecord, id_order, render
from .wire import Answer, CorrelationIds, JsonObject, Refusal, error_answer, error_body, iso_ms

MAX_BATCH = 100  # "Object API batch endpoints are limited to 100 inputs per request"
MAX_PAGE = 100
DEFAULT_PAGE = 10
Query = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class UpdateInput:
    id: str
    properties: dict[str, str]
    id_property: str | None = None
    trace_id: str | None = None


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", dict: "object", list: "array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def property_names(query: Query, key: str = "properties") -> list[str] | None:
    """`properties=a,b` and `properties=a&properties=b` (the official client's form) alike; None if absent."""
    if key not in query:
        return None
    return [name.strip() for value in query[key] for name in value.split(",") if name.strip()]


def _upserted(item: UpdateInput, record: StoredRecord | None) -> UpdateInput:
    """The input with the values a create writes: its idProperty set to the id it was looked up by."""
    if record is not None or not item.id_property:
        return item
    return UpdateInput(item.id, {**item.properties, item.id_property: item.id}, item.id_property, item.trace_id)


def _upsert_writes(
    values: list[UpdateInput], targets: list[StoredRecord | None]
) -> list[tuple[str | None, Mapping[str, str]]]:
    # A record to be created has no id yet: a placeholder no stored record has stands for it.
    return [
        (record.id if record else (f"new:{index}" if item.id_property else None), item.properties)
        for index, (item, record) in enumerate(zip(values, targets, strict=True))
    ]


class CrmApi:
    def __init__(self, store: Store, ids: CorrelationIds, wall_ms: Callable[[], int]) -> None:
        self._store = store
        self._ids = ids
        self._wall_ms = wall_ms

    # -- shared pieces ---------------------------------------------------------------------------------

    def _refusal(self, status: int, message: str, **extra: Any) -> Refusal:
        return Refusal(error_answer(status, message, self._ids.next(), **extra))

    def _bad_input(self, problem: str) -> Refusal:
        return self._refusal(400, f"Invalid input JSON: {problem}")

    def _json(self, body: Body) -> Any:
        if body.error:
            raise self._refusal(400, body.error)
        return body.value

    def schema(self, object_type: str) -> ObjectSchema:
        schema = self._store.schema(object_type)
        if schema is None:
            # HubSpot answers an unknown object type with 400, not 404.
            raise self._refusal(400, f"Unable to infer object type from: {object_type}")
        return schema

    def _check_id_property(self, schema: ObjectSchema, id_property: str | None, verb: str) -> None:
        # HubSpot refuses hs_object_id as idProperty for writes (leave idProperty out for record ids).
        if id_property is not None and not schema.is_unique(id_property):
            raise self._refusal(400, f"Unable to perform {verb} by non-unique property {id_property}")

    def _locate(self, schema: ObjectSchema, record_id: str, id_property: str | None) -> StoredRecord | None:
        if id_property:
            return self._store.find(schema.name, id_property, record_id)
        return self._store.get(schema.name, record_id)

    def _inputs(self, value: Any) -> list[Any]:
        inputs = value.get("inputs") if isinstance(value, dict) else None
        if not isinstance(inputs, list):
            raise self._bad_input('the body must be an object with an "inputs" list')
        if len(inputs) > MAX_BATCH:
            raise self._refusal(400, f"Too many inputs: {len(inputs)}. Batch inputs are limited to {MAX_BATCH}.")
        return inputs

    def _refuse_invalid(self, schema: ObjectSchema, property_maps: Iterable[Mapping[str, str]]) -> None:
        """HubSpot refuses the whole batch when any value in any input is invalid; the message lists the
        failures by property, not by input (observed)."""
        failures: dict[PropertyFailure, None] = {}
        for properties in property_maps:
            for name, value in properties.items():
                failure = schema.check(name, value)
                if failure:
                    failures[failure] = None
        if failures:
            listed = json.dumps([f.validation_result() for f in failures], separators=(",", ":"))
            details = [f.error_detail() for f in failures]
            raise self._refusal(400, f"Property values were not valid: {listed}", errors=details)

    def _not_found_error(self, schema: ObjectSchema, ids: list[str], trace_ids: list[str]) -> JsonObject:
        # Observed: one OBJECT_NOT_FOUND error names every missing id; StandardError requires errors and links.
        context = {"ids": ids}
        if trace_ids:
            context["objectWriteTraceId"] = trace_ids
        message = (
            f"Could not get some {schema.label} objects, they may be deleted or not exist. Check that ids are valid."
        )
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": message,
            "context": context,
            "errors": [],
            "links": {},
        }

    def _batch_answer(self, results: list[JsonObject], errors: list[JsonObject], started_ms: int) -> Answer:
        # HubSpot does not keep input order; a fixed shuffle per set of ids keeps runs repeatable while
        # breaking any client that maps results back by position.
        order = random.Random(",".join(sorted(result["id"] for result in results)))
        shuffled = list(results)
        order.shuffle(shuffled)
        if len(shuffled) > 1 and shuffled == results:
            shuffled.reverse()
        body: JsonObject = {"status": "COMPLETE", "results": shuffled}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = iso_ms(started_ms)
        body["completedAt"] = iso_ms(self._wall_ms())
        return Answer(207 if errors else 200, body)

    # -- batch update ----------------------------------------------------------------------------------

    def _update_input(self, where: str, item: Any) -> UpdateInput:
        if not isinstance(item, dict):
            raise self._bad_input(f"{where} must be an object")
        record_id, properties = item.get("id"), item.get("properties")
        if not isinstance(record_id, str) or not record_id:
            raise self._bad_input(f"{where}.id must be a non-empty string")
        if not isinstance(properties, dict):
            raise self._bad_input(f"{where}.properties must be an object of strings")
        for name, value in properties.items():
            if not isinstance(value, str):
                raise self._bad_input(f"{where}.properties.{name} must be a string, not {_json_type(value)}")
        optional = {key: item.get(key) for key in ("idProperty", "objectWriteTraceId")}
        for key, value in optional.items():
            if value is not None and not isinstance(value, str):
                raise self._bad_input(f"{where}.{key} must be a string")
        return UpdateInput(record_id, properties, optional["idProperty"], optional["objectWriteTraceId"])

    def _refuse_duplicates(self, inputs: list[UpdateInput], targets: list[StoredRecord | None]) -> None:
        # Observed: also when two inputs reach one record, one by id and one through idProperty. Inputs that
        # reach no record are the same when they name the same value of the same property (or record id).
        keys = [
            ("", record.id) if record else (item.id_property or "", item.id)
            for item, record in zip(inputs, targets, strict=True)
        ]
        duplicates = list(dict.fromkeys(key[1] for key in keys if keys.count(key) > 1))
        if duplicates:
            message = f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique"
            raise self._refusal(400, message, context={"ids": duplicates})

    def _refuse_unique_clashes(
        self, schema: ObjectSchema, writes: Sequence[tuple[str | None, Mapping[str, str]]]
    ) -> None:
        """409 when a write would give a unique value held by another record (or by another input) to a
        record; `writes` pairs the record id each input writes to (None: none, nothing written) with its values."""
        claimed: dict[tuple[str, str], str] = {}
        for target, properties in writes:
            for name in schema.unique_properties():
                value = properties.get(name)
                if target is None or not value:
                    continue
                owner = self._store.owner(schema.name, name, value) or claimed.get((name, value))
                if owner and owner != target:
                    message = f"A {schema.label} with {name}={value} already exists. Existing ID: {owner}"
                    raise self._refusal(409, message)
                claimed[(name, value)] = target

    def _written(self, schema: ObjectSchema, record: StoredRecord, item: UpdateInput) -> JsonObject:
        """The result for one applied input: the values sent plus the system properties."""
        shown = render(schema, record, schema.system_properties())
        shown["properties"] = {**item.properties, **shown["properties"]}
        if item.trace_id:
            shown["objectWriteTraceId"] = item.trace_id
        return shown

    def _write_inputs(self, body: Body) -> list[UpdateInput]:
        return [self._update_input(f"inputs[{i}]", item) for i, item in enumerate(self._inputs(self._json(body)))]

    def _targets(self, schema: ObjectSchema, inputs: list[UpdateInput]) -> list[StoredRecord | None]:
        """The record each input of a write reaches (None: not found), after the checks HubSpot makes of the
        batch as a whole (unique idProperty, no two inputs reaching one record). Under the store's lock."""
        for item in inputs:
            self._check_id_property(schema, item.id_property, "update/upsert")
        targets = [self._locate(schema, item.id, item.id_property) for item in inputs]
        self._refuse_duplicates(inputs, targets)
        return targets

    def batch_update(self, object_type: str, body: Body) -> Answer:
        schema = self.schema(object_type)
        started = self._wall_ms()
        inputs = self._write_inputs(body)
        with self._store.lock:
            targets = self._targets(schema, inputs)
            self._refuse_invalid(schema, (item.properties for item in inputs))
            pairs = zip(inputs, targets, strict=True)
            writes = [(record.id if record else None, item.properties) for item, record in pairs]
            self._refuse_unique_clashes(schema, writes)
            now = self._wall_ms()
            results = []
            for item, record in zip(inputs, targets, strict=True):
                if record is not None:
                    self._store.write(schema, record, item.properties, now)
                    results.append(self._written(schema, record, item))
        missing = [item for item, record in zip(inputs, targets, strict=True) if record is None]
        errors = []
        if missing:
            traces = [item.trace_id for item in missing if item.trace_id]
            errors.append(self._not_found_error(schema, [item.id for item in missing], traces))
        return self._batch_answer(results, errors, started)

    # -- batch upsert ----------------------------------------------------------------------------------

    def batch_upsert(self, object_type: str, body: Body) -> Answer:
        """Update the records the inputs find, create those an `idProperty` input does not find.

        As HubSpot: `idProperty` must be unique; the whole batch is refused (400) for any invalid value or
        duplicate, as batch/update is; each result says `new`. A created record gets the idProperty value
        (it wins over a different value of that property in `properties`).
        Chosen where HubSpot's behaviour is not documented: an input without `idProperty` names a record
        id; HubSpot assigns record ids, so a missing one is not created but answered as batch/update
        answers it (a 207 OBJECT_NOT_FOUND error naming it). A type HubSpot offers no create for
        (partner services) is refused whole: 400 VALIDATION_ERROR, nothing read or written.
        """
        schema = self.schema(object_type)
        if not schema.creatable:
            message = (
                f"Unable to perform upsert: {schema.label} objects cannot be created through the API; "
                f"{schema.name} supports batch/update only"
            )
            raise self._refusal(400, message)
        started = self._wall_ms()
        inputs = self._write_inputs(body)
        with self._store.lock:
            targets = self._targets(schema, inputs)
            values = [_upserted(item, record) for item, record in zip(inputs, targets, strict=True)]
            self._refuse_invalid(schema, (item.properties for item in values))
            self._refuse_unique_clashes(schema, _upsert_writes(values, targets))
            now = self._wall_ms()
            results = []
            for item, record in zip(values, targets, strict=True):
                if record is None and not item.id_property:
                    continue  # a record id that does not exist: listed in the errors below
                new = record is None
                if record is None:
                    record = self._store.create(schema.name, item.properties, now)
                else:
                    self._store.write(schema, record, item.properties, now)
                results.append({**self._written(schema, record, item), "new": new})
        pairs = zip(inputs, targets, strict=True)
        missing = [item for item, record in pairs if record is None and not item.id_property]
        errors = []
        if missing:
            traces = [item.trace_id for item in missing if item.trace_id]
            errors.append(self._not_found_error(schema, [item.id for item in missing], traces))
        return self._batch_answer(results, errors, started)

    # -- reads -----------------------------------------------------------------------------------------

    def _shown(self, schema: ObjectSchema, names: list[str] | None) -> list[str]:
        """Requested properties, or the type's defaults; HubSpot always adds the system properties."""
        return [*(names if names else schema.default_properties), *schema.system_properties()]

    def batch_read(self, object_type: str, body: Body) -> Answer:
        schema = self.schema(object_type)
        started = self._wall_ms()
        value = self._json(body)
        ids = []
        for index, item in enumerate(self._inputs(value)):
            record_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(record_id, str) or not record_id:
                raise self._bad_input(f"inputs[{index}].id must be a non-empty string")
            ids.append(record_id)
        names = value.get("properties") or []
        id_property = value.get("idProperty") or None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise self._bad_input("properties must be a list of strings")
        if id_property == "hs_object_id":  # reads, unlike writes, accept the record id property by name
            id_property = None
        self._check_id_property(schema, id_property, "read")
        results, missing = [], []
        with self._store.lock:
            for record_id in dict.fromkeys(ids):
                record = self._locate(schema, record_id, id_property)
                if record is None:
                    missing.append(record_id)
                else:
                    results.append(render(schema, record, self._shown(schema, names)))
        errors = [self._not_found_error(schema, missing, [])] if missing else []
        return self._batch_answer(results, errors, started)

    def _one(self, schema: ObjectSchema, record_id: str, query: Query) -> StoredRecord:
        id_property: str | None = (query.get("idProperty") or [""])[0]
        if id_property in ("", "hs_object_id"):  # reads, unlike writes, accept the record id property by name
            id_property = None
        self._check_id_property(schema, id_property, "read")
        archived = (query.get("archived") or ["false"])[0] == "true"
        record = None if archived else self._locate(schema, record_id, id_property)
        if record is None:
            raise Refusal(
                Answer(
                    404,
                    error_body(
                        "OBJECT_NOT_FOUND",
                        "Object not found.  objectId are usually numeric.",
                        self._ids.next(),
                        context={"id": [record_id]},
                    ),
                )
            )
        return record

    def get_one(self, object_type: str, record_id: str, query: Query) -> Answer:
        schema = self.schema(object_type)
        with self._store.lock:
            record = self._one(schema, record_id, query)
            return Answer(200, render(schema, record, self._shown(schema, property_names(query))))

    def update_one(self, object_type: str, record_id: str, query: Query, body: Body) -> Answer:
        """PATCH one record: the same checks as one input of a batch update."""
        schema = self.schema(object_type)
        value = self._json(body)
        properties = value.get("properties") if isinstance(value, dict) else None
        item = self._update_input("body", {"id": record_id, "properties": properties})
        with self._store.lock:
            record = self._one(schema, record_id, query)
            self._refuse_invalid(schema, [item.properties])
            self._refuse_unique_clashes(schema, [(record.id, item.properties)])
            self._store.write(schema, record, item.properties, self._wall_ms())
            return Answer(200, self._written(schema, record, item))

    def list_page(self, object_type: str, query: Query, base_url: str) -> Answer:
        """One page in id order; `after` is the id the next page starts at, as HubSpot's cursor is."""
        schema = self.schema(object_type)
        try:
            limit = int((query.get("limit") or [str(DEFAULT_PAGE)])[0])
        except ValueError:
            raise self._refusal(400, "limit must be an integer") from None
        limit = min(max(limit, 1), MAX_PAGE)
        after = (query.get("after") or [""])[0]
        archived = (query.get("archived") or ["false"])[0] == "true"
        names = property_names(query)
        records = [] if archived else self._store.all(schema.name)
        if after:
            records = [record for record in records if id_order(record.id) >= id_order(after)]
        page, rest = records[:limit], records[limit:]
        body: JsonObject = {"results": [render(schema, record, self._shown(schema, names)) for record in page]}
        if rest:
            params = {"limit": str(limit), "after": rest[0].id}
            if names:
                params["properties"] = ",".join(names)
            link = f"{base_url}/crm/v3/objects/{object_type}?{urlencode(params)}"
            body["paging"] = {"next": {"after": rest[0].id, "link": link}}
        return Answer(200, body)

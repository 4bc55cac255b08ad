"""HubSpot's Properties API, read side: `GET /crm/v3/properties/{objectType}` and `.../{propertyName}`.

Answers come from the store's current definitions, the same ones writes are validated against, so a
property changed through the admin endpoint is both served and enforced from the next request on.
Archived properties are not modelled: `archived=true` lists none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .definitions import property_to_api
from .schema import ObjectSchema
from .store import Store
from .wire import Answer, CorrelationIds, Refusal, error_answer, error_body

Query = Mapping[str, Sequence[str]]


class PropertiesApi:
    def __init__(self, store: Store, ids: CorrelationIds) -> None:
        self._store = store
        self._ids = ids

    def _schema(self, object_type: str) -> ObjectSchema:
        schema = self._store.schema(object_type)
        if schema is None:
            # As the objects API: HubSpot answers an unknown object type with 400, not 404.
            message = f"Unable to infer object type from: {object_type}"
            raise Refusal(error_answer(400, message, self._ids.next()))
        return schema

    def get_all(self, object_type: str, query: Query) -> Answer:
        schema = self._schema(object_type)
        archived = (query.get("archived") or ["false"])[0] == "true"
        results = [] if archived else [property_to_api(prop) for prop in schema.properties.values()]
        return Answer(200, {"results": results})

    def get_one(self, object_type: str, name: str, query: Query) -> Answer:
        schema = self._schema(object_type)
        archived = (query.get("archived") or ["false"])[0] == "true"
        prop = None if archived else schema.properties.get(name)
        if prop is None:
            # Not observed: the body follows the objects API's 404 (category OBJECT_NOT_FOUND).
            body = error_body("OBJECT_NOT_FOUND", f'Property "{name}" does not exist', self._ids.next())
            return Answer(404, body)
        return Answer(200, property_to_api(prop))

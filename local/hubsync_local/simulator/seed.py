"""Seed data: object types and records to start from, from a JSON file or a dict.

Format (every key optional):

    {
      "schemas": {"<objectType>": <schema, see definitions.py>},          # added to / replacing the built-ins
      "records": {"<objectType>": [{"id": "1001", "properties": {"property_string": "..."},
                                    "createdAt": "2024-01-15T09:30:00.000Z"}]}
    }

Records are checked like writes (known properties, valid values, unique values unique), except that they
may set read-only and calculated values and are not held to validation rules (`refuseValues`): HubSpot
itself writes those. `seed=None`
loads the bundled `seed.json` (20 partner_services 1001..1020 and 3 contacts); `seed={}` starts empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .definitions import schema_from_dict
from .schema import ObjectSchema, default_schemas
from .store import Store

DEFAULT_SEED_PATH = Path(__file__).with_name("seed.json")
SeedSource = str | os.PathLike[str] | Mapping[str, Any] | None


@dataclass(frozen=True)
class Seed:
    schemas: dict[str, ObjectSchema]
    records: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)


def load_seed(source: SeedSource) -> Seed:
    """Read a seed from a path, a dict, or (None) the bundled demo data."""
    if source is None:
        source = DEFAULT_SEED_PATH
    if isinstance(source, Mapping):
        data: Any = source
    else:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError("a seed is a JSON object")
    schemas = default_schemas()
    for name, schema in dict(data.get("schemas") or {}).items():
        schemas[name] = schema_from_dict(name, schema)
    records = {str(name): list(items) for name, items in dict(data.get("records") or {}).items()}
    return Seed(schemas, records)


def populate(store: Store, seed: Seed) -> None:
    """Add the seed's records to `store`; ValueError (StoreError) on the first bad record."""
    for object_type, items in seed.records.items():
        for item in items:
            created = item.get("createdAt")
            created_ms = None
            if isinstance(created, str):
                created_ms = int(datetime.fromisoformat(created).timestamp() * 1000)
            record_id = item.get("id")
            store.add(
                object_type, dict(item.get("properties") or {}), str(record_id) if record_id else None, created_ms
            )

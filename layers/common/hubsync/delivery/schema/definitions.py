"""What hubsync reads of HubSpot's property definitions (``GET /crm/v3/properties/{objectType}``).

Only what the value rules need: type, field type, option values and labels, and whether a value may be
written at all (read-only, calculated). An answer that is not the documented shape is not trusted in
part: it is refused whole (``DefinitionsError``), and values then go to HubSpot as they are, since a
property missing from a half-read answer would refuse good events as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TYPES = frozenset({"string", "number", "bool", "date", "datetime", "enumeration", "phone_number", "object_coordinates"})
MULTI_SELECT_FIELD_TYPES = frozenset({"checkbox"})  # multiple checkboxes: ``;``-separated option values


class DefinitionsError(ValueError):
    """The answer is not a Properties API answer hubsync can rely on."""


@dataclass(frozen=True, slots=True)
class PropertyDefinition:
    """One property as the value rules see it.

    ``labels`` maps each option label, lower-cased, to its option's value; a label two options share
    maps to None (ambiguous: converted to neither)."""

    name: str
    type: str
    field_type: str = "text"
    options: frozenset[str] = frozenset()
    labels: Mapping[str, str | None] = field(default_factory=dict)
    unique: bool = False
    read_only: bool = False
    calculated: bool = False
    external_options: bool = False

    @property
    def multi_select(self) -> bool:
        return self.field_type in MULTI_SELECT_FIELD_TYPES

    @property
    def writable(self) -> bool:
        return not (self.read_only or self.calculated)


@dataclass(frozen=True)
class ObjectDefinitions:
    """An object type's properties by name."""

    object_type: str
    properties: Mapping[str, PropertyDefinition]

    def get(self, name: str) -> PropertyDefinition | None:
        return self.properties.get(name)


def parse_definitions(object_type: str, body: Any) -> ObjectDefinitions:
    """The definitions in a Properties API answer; DefinitionsError when it is not that answer."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise DefinitionsError("not a Properties API answer (no results list)")
    properties: dict[str, PropertyDefinition] = {}
    for index, item in enumerate(results):
        definition = parse_property(item, f"results[{index}]")
        properties[definition.name] = definition
    return ObjectDefinitions(object_type, properties)


def parse_property(item: Any, where: str = "property") -> PropertyDefinition:
    if not isinstance(item, dict):
        raise DefinitionsError(f"{where} is not an object")
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not name or not isinstance(kind, str) or not kind:
        raise DefinitionsError(f"{where} has no name or type")
    field_type = item.get("fieldType")
    options, labels = _options(item.get("options"), f"{where}.options")
    metadata = item.get("modificationMetadata")
    read_only = isinstance(metadata, dict) and metadata.get("readOnlyValue") is True
    return PropertyDefinition(
        name=name,
        type=kind,
        field_type=field_type if isinstance(field_type, str) else "text",
        options=options,
        labels=labels,
        unique=item.get("hasUniqueValue") is True,
        read_only=read_only,
        calculated=item.get("calculated") is True,
        external_options=item.get("externalOptions") is True,
    )


def _options(raw: Any, where: str) -> tuple[frozenset[str], dict[str, str | None]]:
    if raw is None:
        return frozenset(), {}
    if not isinstance(raw, list):
        raise DefinitionsError(f"{where} is not a list")
    values: set[str] = set()
    labels: dict[str, str | None] = {}
    for index, option in enumerate(raw):
        value = option.get("value") if isinstance(option, dict) else None
        if not isinstance(value, str):
            raise DefinitionsError(f"{where}[{index}] has no string value")
        values.add(value)
        label = option.get("label")
        if isinstance(label, str) and label.strip():
            key = label.strip().casefold()
            labels[key] = value if labels.get(key, value) == value else None
    return frozenset(values), labels

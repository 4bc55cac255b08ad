"""Object types, property definitions and HubSpot's value rules.

A schema can also be given in a seed (see `seed.py`) as a dict shaped like HubSpot's Properties API:

    {"label": "PARTNER_SERVICE", "aliases": ["partner_service"], "defaultProperties": ["hs_object_id"],
     "properties": [{"name": "colour", "type": "enumeration", "fieldType": "select",
                     "options": ["red", {"value": "blue"}], "hasUniqueValue": false, "readOnlyValue": false}]}

`type` is one of string, number, bool, date, datetime, enumeration; `fieldType` tells select / radio
(one option) from checkbox (`;`-separated options). hs_object_id, hs_createdate and hs_lastmodifieddate
are added to every schema, read-only and computed from the record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .wire import JsonObject

MS_PER_DAY = 86_400_000
_INTEGER = re.compile(r"-?\d+")
# HubSpot number properties take plain decimals ("17", "-3.25", "1e3"); no spaces, separators or NaN.
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
TYPES = ("string", "number", "bool", "date", "datetime", "enumeration")
MULTI_FIELD_TYPES = ("checkbox",)


@dataclass(frozen=True)
class PropertyDef:
    """One property. `system` names what a computed read-only property shows: id, created or modified."""

    name: str
    type: str
    field_type: str = "text"
    options: tuple[str, ...] = ()
    unique: bool = False
    read_only: bool = False
    system: str | None = None


@dataclass(frozen=True)
class PropertyFailure:
    """Why one property value was refused, in HubSpot's two renderings."""

    name: str
    code: str
    message: str

    def validation_result(self) -> JsonObject:
        return {"isValid": False, "message": self.message, "error": self.code, "name": self.name}

    def error_detail(self) -> JsonObject:
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}


@dataclass(frozen=True)
class ObjectSchema:
    """An object type: `label` is the upper-case singular HubSpot uses in messages (PARTNER_SERVICE)."""

    name: str
    label: str
    properties: Mapping[str, PropertyDef]
    default_properties: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    def is_unique(self, name: str) -> bool:
        prop = self.properties.get(name)
        return prop is not None and prop.unique and prop.system is None

    def system_properties(self) -> list[str]:
        return [name for name, prop in self.properties.items() if prop.system]

    def unique_properties(self) -> list[str]:
        return [name for name in self.properties if self.is_unique(name)]

    def check(self, name: str, value: str) -> PropertyFailure | None:
        """None when `value` may be written to property `name`; "" (clear) is always allowed."""
        prop = self.properties.get(name)
        if prop is None:
            return PropertyFailure(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if prop.read_only:
            return PropertyFailure(name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")
        if value == "":
            return None
        return check_value(prop, value)


def check_value(prop: PropertyDef, value: str) -> PropertyFailure | None:
    """Apply HubSpot's format rule for the property's type to a non-empty string value."""
    if prop.type == "number" and not _DECIMAL.fullmatch(value):
        return PropertyFailure(prop.name, "INVALID_DECIMAL", f"{value} was not a valid number.")
    if prop.type == "date":
        return _check_date(prop.name, value)
    if prop.type == "datetime" and not _is_datetime(value):
        return PropertyFailure(prop.name, "INVALID_LONG", f"{value} was not a valid long.")
    if prop.type in ("bool", "enumeration"):
        parts = value.split(";") if prop.field_type in MULTI_FIELD_TYPES else [value]
        # A leading or doubled ";" is how clients append to a multi-select; empty parts are ignored.
        for part in parts:
            if (part or prop.field_type not in MULTI_FIELD_TYPES) and part not in prop.options:
                return PropertyFailure(prop.name, "INVALID_OPTION", f"{part} was not one of the allowed options")
    return None


def _check_date(name: str, value: str) -> PropertyFailure | None:
    # HubSpot: date properties take epoch milliseconds at midnight UTC only (HUBSPOT.md).
    if not _INTEGER.fullmatch(value):
        return PropertyFailure(name, "INVALID_DATE", f"{value} is not a valid date; use epoch milliseconds.")
    ms = int(value)
    if ms % MS_PER_DAY == 0:
        return None
    within = ms % MS_PER_DAY
    hours, rest = divmod(within, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return PropertyFailure(
        name, "INVALID_DATE", f"{value} is at {hours}:{minutes}:{seconds}.{millis} UTC, not midnight!"
    )


def _is_datetime(value: str) -> bool:
    if _INTEGER.fullmatch(value):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


SYSTEM_PROPERTIES = (
    PropertyDef("hs_object_id", "number", "number", read_only=True, system="id"),
    PropertyDef("hs_createdate", "datetime", "date", read_only=True, system="created"),
    PropertyDef("hs_lastmodifieddate", "datetime", "date", read_only=True, system="modified"),
)


def build_schema(
    name: str,
    label: str,
    properties: list[PropertyDef],
    default_properties: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
) -> ObjectSchema:
    props = {prop.name: prop for prop in properties}
    for system in SYSTEM_PROPERTIES:
        props.setdefault(system.name, system)
    defaults = default_properties or ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
    return ObjectSchema(name, label, props, defaults, aliases)


def schema_from_dict(name: str, data: Mapping[str, Any]) -> ObjectSchema:
    """Build a schema from the seed format in this module's docstring; ValueError when malformed."""
    properties = [_property_from_dict(item) for item in data.get("properties", [])]
    label = str(data.get("label") or name.rstrip("s").upper())
    defaults = tuple(str(item) for item in data.get("defaultProperties", ()))
    aliases = tuple(str(item) for item in data.get("aliases", ()))
    return build_schema(name, label, properties, defaults, aliases)


def _property_from_dict(item: Mapping[str, Any]) -> PropertyDef:
    name, kind = item.get("name"), item.get("type", "string")
    if not isinstance(name, str) or kind not in TYPES:
        raise ValueError(f"property needs a name and a type among {TYPES}: {dict(item)!r}")
    options = tuple(str(opt["value"] if isinstance(opt, Mapping) else opt) for opt in item.get("options", ()))
    if kind == "bool" and not options:
        options = ("true", "false")
    read_only = bool(item.get("readOnlyValue") or item.get("modificationMetadata", {}).get("readOnlyValue"))
    default_field = {"bool": "booleancheckbox", "enumeration": "select", "number": "number", "date": "date"}
    return PropertyDef(
        name=name,
        type=kind,
        field_type=str(item.get("fieldType") or default_field.get(kind, "text")),
        options=options,
        unique=bool(item.get("hasUniqueValue", False)),
        read_only=read_only,
    )


def _partner_services() -> ObjectSchema:
    # Properties of HubSpot's documented partner-services example; "choice_*" are the options its example
    # record uses, "option_*" the ones the project's tests use.
    return build_schema(
        "partner_services",
        "PARTNER_SERVICE",
        [
            PropertyDef("property_string", "string"),
            PropertyDef("property_number", "number", "number"),
            PropertyDef("property_checkbox", "bool", "booleancheckbox", ("true", "false")),
            PropertyDef("property_date", "date", "date"),
            PropertyDef(
                "property_dropdown",
                "enumeration",
                "select",
                ("option_a", "option_b", "option_c", "choice_a", "choice_b", "choice_c"),
            ),
            PropertyDef(
                "property_multiple_checkboxes", "enumeration", "checkbox", ("chocolate", "strawberry", "vanilla")
            ),
            PropertyDef("property_radio", "enumeration", "radio", ("option_1", "option_2")),
            PropertyDef("my_unique_property_name", "string", unique=True),
            PropertyDef("property_datetime", "datetime", "date"),
        ],
        aliases=("partner_service",),
    )


def _contacts() -> ObjectSchema:
    stages = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
    return build_schema(
        "contacts",
        "CONTACT",
        [
            PropertyDef("email", "string", unique=True),
            PropertyDef("firstname", "string"),
            PropertyDef("lastname", "string"),
            PropertyDef("phone", "string"),
            PropertyDef("lifecyclestage", "enumeration", "radio", (*stages, "evangelist", "other")),
            PropertyDef("createdate", "datetime", "date", read_only=True, system="created"),
            PropertyDef("lastmodifieddate", "datetime", "date", read_only=True, system="modified"),
        ],
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        aliases=("contact", "0-1"),
    )


def default_schemas() -> dict[str, ObjectSchema]:
    """The built-in object types: partner_services and contacts."""
    return {schema.name: schema for schema in (_partner_services(), _contacts())}

"""Property definitions in and out: the seed format read into `PropertyDef`s, and `PropertyDef`s rendered
as HubSpot's Properties API answers them (`GET /crm/v3/properties/{objectType}`).

A schema in a seed (see seed.py):

    {"label": "PARTNER_SERVICE", "aliases": ["partner_service"], "defaultProperties": ["hs_object_id"],
     "creatable": true, "groupName": "partner_service_information",
     "properties": [<property>, ...]}

A property: `name` and `type` (string, number, bool, date, datetime, enumeration) are required; `fieldType`
tells select / radio (one option) from checkbox (`;`-separated options). Optional, with HubSpot's meaning:
`label`, `groupName`, `description`, `hasUniqueValue`, `calculated` (read-only for writes),
`calculationFormula`, `externalOptions` (the API lists no options; any value is accepted), `hidden`,
`formField`, `hubspotDefined`, `displayOrder`, `readOnlyValue` (or `modificationMetadata.readOnlyValue`,
with `readOnlyDefinition`). `options` are plain strings (label = value) or objects `{"value", "label"?,
"hidden"?, "displayOrder"?, "description"?}`; a bool property without options gets true/false, labelled
Yes/No. A property as the API answers it is accepted too (its timestamps, `archived`, ... are ignored).

The simulator's own knob, an admin's property validation rule (HubSpot applies those to API writes since
2023): `refuseValues` lists values the definition allows but writes are refused with, whole-batch 400 as
any invalid value; `refuseCode` (default INVALID_REGEX) and `refuseMessage` (default "<value> does not
match the property's validation rules") say how.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import BOOL_OPTIONS, TYPES, ObjectSchema, Option, PropertyDef, build_schema
from .wire import JsonObject, iso_ms

_DEFAULT_FIELD = {"bool": "booleancheckbox", "enumeration": "select", "number": "number", "date": "date"}
# Fields of HubSpot's Property the simulator does not model: accepted, so an API answer can be sent back.
_IGNORED = {
    "createdAt",
    "updatedAt",
    "archived",
    "archivedAt",
    "createdUserId",
    "updatedUserId",
    "showCurrencySymbol",
    "referencedObjectType",
    "dataSensitivity",
}
_KNOWN = {
    "name",
    "type",
    "fieldType",
    "label",
    "groupName",
    "description",
    "options",
    "hasUniqueValue",
    "calculated",
    "calculationFormula",
    "externalOptions",
    "hidden",
    "formField",
    "hubspotDefined",
    "displayOrder",
    "readOnlyValue",
    "modificationMetadata",
    "refuseValues",
    "refuseCode",
    "refuseMessage",
    *_IGNORED,
}
_SCHEMA_KEYS = {"label", "aliases", "defaultProperties", "properties", "creatable", "groupName"}


def schema_from_dict(name: str, data: Mapping[str, Any]) -> ObjectSchema:
    """Build a schema from the seed format in this module's docstring; ValueError when malformed."""
    unknown = set(data) - _SCHEMA_KEYS
    if unknown:
        raise ValueError(f"unknown schema keys for {name}: {sorted(unknown)}")
    properties = [property_from_dict(item) for item in data.get("properties", [])]
    label = str(data.get("label") or name.rstrip("s").upper())
    defaults = tuple(str(item) for item in data.get("defaultProperties", ()))
    aliases = tuple(str(item) for item in data.get("aliases", ()))
    return build_schema(
        name,
        label,
        properties,
        defaults,
        aliases,
        creatable=bool(data.get("creatable", True)),
        group_name=str(data.get("groupName") or ""),
    )


def _flag(item: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {value!r}")
    return value


def _text(item: Mapping[str, Any], key: str, default: str = "") -> str:
    value = item.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {value!r}")
    return value


def _option(order: int, item: Any) -> Option:
    if isinstance(item, str):
        return Option(item, item, False, order)
    if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
        raise ValueError(f"an option is a string or an object with a string value: {item!r}")
    value = item["value"]
    display_order = item.get("displayOrder", order)
    if isinstance(display_order, bool) or not isinstance(display_order, int):
        raise ValueError(f"displayOrder must be an integer: {item!r}")
    return Option(value, _text(item, "label", value), _flag(item, "hidden"), display_order, _text(item, "description"))


def _strings(item: Mapping[str, Any], key: str) -> frozenset[str]:
    values = item.get(key, [])
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{key} must be a list of strings")
    return frozenset(values)


def property_from_dict(item: Mapping[str, Any]) -> PropertyDef:
    """One property from the seed format; ValueError when malformed."""
    name, kind = item.get("name"), item.get("type", "string")
    if not isinstance(name, str) or not name or kind not in TYPES:
        raise ValueError(f"property needs a name and a type among {TYPES}: {dict(item)!r}")
    unknown = set(item) - _KNOWN
    if unknown:
        raise ValueError(f"unknown property keys for {name}: {sorted(unknown)}")
    raw_options = item.get("options") or []
    if not isinstance(raw_options, list):
        raise ValueError(f"options of {name} must be a list")
    parsed = tuple(_option(order, option) for order, option in enumerate(raw_options))
    if kind == "bool" and not parsed:
        parsed = BOOL_OPTIONS
    metadata = item.get("modificationMetadata") or {}
    if not isinstance(metadata, Mapping):
        raise ValueError("modificationMetadata must be an object")
    display_order = item.get("displayOrder", -1)
    if isinstance(display_order, bool) or not isinstance(display_order, int):
        raise ValueError("displayOrder must be an integer")
    return PropertyDef(
        name=name,
        type=kind,
        field_type=_text(item, "fieldType") or _DEFAULT_FIELD.get(kind, "text"),
        options=parsed,
        unique=_flag(item, "hasUniqueValue"),
        read_only=_flag(item, "readOnlyValue") or _flag(metadata, "readOnlyValue"),
        label=_text(item, "label"),
        group_name=_text(item, "groupName"),
        description=_text(item, "description"),
        calculated=_flag(item, "calculated"),
        external_options=_flag(item, "externalOptions"),
        hidden=_flag(item, "hidden"),
        hubspot_defined=_flag(item, "hubspotDefined"),
        read_only_definition=_flag(metadata, "readOnlyDefinition"),
        form_field=_flag(item, "formField", True),
        display_order=display_order,
        calculation_formula=_text(item, "calculationFormula") or None,
        refuse_values=_strings(item, "refuseValues"),
        refuse_code=_text(item, "refuseCode") or "INVALID_REGEX",
        refuse_message=_text(item, "refuseMessage") or None,
    )


def property_to_api(prop: PropertyDef) -> JsonObject:
    """A `Property` as HubSpot's Properties API answers it (hubspot.crm.properties.models.ModelProperty)."""
    shown: JsonObject = {
        "updatedAt": iso_ms(prop.updated_ms),
        "createdAt": iso_ms(prop.created_ms),
        "name": prop.name,
        "label": prop.shown_label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group_name,
        # HubSpot lists no options for externalOptions properties: they come from elsewhere.
        "options": [] if prop.external_options else [_option_to_api(option) for option in prop.options],
        "displayOrder": prop.display_order,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hasUniqueValue": prop.unique,
        "hidden": prop.hidden,
        "hubspotDefined": prop.hubspot_defined,
        "modificationMetadata": {
            "archivable": not prop.hubspot_defined,
            "readOnlyDefinition": prop.read_only_definition,
            "readOnlyValue": not prop.writable,
        },
        "formField": prop.form_field,
        "archived": False,
    }
    if prop.calculation_formula:
        shown["calculationFormula"] = prop.calculation_formula
    return shown


def _option_to_api(option: Option) -> JsonObject:
    return {
        "label": option.label,
        "value": option.value,
        "description": option.description,
        "displayOrder": option.display_order,
        "hidden": option.hidden,
    }


def rule_to_admin(prop: PropertyDef) -> JsonObject:
    """The simulator-only validation rule of a property, for the admin view (empty when it has none)."""
    if not prop.refuse_values:
        return {}
    rule: JsonObject = {"refuseValues": sorted(prop.refuse_values), "refuseCode": prop.refuse_code}
    if prop.refuse_message:
        rule["refuseMessage"] = prop.refuse_message
    return rule

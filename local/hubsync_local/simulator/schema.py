"""Object types, property definitions and HubSpot's value rules.

The definitions here are the one source for both what the Properties API answers (definitions.py renders
them) and how writes are validated (`ObjectSchema.check`), so the two cannot disagree. The seed format is
in definitions.py. hs_object_id, hs_createdate and hs_lastmodifieddate are added to every schema,
read-only and computed from the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .wire import JsonObject

MS_PER_DAY = 86_400_000
# When the built-in and seeded definitions say they were created (HubSpot shows createdAt/updatedAt).
DEFINED_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_INTEGER = re.compile(r"-?\d+")
# HubSpot number properties take plain decimals ("17", "-3.25", "1e3"); no spaces, separators or NaN.
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
TYPES = ("string", "number", "bool", "date", "datetime", "enumeration")
MULTI_FIELD_TYPES = ("checkbox",)
# A value refused by an admin's validation rule (`refuseValues`): HubSpot's rule failures carry a code per
# rule type (its changelog shows INVALID_ALPHA for "letters only"); a list of refused values is what a
# regex rule does, hence this default. `refuseCode` / `refuseMessage` in the seed format override both.
RULE_CODE = "INVALID_REGEX"
RULE_MESSAGE = "{value} does not match the property's validation rules"


def human_label(value: str) -> str:
    """option_a -> "Option A", chocolate -> "Chocolate": the labels the built-in options carry."""
    return " ".join(word.capitalize() for word in value.split("_"))


@dataclass(frozen=True)
class Option:
    """An enumeration option. Writes must send `value`; `label` is what people see. Hidden options are
    hidden in HubSpot's forms and UI, but still valid values for API writes."""

    value: str
    label: str
    hidden: bool = False
    display_order: int = 0
    description: str = ""


def options(*values: str, hidden: Iterable[str] = ()) -> tuple[Option, ...]:
    """Options with human labels in the order given; `hidden` names the hidden ones."""
    hidden_values = set(hidden)
    return tuple(Option(v, human_label(v), v in hidden_values, order) for order, v in enumerate(values))


# HubSpot's booleancheckbox properties list true/false as options labelled Yes/No.
BOOL_OPTIONS = (Option("true", "Yes", False, 0), Option("false", "No", False, 1))


@dataclass(frozen=True)
class PropertyDef:
    """One property. `system` names what a computed read-only property shows: id, created or modified.

    `read_only` is HubSpot's modificationMetadata.readOnlyValue; `calculated` properties are read-only for
    writes too. `external_options`: the options live elsewhere (the API lists none, any value is accepted
    here, as HubSpot validates those elsewhere). `refuse_values`: an admin's validation rule.
    """

    name: str
    type: str
    field_type: str = "text"
    options: tuple[Option, ...] = ()
    unique: bool = False
    read_only: bool = False
    system: str | None = None
    label: str = ""
    group_name: str = ""
    description: str = ""
    calculated: bool = False
    external_options: bool = False
    hidden: bool = False
    hubspot_defined: bool = False
    read_only_definition: bool = False
    form_field: bool = True
    display_order: int = -1
    calculation_formula: str | None = None
    refuse_values: frozenset[str] = frozenset()
    refuse_code: str = RULE_CODE
    refuse_message: str | None = None
    created_ms: int = DEFINED_MS
    updated_ms: int = DEFINED_MS
    allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(option.value for option in self.options))

    @property
    def shown_label(self) -> str:
        return self.label or human_label(self.name)

    @property
    def writable(self) -> bool:
        return not (self.read_only or self.calculated or self.system)


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
    """An object type: `label` is the upper-case singular HubSpot uses in messages (PARTNER_SERVICE).
    `creatable` False: HubSpot offers no create for the type (partner services), so no upsert either."""

    name: str
    label: str
    properties: Mapping[str, PropertyDef]
    default_properties: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    creatable: bool = True
    group_name: str = ""

    def is_unique(self, name: str) -> bool:
        prop = self.properties.get(name)
        return prop is not None and prop.unique and prop.system is None

    def system_properties(self) -> list[str]:
        return [name for name, prop in self.properties.items() if prop.system]

    def unique_properties(self) -> list[str]:
        return [name for name in self.properties if self.is_unique(name)]

    def check(self, name: str, value: str, *, as_hubspot: bool = False) -> PropertyFailure | None:
        """None when `value` may be written to property `name`; "" (clear) is always allowed.

        `as_hubspot`: the write is HubSpot's own (a seeded record), which may set read-only and calculated
        values and is not held to the account's validation rules; the computed system properties stay off.
        """
        prop = self.properties.get(name)
        if prop is None:
            return PropertyFailure(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if prop.system or not (prop.writable or as_hubspot):
            return PropertyFailure(name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set.")
        if value == "":
            return None
        return check_value(prop, value) or (None if as_hubspot else check_rules(prop, value))


def _parts(prop: PropertyDef, value: str) -> list[str]:
    # A leading or doubled ";" is how clients append to a multi-select; empty parts are ignored.
    if prop.field_type in MULTI_FIELD_TYPES:
        return [part for part in value.split(";") if part]
    return [value]


def check_value(prop: PropertyDef, value: str) -> PropertyFailure | None:
    """Apply HubSpot's format rule for the property's type to a non-empty string value."""
    if prop.type == "number" and not _DECIMAL.fullmatch(value):
        return PropertyFailure(prop.name, "INVALID_DECIMAL", f"{value} was not a valid number.")
    if prop.type == "date":
        return _check_date(prop.name, value)
    if prop.type == "datetime" and not _is_datetime(value):
        return PropertyFailure(prop.name, "INVALID_LONG", f"{value} was not a valid long.")
    if prop.type == "bool" or (prop.type == "enumeration" and not prop.external_options):
        # The option's value, never its label ("Option A" for option_a is refused, as HubSpot does).
        for part in _parts(prop, value):
            if part not in prop.allowed:
                return PropertyFailure(prop.name, "INVALID_OPTION", f"{part} was not one of the allowed options")
    return None


def check_rules(prop: PropertyDef, value: str) -> PropertyFailure | None:
    """An admin's validation rule: values the definition allows but the account refuses."""
    for part in (value, *_parts(prop, value)):
        if part in prop.refuse_values:
            message = prop.refuse_message or RULE_MESSAGE.format(value=part)
            return PropertyFailure(prop.name, prop.refuse_code, message)
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


def _system(name: str, kind: str, label: str, system: str) -> PropertyDef:
    return PropertyDef(
        name,
        kind,
        "number" if kind == "number" else "date",
        read_only=True,
        system=system,
        label=label,
        hubspot_defined=True,
        read_only_definition=True,
        form_field=False,
    )


SYSTEM_PROPERTIES = (
    _system("hs_object_id", "number", "Record ID", "id"),
    _system("hs_createdate", "datetime", "Object create date/time", "created"),
    _system("hs_lastmodifieddate", "datetime", "Object last modified date/time", "modified"),
)


def build_schema(
    name: str,
    label: str,
    properties: Iterable[PropertyDef],
    default_properties: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    **settings: Any,
) -> ObjectSchema:
    """A schema with the system properties added; `settings`: creatable, group_name."""
    group = str(settings.get("group_name") or f"{name.rstrip('s')}information")
    props = {prop.name: prop if prop.group_name else _in_group(prop, group) for prop in properties}
    for system in SYSTEM_PROPERTIES:
        props.setdefault(system.name, _in_group(system, group))
    defaults = default_properties or ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
    return ObjectSchema(name, label, props, defaults, aliases, bool(settings.get("creatable", True)), group)


def _in_group(prop: PropertyDef, group: str) -> PropertyDef:
    return replace(prop, group_name=group)


def _partner_services() -> ObjectSchema:
    # Properties of HubSpot's documented partner-services example; "choice_*" are the options its example
    # record uses, "option_*" the ones the project's tests use. The last four carry the definition
    # features writes must respect: a hidden option, calculated, read-only value, external options.
    dropdown = ("option_a", "option_b", "option_c", "choice_a", "choice_b", "choice_c", "option_retired")
    return build_schema(
        "partner_services",
        "PARTNER_SERVICE",
        [
            PropertyDef("property_string", "string", label="String"),
            PropertyDef("property_number", "number", "number", label="Number"),
            PropertyDef("property_checkbox", "bool", "booleancheckbox", BOOL_OPTIONS, label="Checkbox"),
            PropertyDef("property_date", "date", "date", label="Date"),
            PropertyDef(
                "property_dropdown",
                "enumeration",
                "select",
                options(*dropdown, hidden=["option_retired"]),
                label="Dropdown",
            ),
            PropertyDef(
                "property_multiple_checkboxes",
                "enumeration",
                "checkbox",
                options("chocolate", "strawberry", "vanilla"),
                label="Multiple checkboxes",
            ),
            PropertyDef("property_radio", "enumeration", "radio", options("option_1", "option_2"), label="Radio"),
            PropertyDef("my_unique_property_name", "string", unique=True, label="My unique property"),
            PropertyDef("property_datetime", "datetime", "date", label="Date and time"),
            PropertyDef(
                "property_calculated",
                "number",
                "calculation_equation",
                label="Calculated",
                calculated=True,
                calculation_formula="property_number * 2",
                form_field=False,
            ),
            PropertyDef("property_read_only", "string", label="Read-only value", read_only=True, form_field=False),
            PropertyDef("property_external", "enumeration", "select", label="External options", external_options=True),
        ],
        aliases=("partner_service",),
        creatable=False,
        group_name="partner_service_information",
    )


def _contacts() -> ObjectSchema:
    stages = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
    stage_labels = ("Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity")
    stage_options = tuple(
        Option(value, label, False, order)
        for order, (value, label) in enumerate(
            zip((*stages, "evangelist", "other"), (*stage_labels, "Customer", "Evangelist", "Other"), strict=True)
        )
    )

    def defined(name: str, kind: str, label: str, **more: Any) -> PropertyDef:
        return PropertyDef(name, kind, label=label, hubspot_defined=True, **more)

    return build_schema(
        "contacts",
        "CONTACT",
        [
            defined("email", "string", "Email", unique=True),
            defined("firstname", "string", "First Name"),
            defined("lastname", "string", "Last Name"),
            defined("phone", "string", "Phone Number"),
            defined("lifecyclestage", "enumeration", "Lifecycle Stage", field_type="radio", options=stage_options),
            _system("createdate", "datetime", "Create Date", "created"),
            _system("lastmodifieddate", "datetime", "Last Modified Date", "modified"),
        ],
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        aliases=("contact", "0-1"),
        group_name="contactinformation",
    )


def default_schemas() -> dict[str, ObjectSchema]:
    """The built-in object types: partner_services and contacts."""
    return {schema.name: schema for schema in (_partner_services(), _contacts())}

"""HubSpot's value rules, applied to one value before it is sent: the value as HubSpot will take it,
or a ``Problem`` with the code HubSpot would answer.

What is converted (each documented in docs/schema.md):
- ``date``: an ISO date, an ISO datetime or epoch milliseconds becomes epoch milliseconds at midnight
  UTC of its UTC calendar date (HubSpot takes nothing else: "... is at 13:1:0.0 UTC, not midnight!").
  A datetime without an offset is read as UTC.
- ``datetime``: an ISO datetime (or date) becomes epoch milliseconds; epoch milliseconds stay.
- ``enumeration``: a value equal to exactly one option's label (case-insensitive) becomes that option's
  value; each part of a multiple-checkbox value (``;``-separated) likewise.
- ``bool``: ``true``/``false`` in any case, or an option's label ("Yes"), becomes ``true``/``false``.
``""`` always passes: it clears the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from hubsync.delivery.schema.definitions import PropertyDefinition

MS_PER_DAY = 86_400_000
# datetime's own range (years 1..9999) in epoch milliseconds: HubSpot stores no date outside it.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999
_EPOCH_MS = re.compile(r"-?\d{1,15}", re.ASCII)
# HubSpot's number properties take plain decimals ("17", "-3.25", "1e3"): no signs but "-", no separators.
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", re.ASCII)
_MAX_LISTED = 20  # allowed options named in a message

PROPERTY_DOESNT_EXIST = "PROPERTY_DOESNT_EXIST"
READ_ONLY_VALUE = "READ_ONLY_VALUE"
INVALID_OPTION = "INVALID_OPTION"
INVALID_DECIMAL = "INVALID_DECIMAL"
INVALID_BOOLEAN = "INVALID_BOOLEAN"
INVALID_DATE = "INVALID_DATE"
NOT_UNIQUE_ID_PROPERTY = "NOT_UNIQUE_ID_PROPERTY"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one value cannot be written: the property, the value, HubSpot's code, and what is allowed."""

    property: str
    code: str
    message: str


# A rule: the value as HubSpot takes it (the same object when unchanged), or a Problem.
Rule = Callable[[str], "str | Problem"]


def rule_for(definition: PropertyDefinition) -> Rule | None:
    """The rule for a writable property's non-empty values; None when any string goes (``string`` and
    the types hubsync does not know, which HubSpot alone judges)."""
    kind = definition.type
    if kind == "number":
        return _number_rule(definition.name)
    if kind == "date":
        return _date_rule(definition.name)
    if kind == "datetime":
        return _datetime_rule(definition.name)
    if kind == "bool":
        return _bool_rule(definition)
    if kind == "enumeration" and not definition.external_options:
        return _enumeration_rule(definition)
    return None


def _number_rule(name: str) -> Rule:
    decimal = _DECIMAL.fullmatch  # digits only, so always finite: no NaN, no Infinity

    def rule(value: str) -> str | Problem:
        if (value.isdigit() and value.isascii()) or decimal(value):
            return value
        return Problem(
            name, INVALID_DECIMAL, f"{name}: {value!r} is not a number (a plain decimal such as 17 or -3.25)"
        )

    return rule


def epoch_ms(value: str) -> int | None:
    """Epoch milliseconds of an epoch-ms string, an ISO date or an ISO datetime (naive: UTC); None if
    it is none of those."""
    if _EPOCH_MS.fullmatch(value):
        ms = int(value)
        return ms if _MIN_MS <= ms <= _MAX_MS else None
    if not 10 <= len(value) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    except OverflowError:
        return None
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _date_rule(name: str) -> Rule:
    def rule(value: str) -> str | Problem:
        ms = epoch_ms(value)
        if ms is None:
            return Problem(
                name, INVALID_DATE, f"{name}: {value!r} is not a date (an ISO date, an ISO datetime or epoch ms)"
            )
        midnight = ms - ms % MS_PER_DAY  # floors: a time before 1970 goes to its own day's midnight too
        return value if str(midnight) == value else str(midnight)

    return rule


def _datetime_rule(name: str) -> Rule:
    def rule(value: str) -> str | Problem:
        ms = epoch_ms(value)
        if ms is None:
            return Problem(name, INVALID_DATE, f"{name}: {value!r} is not a datetime (ISO 8601 or epoch ms)")
        converted = str(ms)
        return value if converted == value else converted

    return rule


def _bool_rule(definition: PropertyDefinition) -> Rule:
    name, labels = definition.name, definition.labels

    def rule(value: str) -> str | Problem:
        if value == "true" or value == "false":
            return value
        folded = value.strip().casefold()
        if folded in ("true", "false"):
            return folded
        converted = labels.get(folded)
        if converted in ("true", "false"):
            return converted
        return Problem(name, INVALID_BOOLEAN, f"{name}: {value!r} is not a boolean (true or false)")

    return rule


def _enumeration_rule(definition: PropertyDefinition) -> Rule:
    name, options, labels, multi = definition.name, definition.options, definition.labels, definition.multi_select

    def one(part: str) -> str | None:
        if part in options:
            return part
        return labels.get(part.strip().casefold())

    def rule(value: str) -> str | Problem:
        if value in options:
            return value
        parts = value.split(";") if multi else [value]
        converted = []
        for part in parts:
            if multi and part == "":  # a leading or doubled ";" is how clients append to a multi-select
                converted.append(part)
                continue
            option = one(part)
            if option is None:
                return Problem(name, INVALID_OPTION, _not_an_option(name, part, options))
            converted.append(option)
        joined = ";".join(converted)
        return value if joined == value else joined

    return rule


def _not_an_option(name: str, part: str, options: frozenset[str]) -> str:
    allowed = sorted(options)
    listed = ", ".join(allowed[:_MAX_LISTED]) + (f", ... ({len(allowed)} in all)" if len(allowed) > _MAX_LISTED else "")
    return f"{name}: {part!r} is not one of the allowed options: {listed or '(none)'}"

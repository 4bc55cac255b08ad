"""Every event's values checked against its object type's definitions before it is merged and sent.

An event with a value HubSpot would refuse is refused whole, with every reason (its other values are
not sent either: an event is one change, applied whole or kept whole in the DLQ for replay). Values
HubSpot takes only in another form are converted (``hubsync.delivery.schema.values``). Events of a type whose
definitions cannot be had go as they are.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from hubsync.delivery.schema.cache import DefinitionCache, Fetch
from hubsync.delivery.schema.definitions import DefinitionsError, ObjectDefinitions, parse_definitions
from hubsync.delivery.schema.values import (
    NOT_UNIQUE_ID_PROPERTY,
    PROPERTY_DOESNT_EXIST,
    READ_ONLY_VALUE,
    Problem,
    Rule,
    rule_for,
)

logger = logging.getLogger(__name__)

_UNKNOWN: Any = object()  # a property the definitions do not have
_READ_ONLY: Any = object()  # one whose value cannot be written


class Checkable(Protocol):
    """What is checked: an event, or several events merged for one record (hubsync.delivery.batching.MergedInput)."""

    object_type: str
    id_property: str | None
    properties: dict[str, str]


@dataclass
class CheckResult:
    """What the checks did to one batch's events."""

    refused: dict[int, list[Problem]] = field(default_factory=dict)  # index checked -> every reason
    converted_values: int = 0
    unavailable: list[str] = field(default_factory=list)  # object types checked by nobody but HubSpot

    def refused_by_code(self) -> Counter[str]:
        """Events refused, by code (an event with two codes counts under each)."""
        counts: Counter[str] = Counter()
        for problems in self.refused.values():
            counts.update({problem.code for problem in problems})
        return counts


class _Compiled:
    """One type's definitions as rules by property name: None (any string), _UNKNOWN, _READ_ONLY or a Rule."""

    __slots__ = ("definitions", "rules")

    def __init__(self, definitions: ObjectDefinitions) -> None:
        self.definitions = definitions
        self.rules: dict[str, Rule | None] = {
            name: (rule_for(definition) if definition.writable else _READ_ONLY)
            for name, definition in definitions.properties.items()
        }


class SchemaChecks:
    """Thread-safe as its cache is; one per container."""

    def __init__(self, cache: DefinitionCache) -> None:
        self.cache = cache
        self._compiled: dict[str, _Compiled] = {}

    def check(self, events: Sequence[Checkable], fetch: Fetch) -> CheckResult:
        """Checks (and converts, in place) every event; the refused ones are named in the result."""
        result = CheckResult()
        by_type: dict[str, _Compiled | None] = {}
        refused_by_type: dict[str, dict[int, list[Problem]]] = {}
        # Runs once per event of every batch: most events pass unchanged, so they are only looked at here (one
        # dict lookup and at most one rule call per value); the others are examined again in full.
        for index, event in enumerate(events):
            object_type = event.object_type
            try:
                compiled = by_type[object_type]
            except KeyError:
                compiled = by_type[object_type] = self._compiled_for(object_type, fetch, result)
            if compiled is None:
                continue
            if event.id_property is None:
                rules = compiled.rules
                for name, value in event.properties.items():
                    rule = rules.get(name, _UNKNOWN)
                    if rule is None:
                        continue
                    if rule is _UNKNOWN or rule is _READ_ONLY or (value and rule(value) is not value):
                        break
                else:
                    continue
            problems = _convert(event, compiled, result)
            if problems:
                refused_by_type.setdefault(object_type, {})[index] = problems
        for object_type, refused in refused_by_type.items():
            # Refused on definitions that may be old: checked again against fresh ones (when old enough to fetch
            # again) before anything is dead-lettered, so that a new option is not refused.
            cached = by_type[object_type]
            fresh = self.cache.refresh_if_old(object_type, fetch)
            if fresh is not None and cached is not None and fresh is not cached.definitions:
                refused = self._check_all(events, list(refused), fresh, result)
            result.refused.update(refused)
        return result

    def _compiled_for(self, object_type: str, fetch: Fetch, result: CheckResult) -> _Compiled | None:
        definitions = self.cache.get(object_type, fetch)
        if definitions is None:
            result.unavailable.append(object_type)
            return None
        return self._rules(definitions)

    def _check_all(
        self, events: Sequence[Checkable], indexes: list[int], definitions: ObjectDefinitions, result: CheckResult
    ) -> dict[int, list[Problem]]:
        compiled = self._rules(definitions)
        refused: dict[int, list[Problem]] = {}
        for index in indexes:
            problems = _convert(events[index], compiled, result)
            if problems:
                refused[index] = problems
        return refused

    def _rules(self, definitions: ObjectDefinitions) -> _Compiled:
        compiled = self._compiled.get(definitions.object_type)
        if compiled is None or compiled.definitions is not definitions:
            compiled = _Compiled(definitions)
            self._compiled[definitions.object_type] = compiled
        return compiled


def _convert(event: Checkable, compiled: _Compiled, result: CheckResult) -> list[Problem] | None:
    """The event's problems; if none, its values converted in place (counted in ``result``).

    Runs once per event of every batch: one dict lookup per value, and no copy unless a value changes."""
    rules = compiled.rules
    properties = event.properties
    changed: dict[str, str] | None = None
    problems: list[Problem] | None = None
    for name, value in properties.items():
        rule = rules.get(name, _UNKNOWN)
        if rule is None:
            continue
        if rule is _UNKNOWN or rule is _READ_ONLY:
            problems = problems or []
            problems.append(_not_writable(name, rule is _UNKNOWN, compiled.definitions.object_type))
            continue
        if value == "":
            continue
        checked = rule(value)
        if checked is value:
            continue
        if isinstance(checked, Problem):
            problems = problems or []
            problems.append(checked)
        else:
            if changed is None:
                changed = dict(properties)
            changed[name] = checked
    if event.id_property is not None:
        definition = compiled.definitions.get(event.id_property)
        if definition is None or not definition.unique:
            problems = problems or []
            problems.append(
                Problem(
                    event.id_property,
                    NOT_UNIQUE_ID_PROPERTY,
                    f"idProperty {event.id_property!r} is not a unique property of "
                    f"{compiled.definitions.object_type} (HubSpot writes by unique properties only)",
                )
            )
    if problems:
        return problems
    if changed is not None:
        result.converted_values += sum(1 for name, value in changed.items() if properties[name] is not value)
        event.properties = changed
    return None


def _not_writable(name: str, unknown: bool, object_type: str) -> Problem:
    if unknown:
        return Problem(name, PROPERTY_DOESNT_EXIST, f"{name}: no such property of {object_type}")
    return Problem(name, READ_ONLY_VALUE, f"{name}: a read-only or calculated property; its value cannot be set")


def failure_message(problems: Sequence[Problem]) -> str:
    """Every reason in one line, for the DLQ."""
    return "values HubSpot would refuse: " + "; ".join(problem.message for problem in problems)


def definitions_fetcher(get: Callable[[str], Any]) -> Fetch:
    """A Fetch over ``get(path)``, which answers a HubSpotAnswer or None (not sent). Logs one line
    when the definitions cannot be had, saying that values go as they are."""

    def fetch(object_type: str) -> ObjectDefinitions | None:
        answer = get(f"/crm/v3/properties/{quote(object_type, safe='')}")
        why = None
        if answer is None:
            why = "not sent (no time or no rate-limit permit left)"
        elif answer.status != 200:
            why = f"HTTP {answer.status}" if answer.status is not None else answer.detail
            if answer.status == 403:
                why += " (the token may lack the scope to read this object type's properties)"
        else:
            try:
                return parse_definitions(object_type, answer.body)
            except DefinitionsError as exc:
                why = str(exc)
        logger.warning(
            "property definitions for %s unavailable (%s): its values go to HubSpot unchecked", object_type, why
        )
        return None

    return fetch

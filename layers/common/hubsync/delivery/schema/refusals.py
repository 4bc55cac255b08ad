"""What a whole-batch 400 says about which inputs it refused.

HubSpot refuses a whole batch when any value of any input is invalid, and names the property, not the
input: ``errors[].context.propertyName``, and a JSON list of failures embedded in the message
(``Property values were not valid: [{"isValid": false, "message": "...", "error": "INVALID_OPTION",
"name": "dealstage"}]``). Most of those messages begin with the refused value ("X was not one of the
allowed options", "X is at 13:1:0.0 UTC, not midnight!"). So the inputs carrying a named property
(with a named value, where a message gives it) are the suspects: they are split off and the rest is
sent at once, instead of bisecting the batch blind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_PREFIX = "Property values were not valid: "


def named_failures(body: Any) -> dict[str, list[str]]:
    """The properties a 400 names, each with the messages given for it (possibly none)."""
    named: dict[str, list[str]] = {}
    if not isinstance(body, dict):
        return named
    errors = body.get("errors")
    for error in errors if isinstance(errors, list) else ():
        if not isinstance(error, dict):
            continue
        context = error.get("context")
        names = context.get("propertyName") if isinstance(context, dict) else None
        message = error.get("message")
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str):
                named.setdefault(name, [])
                if isinstance(message, str):
                    named[name].append(message)
    message = body.get("message")
    if isinstance(message, str) and message.startswith(_PREFIX):
        for failure in _embedded(message[len(_PREFIX) :]):
            name, text = failure.get("name"), failure.get("message")
            if isinstance(name, str):
                named.setdefault(name, [])
                if isinstance(text, str):
                    named[name].append(text)
    return named


def _embedded(text: str) -> list[dict[str, Any]]:
    try:
        listed = json.loads(text)
    except ValueError:
        return []
    return [item for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []


def suspects(inputs: Mapping[str, Mapping[str, Any]], named: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """The inputs (trace ids) a refusal may mean: those whose value of a named property a message
    quotes (each almost surely refused on its own), and those carrying a named property with a value
    no message quotes (most likely fine: HubSpot lists each refused value)."""
    by_value: list[str] = []
    by_name: list[str] = []
    for trace, item in inputs.items():
        properties = item.get("properties") or {}
        carried = [name for name in named if name in properties]
        if not carried:
            continue
        if any(_quotes(named[name], properties[name]) for name in carried):
            by_value.append(trace)
        else:
            by_name.append(trace)
    return by_value, by_name


def _quotes(messages: list[str], value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    return any(text.startswith(value + " ") or f'"{value}"' in text or f"'{value}'" in text for text in messages)

"""Webhook sources: who may send, how each signs, and how a repeated delivery is recognised.

``WEBHOOK_SOURCES`` (JSON) maps a source name to its settings; the route ``POST /webhooks/{source}``
picks one, ``POST /webhooks`` is the source ``default``::

    {"default": {"scheme": "standard-webhooks"},
     "github":  {"scheme": "hmac-sha256", "options": {"header": "x-hub-signature-256", "prefix": "sha256="},
                 "idempotencyKey": "header:x-github-delivery"},
     "hubspot": {"scheme": "hubspot", "toleranceSeconds": 300, "objectType": "contacts"}}

A source may map its sender's own bodies to events (hubsync.intake.mapping): ``transform`` (a JMESPath
expression) or ``preset`` (``"hubspot-crm"``, or ``{"name": "hubspot-crm", "idProperty": "..."}``). What
it may write is allow-listed: ``objectTypes`` (default: only its ``objectType``, else ``OBJECT_TYPE``)
and ``properties`` (names; a trailing ``*`` matches a prefix; default: any).

Secrets never go here: they live in the webhook secret (Secrets Manager), as a JSON list for the
default source or a JSON object ``{"<source>": ["secret", ...]}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsync.exceptions import ConfigurationError

DEFAULT_SOURCE = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEYS = {
    "scheme",
    "options",
    "toleranceSeconds",
    "idempotencyKey",
    "objectType",
    "transform",
    "preset",
    "objectTypes",
    "properties",
}
PRESETS = ("hubspot-crm",)
_PRESET_OPTIONS = {"hubspot-crm": {"idProperty"}}
# As hubsync.events checks them (names, not ids, are what HubSpot's internal names look like).
_OBJECT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_PROPERTY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}\*?$|^\*$")
BODY_SHA256 = "body-sha256"


@dataclass(frozen=True)
class Source:
    """One sender's settings. ``idempotency_key``: "delivery-id" (the scheme's own id header, the
    default), "header:<name>", "body:<field>" (a top-level field of the JSON body), "body-sha256" (the
    body's hash: for senders without a delivery id) or "none".

    ``transform`` / ``preset``: how the sender's body becomes events (hubsync.intake.mapping); neither: the
    body is hubsync's own event shape. ``object_types``: the object types its events may write;
    ``properties``: the property names (or ``prefix*``) they may write, None for any."""

    name: str
    scheme: str = "standard-webhooks"
    options: Mapping[str, Any] = field(default_factory=dict)
    tolerance_seconds: int = 300
    idempotency_key: str = "delivery-id"
    object_type: str | None = None
    transform: str | None = None
    preset: str | None = None
    preset_options: Mapping[str, Any] = field(default_factory=dict)
    object_types: tuple[str, ...] = ()  # empty: only the source's object type (resolved with OBJECT_TYPE)
    properties: tuple[str, ...] | None = None

    @property
    def mapped(self) -> bool:
        """Whether the body is the sender's own shape, mapped to events (and so jmespath or a preset is needed)."""
        return self.transform is not None or self.preset is not None

    def allowed_object_types(self, default_object_type: str) -> tuple[str, ...]:
        return self.object_types or (self.object_type or default_object_type,)


def _source(name: str, raw: Any, default_tolerance: int) -> Source:
    if not _NAME.match(name):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source name {name!r} must match {_NAME.pattern}")
    if not isinstance(raw, dict):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} must be an object")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} has unknown settings {sorted(unknown)}")
    transform = raw.get("transform")
    if transform is not None and (not isinstance(transform, str) or not transform.strip()):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} transform must be a JMESPath expression (a string)")
    preset, preset_options = _preset(name, raw.get("preset"))
    if transform is not None and preset is not None:
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} has both a transform and a preset; keep one")
    # HubSpot sends no delivery id and its eventId is not unique: its deliveries are known by their hash.
    key = raw.get("idempotencyKey", BODY_SHA256 if preset == "hubspot-crm" else "delivery-id")
    if not isinstance(key, str) or not (
        key in ("delivery-id", "none", BODY_SHA256) or (key.startswith(("header:", "body:")) and key.split(":", 1)[1])
    ):
        raise ConfigurationError(
            f"WEBHOOK_SOURCES: source {name!r} idempotencyKey must be delivery-id, body-sha256, none, "
            "header:<name> or body:<field>"
        )
    tolerance = raw.get("toleranceSeconds", default_tolerance)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance < 1:
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} toleranceSeconds must be a positive integer")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} options must be an object")
    object_type = raw.get("objectType")
    if object_type is not None and not isinstance(object_type, str):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} objectType must be a string")
    return Source(
        name=name,
        scheme=str(raw.get("scheme", "standard-webhooks")),
        options=options,
        tolerance_seconds=tolerance,
        idempotency_key=key.lower() if key.startswith("header:") else key,
        object_type=object_type,
        transform=transform,
        preset=preset,
        preset_options=preset_options,
        object_types=_names(name, "objectTypes", raw.get("objectTypes", []), _OBJECT_TYPE),
        properties=(
            _names(name, "properties", raw["properties"], _PROPERTY_PATTERN)
            if raw.get("properties") is not None
            else None
        ),
    )


def _preset(name: str, raw: Any) -> tuple[str | None, dict[str, Any]]:
    """A preset given as its name, or as {"name": ..., <its options>}."""
    if raw is None:
        return None, {}
    options = dict(raw) if isinstance(raw, dict) else {"name": raw}
    preset = options.pop("name", None)
    if preset not in PRESETS:
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} preset must be one of {list(PRESETS)}")
    unknown = set(options) - _PRESET_OPTIONS[preset]
    if unknown:
        raise ConfigurationError(
            f"WEBHOOK_SOURCES: source {name!r} preset {preset} has unknown options {sorted(unknown)}"
        )
    id_property = options.get("idProperty")
    if id_property is not None and (not isinstance(id_property, str) or not id_property.strip()):
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} preset idProperty must be a property name")
    return str(preset), options


def _names(name: str, setting: str, raw: Any, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and pattern.match(item) for item in raw):
        raise ConfigurationError(
            f"WEBHOOK_SOURCES: source {name!r} {setting} must be a list of names matching {pattern.pattern}"
        )
    if setting == "properties" and not raw:
        raise ConfigurationError(f"WEBHOOK_SOURCES: source {name!r} properties is empty: it would allow nothing")
    return tuple(raw)


def parse_sources(text: str | None, default_tolerance: int = 300) -> dict[str, Source]:
    """The configured sources; without configuration, one ``default`` source using Standard Webhooks."""
    if not text or not text.strip():
        return {DEFAULT_SOURCE: Source(DEFAULT_SOURCE, tolerance_seconds=default_tolerance)}
    try:
        document = json.loads(text)
    except ValueError:
        raise ConfigurationError("WEBHOOK_SOURCES is not valid JSON") from None
    if not isinstance(document, dict) or not document:
        raise ConfigurationError("WEBHOOK_SOURCES must be a JSON object of source name -> settings")
    return {name: _source(name, raw, default_tolerance) for name, raw in document.items()}


def parse_source_secrets(text: str) -> dict[str, list[str]]:
    """Per-source secrets: a JSON object {source: [secrets] or "secret"}, or secrets of the default source
    (a JSON list, or space/comma-separated)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigurationError("the webhook secret is not valid JSON") from None
        if not isinstance(document, dict):
            raise ConfigurationError("the webhook secret must be a JSON object or list")
        if set(document) == {"secrets"}:  # {"secrets": [...]} is the default source's list
            document = {DEFAULT_SOURCE: document["secrets"]}
        return {str(name): _secret_list(value, str(name)) for name, value in document.items()}
    if text.startswith("["):
        try:
            return {DEFAULT_SOURCE: _secret_list(json.loads(text), DEFAULT_SOURCE)}
        except ValueError:
            raise ConfigurationError("the webhook secret is not valid JSON") from None
    return {DEFAULT_SOURCE: [s for s in text.replace(",", " ").split() if s]}


def _secret_list(value: Any, source: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ConfigurationError(f"the webhook secrets of source {source!r} must be a string or a list of strings")
    return [s.strip() for s in value if s.strip()]

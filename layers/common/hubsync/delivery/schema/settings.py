"""``OBJECT_SETTINGS``: how each object type is written, as JSON (template parameter ObjectSettings)::

    {"contacts": {"writeMode": "upsert", "idProperty": "email"}}

``writeMode`` is ``update`` (the default: ``batch/update``, records must exist) or ``upsert``: inputs of
that type carrying an ``idProperty`` go to ``batch/upsert``, which creates the records that do not
exist. ``idProperty``, optional, limits upserts to inputs carrying that one (others are updated).
Refused when read (one clear line, at start): an unknown key or mode, and upsert for
``partner_services``, for which HubSpot offers no create. An ``idProperty`` that is not unique is
refused per event by the value checks (``NOT_UNIQUE_ID_PROPERTY``: HubSpot would refuse the batch) and
before go-live by ``hubsync doctor``, which reads the definitions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from hubsync.exceptions import ConfigurationError

UPDATE = "update"
UPSERT = "upsert"
WRITE_MODES = (UPDATE, UPSERT)
# Object types HubSpot offers no create for: upsert would only ever fail.
NO_CREATE = frozenset({"partner_services", "partner_service"})
_KEYS = frozenset({"writeMode", "idProperty"})
VARIABLE = "OBJECT_SETTINGS"


@dataclass(frozen=True)
class ObjectSetting:
    write_mode: str = UPDATE
    id_property: str | None = None


@dataclass(frozen=True)
class ObjectSettings:
    by_type: Mapping[str, ObjectSetting]

    def upserts(self, object_type: str, id_property: str | None) -> bool:
        """Whether an input of this type, addressed by this idProperty (None: by record id), is upserted."""
        setting = self.by_type.get(object_type)
        if setting is None or setting.write_mode != UPSERT or id_property is None:
            return False
        return setting.id_property is None or setting.id_property == id_property

    def upsert_id_properties(self) -> dict[str, str]:
        """The idProperty each upserting type names (doctor checks it is unique)."""
        return {
            name: setting.id_property
            for name, setting in self.by_type.items()
            if setting.write_mode == UPSERT and setting.id_property
        }


def parse_object_settings(text: str | None) -> ObjectSettings:
    """ConfigurationError (naming OBJECT_SETTINGS and what is wrong) for anything but the shape above."""
    if not text or not text.strip():
        return ObjectSettings({})
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{VARIABLE} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{VARIABLE} must be a JSON object of object types")
    settings: dict[str, ObjectSetting] = {}
    for object_type, item in raw.items():
        if not isinstance(item, dict):
            raise ConfigurationError(f'{VARIABLE}[{object_type!r}] must be an object such as {{"writeMode": "upsert"}}')
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise ConfigurationError(f"{VARIABLE}[{object_type!r}]: unknown keys {unknown} (known: {sorted(_KEYS)})")
        mode = item.get("writeMode", UPDATE)
        if mode not in WRITE_MODES:
            raise ConfigurationError(
                f"{VARIABLE}[{object_type!r}].writeMode must be one of {WRITE_MODES}, got {mode!r}"
            )
        if mode == UPSERT and object_type in NO_CREATE:
            raise ConfigurationError(
                f"{VARIABLE}[{object_type!r}]: HubSpot offers no create for partner services, so no upsert; "
                "use writeMode update"
            )
        id_property = item.get("idProperty")
        if id_property is not None and (not isinstance(id_property, str) or not id_property):
            raise ConfigurationError(f"{VARIABLE}[{object_type!r}].idProperty must be a property name")
        settings[object_type] = ObjectSetting(mode, id_property)
    return ObjectSettings(settings)

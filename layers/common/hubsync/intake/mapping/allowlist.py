"""Per-source allow-lists: a source's events may write only its object types and (optionally) properties,
so a leaked secret of one source can write only what that source is meant to write."""

from __future__ import annotations

from collections.abc import Iterable

from hubsync.events import QueuedEvent

_MAX_LISTED = 10


class AllowList:
    """``object_types``: exact names; ``properties``: names, ``prefix*`` for a prefix, None for any."""

    def __init__(self, object_types: Iterable[str], properties: Iterable[str] | None = None) -> None:
        self._object_types = frozenset(object_types)
        names = None if properties is None else tuple(properties)
        self._any_property = names is None or "*" in names
        self._names = frozenset(n for n in names or () if not n.endswith("*"))
        self._prefixes = tuple(n[:-1] for n in names or () if n.endswith("*"))

    def violation(self, event: QueuedEvent) -> str | None:
        """Why the source may not write this event, or None."""
        return self.refusal(event.object_type, event.properties)

    def refusal(self, object_type: object, property_names: Iterable[object]) -> str | None:
        """Why the source may not write these properties of this object type, or None."""
        if object_type not in self._object_types:
            allowed = ", ".join(sorted(self._object_types)[:_MAX_LISTED])
            return f"objectType {object_type!r} is not one this source may write (objectTypes: {allowed})"
        if self._any_property:
            return None
        for name in property_names:
            if not isinstance(name, str) or (name not in self._names and not name.startswith(self._prefixes)):
                return f"property {name!r} is not one this source may write (see the source's properties)"
        return None

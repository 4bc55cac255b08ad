"""A scheme's options, read strictly: an unknown name, a wrong type or a bad value is a ConfigurationError.

Unknown names are refused rather than ignored, because a misspelt option (``allowlegacy``) would
otherwise silently change what is accepted. Messages name the option and never quote its value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hubsync.exceptions import ConfigurationError


class Options:
    """The options given to one scheme, checked against the names it knows."""

    def __init__(self, scheme: str, options: Mapping[str, Any] | None, known: Collection[str]) -> None:
        if options is not None and not isinstance(options, Mapping):
            raise ConfigurationError(f"the options of signature scheme {scheme!r} must be a mapping")
        self._scheme = scheme
        self._values = dict(options or {})
        unknown = sorted(str(name) for name in self._values if name not in known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ConfigurationError(
                f"unknown option(s) {', '.join(unknown)} for signature scheme {scheme!r}; known: {allowed}"
            )

    def text(self, name: str, default: str | None = None, *, allow_empty: bool = False) -> str | None:
        """A string option (non-blank unless ``allow_empty``), or ``default`` when it is not given."""
        value = self._values.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._error(name, "must be a string")
        if not allow_empty and not value.strip():
            raise self._error(name, "must not be empty")
        return value

    def required_text(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise self._error(name, "is required")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean option: JSON ``true``/``false`` only, so ``"false"`` is not taken as true."""
        value = self._values.get(name, default)
        if not isinstance(value, bool):
            raise self._error(name, "must be true or false")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._values.get(name, default)
        if value not in choices:
            raise self._error(name, f"must be one of {', '.join(choices)}")
        return str(value)

    def _error(self, name: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"option {name} of signature scheme {self._scheme!r} {problem}")

"""A request body parsed once: the gateway counts batch inputs, the endpoint reads the JSON or refuses it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Body:
    """`error` is HubSpot's "Invalid input JSON ..." message when the bytes are not JSON."""

    value: Any = None
    error: str | None = None

    @classmethod
    def parse(cls, raw: bytes) -> Body:
        if not raw.strip():
            return cls(None, "Invalid input JSON: no content to map due to end-of-input")
        try:
            return cls(json.loads(raw))
        except UnicodeDecodeError as exc:
            return cls(None, f"Invalid input JSON: {exc.reason}")
        except json.JSONDecodeError as exc:
            return cls(None, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}")

    def inputs_count(self) -> int:
        inputs = self.value.get("inputs") if isinstance(self.value, dict) else None
        return len(inputs) if isinstance(inputs, list) else 0

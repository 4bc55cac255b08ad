"""hubsync's JMESPath functions, on top of Powertools' (``powertools_json``, ``powertools_base64``,
``powertools_base64_gzip``).

- ``from_items(pairs)``: an object from ``[[key, value], ...]`` (senders that name the property in a field,
  as HubSpot's webhooks do: ``from_items([[propertyName, propertyValue]])``).
- ``seconds_to_ms(n)``: epoch seconds (Stripe's ``created``) as integer epoch milliseconds.
- ``lower(s)``, ``upper(s)``.

Importing this module imports jmespath: only sources with a transform need it (receiver cold start).
"""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools.utilities.jmespath_utils import PowertoolsFunctions
from jmespath.exceptions import JMESPathError
from jmespath.functions import signature

from hubsync.events import loads


class FunctionError(JMESPathError):  # type: ignore[misc]  # jmespath is untyped
    """A function was given a value it cannot work with (the body is then UNMAPPED, with this reason)."""


class HubsyncFunctions(PowertoolsFunctions):
    @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_powertools_json(self, value: str) -> Any:
        # The same strict JSON as the body's (no duplicate keys, no NaN), numbers as JMESPath knows them.
        return loads(value, exact_decimals=False)

    @signature({"types": ["array"]})  # type: ignore[untyped-decorator]
    def _func_from_items(self, pairs: list[Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise FunctionError("from_items() takes [[key, value], ...] with string keys")
            result[pair[0]] = pair[1]
        return result

    @signature({"types": ["number"]})  # type: ignore[untyped-decorator]
    def _func_seconds_to_ms(self, seconds: float) -> int:
        if not math.isfinite(seconds):
            raise FunctionError("seconds_to_ms() takes a finite number")
        # round(), not int(): 1700000000.123 seconds are 1700000000123 ms, not ...122 (binary fractions).
        return round(seconds * 1000)

    @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_lower(self, text: str) -> str:
        return text.lower()

    @signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_upper(self, text: str) -> str:
        return text.upper()

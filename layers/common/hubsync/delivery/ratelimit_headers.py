"""What HubSpot's answers say of its rate limits: the ``X-HubSpot-RateLimit-*`` headers (names lower-cased)
and a 429's ``policyName``, read without trusting their form (a missing or malformed one reads as None)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_HEADER = "x-hubspot-ratelimit-max"
REMAINING_HEADER = "x-hubspot-ratelimit-remaining"
INTERVAL_HEADER = "x-hubspot-ratelimit-interval-milliseconds"
DAILY_REMAINING_HEADER = "x-hubspot-ratelimit-daily-remaining"
RETRY_AFTER_HEADER = "retry-after"
DAILY_POLICY = "DAILY"
TOO_MANY_REQUESTS = 429


def headers_lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value).strip() for name, value in headers.items()}


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def policy_name(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("policyName") or "").upper()
    return ""

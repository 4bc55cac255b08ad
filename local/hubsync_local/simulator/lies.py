"""Answers that lie, as a proxy, a wrong base URL or a faulty HubSpot can: 2xx answers that do not
account for what was (or was not) applied. hubsync must settle an input only when the answer proves it;
these modes are how the tests check that it does not take a 2xx on trust.

Modes (fault script entries ``"lie:<mode>"``, or at random with ``lie_rate`` and ``lie_modes``):

- ``empty``: 200 ``{}``, nothing applied (a proxy answering for HubSpot);
- ``ok``: 200 ``{"message": "ok"}``, nothing applied;
- ``html``: 200 with an HTML page, nothing applied (a load balancer's or captive portal's page);
- ``no_results``: 200 ``{"status": "COMPLETE", "results": []}``, nothing applied (a silent failure);
- ``partial``: the first half of the inputs applied, 200 listing only those;
- ``unnamed_207``: the first half applied, 207 listing those and one error that names only a property.

Only ``batch/update`` requests lie; any other request is answered truthfully.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .body import Body
from .wire import Answer

LIE_MODES = ("empty", "ok", "html", "no_results", "partial", "unnamed_207")
_HTML = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"


def lie(mode: str, body: Body, apply: Callable[[Body], Answer]) -> Answer:
    """The lying answer for one batch/update ``body``; ``apply`` runs the real endpoint on a body."""
    if mode == "empty":
        return Answer(200, {})
    if mode == "ok":
        return Answer(200, {"message": "ok"})
    if mode == "html":
        return Answer(200, raw=_HTML, content_type="text/html; charset=utf-8")
    if mode == "no_results":
        return Answer(200, {"status": "COMPLETE", "results": [], "startedAt": _now(), "completedAt": _now()})
    inputs = body.value.get("inputs") if isinstance(body.value, dict) else None
    if not isinstance(inputs, list):
        return apply(body)
    half = Body({**body.value, "inputs": inputs[: len(inputs) // 2]})
    answer = apply(half) if half.value["inputs"] else Answer(200, {"status": "COMPLETE", "results": []})
    if answer.status not in (200, 207) or not isinstance(answer.body, dict):
        return answer  # the half itself was refused: that answer is the truth
    truthful: dict[str, Any] = answer.body
    if mode == "partial":
        return Answer(200, {key: value for key, value in truthful.items() if key not in ("errors", "numErrors")})
    error = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "context": {"propertyName": ["property_string"]},
        "errors": [],
        "links": {},
    }
    return Answer(207, {**truthful, "numErrors": 1, "errors": [error]})


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""Admin endpoints under /_simulator/ for tests in other processes. No auth, never recorded or rate-limited.

GET  /_simulator/health                    {"status": "ok", "url": ...}
GET  /_simulator/calls                     {"calls": [{"method", "path", "status", "inputs", "at"}]}
POST /_simulator/reset-calls               forget recorded calls
GET  /_simulator/records/{objectType}      {"objectType", "records": {id: record}}
POST /_simulator/records/{objectType}      body {"id"?, "properties": {...}} -> 201 {"id"}
GET  /_simulator/faults                    the fault settings and pending scripts
POST /_simulator/faults                    body: any of error_rate, error_statuses, latency_ms, reset_rate,
                                           lie_rate, lie_modes, script (appended), clear_script, reset, seed;
                                           for the Properties API only (never the above, see faults.py):
                                           properties_script (appended), clear_properties_script,
                                           properties_error_rate
GET  /_simulator/properties/{objectType}   {"objectType", "results": [Property + validation rule, ...]}
POST /_simulator/properties/{objectType}   body: one property in the seed format (definitions.py), added or
                                           replacing the one of that name -> 200 the property as served;
                                           "refuseValues": [...] in it sets a validation rule (below)
POST /_simulator/validation-rules/{objectType}
                                           body {"name", "refuseValues": [...], "refuseCode"?, "refuseMessage"?}:
                                           an admin's property validation rule on an existing property, its
                                           definition kept: writes of those values get the whole-batch 400
                                           "Property values were not valid" with code INVALID_REGEX and the
                                           message "<value> does not match the property's validation rules",
                                           unless refuseCode / refuseMessage say otherwise; [] removes it
GET  /_simulator/rate-limit                {"max_per_interval", "interval_ms", "daily"}
POST /_simulator/rate-limit                same body; starts fresh counts
POST /_simulator/reset                     records and definitions back to the seed, no calls, no faults,
                                           fresh counts
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .body import Body
from .store import StoreError
from .wire import Answer, error_body

if TYPE_CHECKING:
    from .simulator import HubSpotSimulator

PREFIX = "/_simulator/"


def _bad(message: str, status: int = 400) -> Answer:
    return Answer(status, error_body("VALIDATION_ERROR" if status == 400 else "NOT_FOUND", message, "simulator"))


def _object(body: Body) -> dict[str, Any]:
    if body.error or not isinstance(body.value, dict):
        raise ValueError(body.error or "the body must be a JSON object")
    return body.value


def handle_admin(sim: HubSpotSimulator, method: str, path: str, raw: bytes) -> Answer:
    name = path[len(PREFIX) :].strip("/")
    body = Body.parse(raw) if raw.strip() else Body({})
    try:
        return _dispatch(sim, method, name, body)
    except (ValueError, TypeError) as exc:  # StoreError is a ValueError
        return _bad(str(exc))


def _dispatch(sim: HubSpotSimulator, method: str, name: str, body: Body) -> Answer:
    if (method, name) == ("GET", "health"):
        return Answer(200, {"status": "ok", "url": sim.url})
    if (method, name) == ("GET", "calls"):
        return Answer(200, {"calls": [call.to_json() for call in sim.calls]})
    if (method, name) == ("POST", "reset-calls"):
        sim.reset_calls()
        return Answer(200, {"status": "ok"})
    if (method, name) == ("POST", "reset"):
        sim.reset()
        return Answer(200, {"status": "ok"})
    if name == "faults" and method in ("GET", "POST"):
        if method == "POST":
            sim.faults.update(_object(body))
        return Answer(200, sim.faults.snapshot())
    if name == "rate-limit" and method in ("GET", "POST"):
        if method == "POST":
            settings = _object(body)
            sim.set_rate_limit(
                settings.get("max_per_interval"), settings.get("interval_ms", 10_000), settings.get("daily")
            )
        return Answer(200, sim.rate_limit_settings())
    area, _, object_type = name.partition("/")
    if (area, method) in _DEFINITIONS:
        if not sim.knows(object_type):
            return _bad(f"unknown object type {object_type!r}", 404)
        return _DEFINITIONS[(area, method)](sim, object_type, body)
    if name.startswith("records/") and method in ("GET", "POST"):
        object_type = name[len("records/") :]
        if method == "GET":
            try:
                return Answer(200, {"objectType": object_type, "records": sim.records(object_type)})
            except StoreError as exc:
                return _bad(str(exc), 404)
        settings = _object(body)
        record_id = settings.get("id")
        new_id = sim.add_record(
            object_type, dict(settings.get("properties") or {}), str(record_id) if record_id else None
        )
        return Answer(201, {"id": new_id})
    return _bad(f"no admin endpoint {method} {PREFIX}{name}", 404)


def _define(sim: HubSpotSimulator, object_type: str, body: Body) -> Answer:
    return Answer(200, sim.define_property(object_type, _object(body)))


def _definitions(sim: HubSpotSimulator, object_type: str, body: Body) -> Answer:
    return Answer(200, {"objectType": object_type, "results": sim.properties(object_type)})


def _rule(sim: HubSpotSimulator, object_type: str, body: Body) -> Answer:
    rule = _object(body)
    name, refuse = rule.get("name"), rule.get("refuseValues", [])
    unknown = set(rule) - {"name", "refuseValues", "refuseCode", "refuseMessage"}
    if unknown or not isinstance(name, str) or not isinstance(refuse, list):
        raise ValueError(f'a rule is {{"name", "refuseValues": [...], "refuseCode"?, "refuseMessage"?}}: {rule!r}')
    code, message = rule.get("refuseCode"), rule.get("refuseMessage")
    return Answer(200, sim.set_validation_rule(object_type, name, refuse, code, message))


_DEFINITIONS: dict[tuple[str, str], Callable[[HubSpotSimulator, str, Body], Answer]] = {
    ("properties", "POST"): _define,
    ("properties", "GET"): _definitions,
    ("validation-rules", "POST"): _rule,
}

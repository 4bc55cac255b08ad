"""The path of one API request: route, authenticate, inject faults, rate-limit, then the CRM endpoint.

Order and accounting: unknown routes (404) and bad credentials (401) are answered before anything is
counted; an injected fault is answered before the rate limiter and takes no room in it; a 429 from the
limiter takes no room either (see ratelimit.py). Properties API requests draw their faults from the
properties knobs only (faults.py), and count against the same limits as every other API call.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from .api import CrmApi, Query
from .body import Body
from .faults import Fault, Faults
from .lies import lie
from .properties import PropertiesApi
from .ratelimit import RateLimiter
from .wire import (
    AUTH_MESSAGE,
    Answer,
    CorrelationIds,
    Refusal,
    category_for,
    error_body,
    rate_limit_body,
    reason_phrase,
)

_OBJECTS = re.compile(r"/crm/v3/objects/(?P<type>[^/]+)(?:/(?P<rest>.+))?")
_PROPERTIES = re.compile(r"/crm/v3/properties/(?P<type>[^/]+)(?:/(?P<name>[^/]+))?/?")
_FAULT_MESSAGES = {
    423: "The account is locked while a large sync is in progress. Wait at least 2 seconds and retry.",
    477: "This account is being migrated. Retry after the number of seconds in the Retry-After header.",
}
Endpoint = Callable[[], Answer]
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"


class Gateway:
    def __init__(
        self,
        api: CrmApi,
        faults: Faults,
        ids: CorrelationIds,
        token: str | None,
        limiter: RateLimiter,
        sleep: Callable[[float], None] | None = None,
        properties: PropertiesApi | None = None,
    ):
        self.api = api
        self.properties = properties
        self.sleep = sleep
        self.faults = faults
        self.ids = ids
        self.token = token
        self.limiter = limiter
        self.scopes: list[str] = []

    def handle(
        self, method: str, path: str, query: Query, headers: Mapping[str, str], body: Body, base_url: str
    ) -> Answer:
        """`headers` keys are lower-case."""
        if method == "POST" and path == TOKEN_INFO:
            return self._token_info(body)
        definitions = _PROPERTIES.fullmatch(path)
        if definitions is not None:
            endpoint = self._properties_route(method, path, definitions, query)
        else:
            endpoint = self._route(method, path, query, body, base_url)
        if isinstance(endpoint, Answer):
            return endpoint
        if self.token is not None and headers.get("authorization", "") != f"Bearer {self.token}":
            return Answer(401, error_body("INVALID_AUTHENTICATION", AUTH_MESSAGE, self.ids.next()))
        limiter = self.limiter
        fault = self.faults.draw() if definitions is None else self.faults.draw_properties()
        if fault is not None and fault.kind in ("lie", "late"):
            # These reach the endpoint (counted as HubSpot counts a request), then misbehave.
            endpoint = self._misbehaving(fault, endpoint, method, path, body)
            fault = None
        if fault is not None:
            answer = self._fault(fault)
            if not answer.reset:
                answer.headers = {**limiter.peek(), **answer.headers}
            return answer
        verdict = limiter.acquire()
        if verdict.policy is not None:
            answer = Answer(429, rate_limit_body(verdict.policy, self.ids.next()))
        else:
            answer = self._call(endpoint)
        answer.headers.update(verdict.headers)
        return answer

    def _misbehaving(self, fault: Fault, endpoint: Endpoint, method: str, path: str, body: Body) -> Endpoint:
        """The endpoint, run late (``late``) or answering with a lie (``lie``, batch/update only)."""
        match = _OBJECTS.fullmatch(path)
        lies = fault.kind == "lie" and method == "POST" and match is not None and match["rest"] == "batch/update"
        object_type = unquote(match["type"]) if match is not None else ""

        def run() -> Answer:
            if fault.kind == "late" and self.sleep is not None:
                self.sleep(fault.delay_ms / 1000)
            if lies:
                return lie(fault.mode or "", body, lambda part: self.api.batch_update(object_type, part))
            return endpoint()

        return run

    def _token_info(self, body: Body) -> Answer:
        """HubSpot's private-app token introspection: the token goes in the body, not in a header."""
        key = body.value.get("tokenKey") if isinstance(body.value, dict) else None
        if self.token is not None and key != self.token:
            return Answer(401, error_body("INVALID_AUTHENTICATION", AUTH_MESSAGE, self.ids.next()))
        return Answer(200, {"userId": 1, "hubId": 1, "appId": 1, "scopes": list(self.scopes)})

    def _route(self, method: str, path: str, query: Query, body: Body, base_url: str) -> Endpoint | Answer:
        match = _OBJECTS.fullmatch(path)
        if match is None:
            return Answer(404, error_body("NOT_FOUND", f"No endpoint at {path}", self.ids.next()))
        object_type, rest = unquote(match["type"]), match["rest"]
        api = self.api
        routes: dict[tuple[str | None, str], Endpoint] = {
            (None, "GET"): lambda: api.list_page(object_type, query, base_url),
            ("batch/update", "POST"): lambda: api.batch_update(object_type, body),
            ("batch/read", "POST"): lambda: api.batch_read(object_type, body),
            ("batch/upsert", "POST"): lambda: api.batch_upsert(object_type, body),
        }
        key = rest if rest is None or rest.startswith("batch/") else "{id}"
        if key == "{id}" and rest is not None and "/" not in rest:
            record_id = unquote(rest)
            routes[("{id}", "GET")] = lambda: api.get_one(object_type, record_id, query)
            routes[("{id}", "PATCH")] = lambda: api.update_one(object_type, record_id, query, body)
        endpoint = routes.get((key, method))
        if endpoint is not None:
            return endpoint
        if any(route_key == key for route_key, _ in routes):
            return Answer(405, error_body("METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}", self.ids.next()))
        return Answer(404, error_body("NOT_FOUND", f"No endpoint at {path}", self.ids.next()))

    def _properties_route(self, method: str, path: str, match: re.Match[str], query: Query) -> Endpoint | Answer:
        properties = self.properties
        if properties is None:
            return Answer(404, error_body("NOT_FOUND", f"No endpoint at {path}", self.ids.next()))
        if method != "GET":
            # HubSpot also creates, updates and archives properties here; the simulator only reads them.
            return Answer(405, error_body("METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}", self.ids.next()))
        object_type, name = unquote(match["type"]), match["name"]
        if name is None:
            return lambda: properties.get_all(object_type, query)
        property_name = unquote(name)
        return lambda: properties.get_one(object_type, property_name, query)

    def _call(self, endpoint: Endpoint) -> Answer:
        try:
            return endpoint()
        except Refusal as refusal:
            return refusal.answer
        except Exception:  # a simulator bug: answer like HubSpot's 500, and say so on stderr
            traceback.print_exc(file=sys.stderr)
            return Answer(500, error_body("INTERNAL_ERROR", "internal error", self.ids.next()))

    def _fault(self, fault: Fault) -> Answer:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.kind == "reset":
            return Answer(0, reset=True)
        if fault.kind == "rate_limit":
            return Answer(429, rate_limit_body(fault.policy or "TEN_SECONDLY_ROLLING", self.ids.next()), headers)
        status = fault.status
        message = _FAULT_MESSAGES.get(status, f"Simulated {status} {reason_phrase(status)}")
        extra: dict[str, Any] = {}
        if status == 403:
            scopes = {"requiredGranularScopes": ["crm.objects.partner-services.write"]}
            extra["errors"] = [{"message": "One or more of the following scopes are required.", "context": scopes}]
        return Answer(status, error_body(category_for(status), message, self.ids.next(), **extra), headers)

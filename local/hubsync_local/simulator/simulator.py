"""HubSpotSimulator: the public face. Holds the store, limiter, faults and call log; serves them over HTTP.

`handle()` is the socket-free seam the HTTP server calls; tests may call it directly too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from .admin import PREFIX, handle_admin
from .api import CrmApi
from .body import Body
from .calls import Call, CallLog
from .definitions import property_from_dict, property_to_api, rule_to_admin
from .faults import Faults
from .gateway import Gateway
from .properties import PropertiesApi
from .ratelimit import RateLimiter
from .schema import RULE_CODE
from .seed import Seed, SeedSource, load_seed, populate
from .server import SimulatorServer, serve_in_thread
from .store import Store, StoreError, render
from .wire import Answer, CorrelationIds, JsonObject


class HubSpotSimulator:
    """A HubSpot CRM API on a local port (see the package docstring for what it answers).

    `clock` (seconds) drives the rate limiter and `Call.at`; `wall_clock` (epoch seconds) the record
    timestamps; `sleep` the added latency; `random_seed` the fault dice, correlation ids and nothing else.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = "sim-token",
        rate_limit: int | None = None,
        interval_ms: int = 10_000,
        daily_limit: int | None = None,
        seed: SeedSource = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        random_seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self._clock = clock
        self._sleep = sleep
        self._wall_ms = lambda: int(wall_clock() * 1000)
        self._seed: Seed = load_seed(os.fspath(seed) if isinstance(seed, os.PathLike) else seed)
        self._store = Store(self._seed.schemas, self._wall_ms)
        populate(self._store, self._seed)
        self._ids = CorrelationIds(random_seed)
        self._calls = CallLog()
        self.faults = Faults(random_seed)
        limiter = RateLimiter(rate_limit, interval_ms, daily_limit, clock)
        self._gateway = Gateway(
            CrmApi(self._store, self._ids, self._wall_ms),
            self.faults,
            self._ids,
            token,
            limiter,
            sleep,
            PropertiesApi(self._store, self._ids),
        )
        # The private app's scopes, as HubSpot's token-info endpoint reports them: read and write on every type.
        self.scopes = [
            f"crm.objects.{name.replace('_', '-')}.{verb}" for name in self._seed.schemas for verb in ("read", "write")
        ]
        self._gateway.scopes = self.scopes
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve in a daemon thread; with port 0 the system picks a free port (see `url`)."""
        if self._server is not None:
            return
        self._server = SimulatorServer((self.host, self.port), self)
        self.port = self._server.server_port
        self._thread = serve_in_thread(self._server)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubSpotSimulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def open_connections(self) -> list[Any]:
        """The server-side sockets of the connections open now (diagnostics: keep-alive, TCP_NODELAY)."""
        return self._server.open_connections() if self._server else []

    # -- requests ----------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Answer:
        """Answer one request. `target` is path plus query; `headers` keys lower-case."""
        path, _, query_string = target.partition("?")
        if path.startswith(PREFIX):
            return handle_admin(self, method, path, raw)
        arrival = self._clock()
        body = Body.parse(raw)
        base_url = f"http://{headers['host']}" if "host" in headers else self.url
        query = parse_qs(query_string, keep_blank_values=True)
        answer = self._gateway.handle(method, path, query, headers, body, base_url)
        inputs = body.inputs_count() if "/batch/" in path else 0
        self._calls.append(Call(method, path, 0 if answer.reset else answer.status, inputs, arrival))
        latency_ms = self.faults.latency_ms
        if latency_ms:
            self._sleep(latency_ms / 1000)
        return answer

    # -- inspection and set-up ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every API request answered so far, in order (admin requests are not recorded)."""
        return self._calls.snapshot()

    def reset_calls(self) -> None:
        self._calls.clear()

    def record(self, object_type: str, record_id: str) -> JsonObject | None:
        """One record as `{"id", "properties" (every stored value), "createdAt", "updatedAt", "archived"}`."""
        schema = self._store.known(object_type)
        with self._store.lock:
            stored = self._store.get(schema.name, record_id)
            return render(schema, stored) if stored else None

    def records(self, object_type: str) -> dict[str, JsonObject]:
        """Every record of a type, id -> record as `record()` shows it. StoreError for an unknown type."""
        schema = self._store.known(object_type)
        with self._store.lock:
            return {stored.id: render(schema, stored) for stored in self._store.all(schema.name)}

    def add_record(self, object_type: str, properties: dict[str, str], record_id: str | None = None) -> str:
        """Create a record (values checked as for writes); returns its id. StoreError (ValueError) if refused."""
        return self._store.add(object_type, properties, record_id)

    def knows(self, object_type: str) -> bool:
        """Whether `object_type` is a type (or an alias of one) the simulator serves."""
        return self._store.schema(object_type) is not None

    def define_property(self, object_type: str, definition: Mapping[str, Any]) -> JsonObject:
        """Add a property (seed format, definitions.py) to a type, or replace the one of that name; served
        and enforced from the next request on. Returns it as the Properties API shows it, plus its
        validation rule. ValueError (StoreError) when malformed, unknown type or a system property."""
        prop = self._store.define(object_type, property_from_dict(definition))
        return {**property_to_api(prop), **rule_to_admin(prop)}

    def set_validation_rule(
        self, object_type: str, name: str, refuse: Iterable[str], code: str | None = None, message: str | None = None
    ) -> JsonObject:
        """An admin's validation rule on an existing property, its definition otherwise kept: writes of a
        value in `refuse` get a whole-batch 400 (see definitions.py for the default code and message).
        An empty `refuse` removes the rule. StoreError (ValueError) for an unknown type or property."""
        schema = self._store.known(object_type)
        old = schema.properties.get(name)
        if old is None:
            raise StoreError(f"{schema.name} has no property {name!r}")
        values = [refuse] if isinstance(refuse, str) else list(refuse)
        if not all(isinstance(value, str) for value in values):
            raise StoreError("refuseValues must be a list of strings")
        if not isinstance(code, str | None) or not isinstance(message, str | None):
            raise StoreError("refuseCode and refuseMessage must be strings")
        rule = replace(
            old, refuse_values=frozenset(values), refuse_code=code or RULE_CODE, refuse_message=message or None
        )
        prop = self._store.define(object_type, rule)
        return {**property_to_api(prop), **rule_to_admin(prop)}

    def properties(self, object_type: str) -> list[JsonObject]:
        """Every property of a type as `define_property` returns it. StoreError for an unknown type."""
        schema = self._store.known(object_type)
        return [{**property_to_api(prop), **rule_to_admin(prop)} for prop in schema.properties.values()]

    def set_rate_limit(self, max_per_interval: int | None, interval_ms: int = 10_000, daily: int | None = None) -> None:
        """New limits with fresh counts; None turns a limit (and its headers) off."""
        self._gateway.limiter = RateLimiter(max_per_interval, interval_ms, daily, self._clock)

    def rate_limit_settings(self) -> dict[str, int | None]:
        limiter = self._gateway.limiter
        return {
            "max_per_interval": limiter.max_per_interval,
            "interval_ms": limiter.interval_ms,
            "daily": limiter.daily,
        }

    def reset(self) -> None:
        """Records and property definitions back to the seed, no recorded calls, no faults, fresh
        rate-limit counts."""
        with self._store.lock:
            self._store.restore(self._seed.schemas)
            populate(self._store, self._seed)
        self.reset_calls()
        self.faults.reset()
        settings = self.rate_limit_settings()
        self.set_rate_limit(settings["max_per_interval"], settings["interval_ms"] or 10_000, settings["daily"])

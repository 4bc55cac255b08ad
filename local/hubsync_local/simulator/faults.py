"""Fault injection: random errors and resets, added latency, and a script of answers consumed in order.

A script entry decides one API request (admin endpoints never consume entries), before the rate limiter:

- an int status: 423, 477, 500, 503, ... answered with a HubSpot-style body; 429 is the ten-secondly 429;
- "NNN:S": status NNN with `Retry-After: S` (477 carries `Retry-After: 1` unless told otherwise);
- "reset": the connection is closed without an answer;
- "ten_secondly" (or "429") / "daily": a 429 with that policy's body;
- "pass" (or "ok"): this request is answered normally, with no random fault;
- "lie:MODE": a batch/update answered with a lying 2xx (lies.py lists the modes);
- "late:MS": the request is processed only after MS milliseconds (a client that gave up earlier saw a
  timeout, but the write still lands: an unknown outcome that turns out applied, late).

Random faults (`error_rate`, `reset_rate`, `lie_rate` with `lie_modes`) only apply when the script is
empty. The generator is seedable.

The Properties API (`GET /crm/v3/properties/...`) has knobs of its own and is never touched by the ones
above, so a definitions read does not shift a script written for the Nth batch call:
`properties_script` (the same entries, "lie:*" excepted: there is no batch to lie about) and
`properties_error_rate` (a status from `error_statuses`, from a generator of its own, seeded alike).
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .lies import LIE_MODES
from .ratelimit import DAILY, TEN_SECONDLY

ScriptEntry = int | str
DEFAULT_ERROR_STATUSES = (500, 502, 503, 504)
_STATUS_WITH_RETRY = re.compile(r"(\d{3})(?::(\d+))?")


@dataclass(frozen=True)
class Fault:
    """What to answer instead of processing: `kind` is status, rate_limit, reset, lie (`mode`) or late
    (`delay_ms`)."""

    kind: str
    status: int = 0
    policy: str | None = None
    retry_after: int | None = None
    mode: str | None = None
    delay_ms: int = 0


_PASS = Fault("pass")
_SETTINGS = (
    "error_rate",
    "reset_rate",
    "latency_ms",
    "error_statuses",
    "lie_rate",
    "lie_modes",
    "properties_error_rate",
)


def parse_entry(entry: ScriptEntry) -> Fault:
    """Read one script entry; ValueError for anything not in this module's docstring."""
    if isinstance(entry, bool):
        raise ValueError(f"not a fault script entry: {entry!r}")
    text = str(entry).strip().lower()
    named = {
        "reset": Fault("reset"),
        "ten_secondly": Fault("rate_limit", 429, TEN_SECONDLY),
        "ten_secondly_rolling": Fault("rate_limit", 429, TEN_SECONDLY),
        "daily": Fault("rate_limit", 429, DAILY),
        "pass": _PASS,
        "ok": _PASS,
    }
    if text in named:
        return named[text]
    kind, _, argument = text.partition(":")
    if kind == "lie" and argument in LIE_MODES:
        return Fault("lie", mode=argument)
    if kind == "late" and argument.isdigit():
        return Fault("late", delay_ms=int(argument))
    match = _STATUS_WITH_RETRY.fullmatch(text)
    if not match or not 400 <= int(match.group(1)) <= 599:
        raise ValueError(f"not a fault script entry: {entry!r}")
    status = int(match.group(1))
    retry_after = int(match.group(2)) if match.group(2) else (1 if status == 477 else None)
    if status == 429:
        return Fault("rate_limit", 429, TEN_SECONDLY, retry_after)
    return Fault("status", status, None, retry_after)


class Faults:
    """Mutable, thread-safe fault configuration shared by every request handler."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._properties_rng = random.Random(seed)
        self._script: deque[tuple[ScriptEntry, Fault]] = deque()
        self._properties_script: deque[tuple[ScriptEntry, Fault]] = deque()
        self._properties_error_rate = 0.0
        self._error_rate = 0.0
        self._reset_rate = 0.0
        self._lie_rate = 0.0
        self._lie_modes: tuple[str, ...] = LIE_MODES
        self._latency_ms = 0
        self._error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES

    @property
    def error_rate(self) -> float:
        return self._error_rate

    @error_rate.setter
    def error_rate(self, value: float) -> None:
        self._error_rate = _fraction("error_rate", value)

    @property
    def properties_error_rate(self) -> float:
        return self._properties_error_rate

    @properties_error_rate.setter
    def properties_error_rate(self, value: float) -> None:
        self._properties_error_rate = _fraction("properties_error_rate", value)

    @property
    def reset_rate(self) -> float:
        return self._reset_rate

    @reset_rate.setter
    def reset_rate(self, value: float) -> None:
        self._reset_rate = _fraction("reset_rate", value)

    @property
    def lie_rate(self) -> float:
        return self._lie_rate

    @lie_rate.setter
    def lie_rate(self, value: float) -> None:
        self._lie_rate = _fraction("lie_rate", value)

    @property
    def lie_modes(self) -> tuple[str, ...]:
        return self._lie_modes

    @lie_modes.setter
    def lie_modes(self, value: Iterable[str]) -> None:
        modes = tuple(str(mode) for mode in value)
        if not modes or any(mode not in LIE_MODES for mode in modes):
            raise ValueError(f"lie_modes must be a non-empty list of {list(LIE_MODES)}")
        self._lie_modes = modes

    @property
    def latency_ms(self) -> int:
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("latency_ms must be an int >= 0")
        self._latency_ms = value

    @property
    def error_statuses(self) -> tuple[int, ...]:
        return self._error_statuses

    @error_statuses.setter
    def error_statuses(self, value: Iterable[int]) -> None:
        statuses = tuple(int(status) for status in value)
        if not statuses or any(not 400 <= status <= 599 for status in statuses):
            raise ValueError("error_statuses must be a non-empty list of 4xx/5xx statuses")
        self._error_statuses = statuses

    def script(self, *answers: ScriptEntry) -> None:
        """Queue answers for the next API requests, one each, after any already queued."""
        parsed = [(answer, parse_entry(answer)) for answer in answers]
        with self._lock:
            self._script.extend(parsed)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def pending(self) -> list[ScriptEntry]:
        """Script entries not consumed yet."""
        with self._lock:
            return [answer for answer, _ in self._script]

    def script_properties(self, *answers: ScriptEntry) -> None:
        """Queue answers for the next Properties API requests only; "lie:*" is refused (ValueError)."""
        parsed = [(answer, parse_entry(answer)) for answer in answers]
        for answer, fault in parsed:
            if fault.kind == "lie":
                raise ValueError(f"lies are for batch/update, not the properties API: {answer!r}")
        with self._lock:
            self._properties_script.extend(parsed)

    def pending_properties(self) -> list[ScriptEntry]:
        with self._lock:
            return [answer for answer, _ in self._properties_script]

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._rng.seed(seed)
            self._properties_rng.seed(seed)

    def reset(self) -> None:
        """No faults: rates and latency back to 0, default statuses, empty script."""
        with self._lock:
            self._script.clear()
            self._properties_script.clear()
            self._error_rate = self._reset_rate = self._lie_rate = self._properties_error_rate = 0.0
            self._lie_modes = LIE_MODES
            self._latency_ms = 0
            self._error_statuses = DEFAULT_ERROR_STATUSES

    def update(self, settings: Mapping[str, Any]) -> None:
        """Apply the admin endpoint's JSON: the fields above plus "reset", "seed", "script", "clear_script",
        "properties_script" (appended) and "clear_properties_script"."""
        known = {"reset", "seed", "clear_script", "script", "properties_script", "clear_properties_script", *_SETTINGS}
        unknown = set(settings) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        if settings.get("reset"):
            self.reset()
        if "seed" in settings:
            self.seed(settings["seed"])
        if settings.get("clear_script"):
            self.clear_script()
        for name in _SETTINGS:
            if name in settings:
                setattr(self, name, settings[name])
        if settings.get("clear_properties_script"):
            with self._lock:
                self._properties_script.clear()
        script, properties_script = settings.get("script", []), settings.get("properties_script", [])
        if not isinstance(script, list) or not isinstance(properties_script, list):
            raise ValueError("script and properties_script must be lists")
        self.script(*script)
        self.script_properties(*properties_script)

    def snapshot(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "reset_rate": self.reset_rate,
            "latency_ms": self.latency_ms,
            "error_statuses": list(self.error_statuses),
            "lie_rate": self.lie_rate,
            "lie_modes": list(self.lie_modes),
            "script": self.pending(),
            "properties_error_rate": self.properties_error_rate,
            "properties_script": self.pending_properties(),
        }

    def draw(self) -> Fault | None:
        """The fault for the next API request, or None to answer it normally."""
        with self._lock:
            if self._script:
                fault = self._script.popleft()[1]
                return None if fault is _PASS else fault
            if self._reset_rate and self._rng.random() < self._reset_rate:
                return Fault("reset")
            if self._error_rate and self._rng.random() < self._error_rate:
                return Fault("status", self._rng.choice(self._error_statuses))
            if self._lie_rate and self._rng.random() < self._lie_rate:
                return Fault("lie", mode=self._rng.choice(self._lie_modes))
            return None

    def draw_properties(self) -> Fault | None:
        """The fault for the next Properties API request (its own script and rate), or None."""
        with self._lock:
            if self._properties_script:
                fault = self._properties_script.popleft()[1]
                return None if fault is _PASS else fault
            rng = self._properties_rng
            if self._properties_error_rate and rng.random() < self._properties_error_rate:
                return Fault("status", rng.choice(self._error_statuses))
            return None


def _fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1")
    return float(value)

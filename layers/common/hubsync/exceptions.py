"""hubsync's own error categories. Lower errors are wrapped with ``raise ... from exc``."""

from __future__ import annotations

from typing import Any


class HubsyncError(Exception):
    """Root of every error hubsync raises on purpose."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigurationError(HubsyncError):
    """A required setting is missing or malformed; names the variable."""


class InvalidEventError(HubsyncError):
    """One event is not valid: it is quarantined, the others go on."""


class BadRequestError(HubsyncError):
    """The whole request is unusable (not JSON, wrong shape): refused with 4xx, nothing queued."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, {"code": code})
        self.code = code
        self.status = status


class SignatureError(HubsyncError):
    """The webhook signature is missing, malformed, stale or does not match any secret."""


class QueueUnavailableError(HubsyncError):
    """SQS did not take every message, even after retrying the failed entries."""

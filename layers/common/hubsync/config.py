"""Settings from the environment. Precedence: explicit argument > environment variable > default.

The same variable names are used in Lambda, in the local stack and in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hubsync.exceptions import ConfigurationError

QUEUE_URL = "QUEUE_URL"
DLQ_URL = "DLQ_URL"
HUBSPOT_BASE_URL = "HUBSPOT_BASE_URL"
HUBSPOT_TOKEN_SECRET_ARN = "HUBSPOT_TOKEN_SECRET_ARN"
HUBSPOT_ACCESS_TOKEN = "HUBSPOT_ACCESS_TOKEN"
WEBHOOK_SECRET_ARN = "WEBHOOK_SECRET_ARN"
WEBHOOK_SECRETS = "WEBHOOK_SECRETS"
OBJECT_TYPE = "OBJECT_TYPE"
MAX_RECEIVE_COUNT = "MAX_RECEIVE_COUNT"
HUBSPOT_TIMEOUT_SECONDS = "HUBSPOT_TIMEOUT_SECONDS"
SECRETS_CACHE_SECONDS = "SECRETS_CACHE_SECONDS"
SIGNATURE_TOLERANCE_SECONDS = "SIGNATURE_TOLERANCE_SECONDS"
MAX_BODY_BYTES = "MAX_BODY_BYTES"
MAX_EVENTS_PER_REQUEST = "MAX_EVENTS_PER_REQUEST"
WEBHOOK_SOURCES = "WEBHOOK_SOURCES"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_WINDOW_SECONDS = "IDEMPOTENCY_WINDOW_SECONDS"
HUBSPOT_RATE_LIMIT = "HUBSPOT_RATE_LIMIT"
UPDATER_MAX_CONCURRENCY = "UPDATER_MAX_CONCURRENCY"
HUBSPOT_MAX_IN_FLIGHT = "HUBSPOT_MAX_IN_FLIGHT"
RECORD_STATE_TABLE = "RECORD_STATE_TABLE"
REDELIVERY_BASE_SECONDS = "REDELIVERY_BASE_SECONDS"
DAILY_LIMIT_RECHECK_SECONDS = "DAILY_LIMIT_RECHECK_SECONDS"
REQUEUE_DELAY_SECONDS = "REQUEUE_DELAY_SECONDS"
IN_DOUBT_HOLD_SECONDS = "IN_DOUBT_HOLD_SECONDS"
EVENT_FUTURE_TOLERANCE_SECONDS = "EVENT_FUTURE_TOLERANCE_SECONDS"
ARCHIVE_BUCKET = "ARCHIVE_BUCKET"
ARCHIVE_AFTER_SECONDS = "ARCHIVE_AFTER_SECONDS"
SCHEMA_CHECKS = "SCHEMA_CHECKS"
PROPERTY_CACHE_SECONDS = "PROPERTY_CACHE_SECONDS"
OBJECT_SETTINGS = "OBJECT_SETTINGS"

DEFAULT_HUBSPOT_BASE_URL = "https://api.hubapi.com"
DEFAULT_OBJECT_TYPE = "partner_services"
DEFAULT_MAX_RECEIVE_COUNT = 5
DEFAULT_HUBSPOT_TIMEOUT_SECONDS = 20.0
DEFAULT_SECRETS_CACHE_SECONDS = 300.0
DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_EVENTS_PER_REQUEST = 500
DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 86_400
DEFAULT_HUBSPOT_RATE_LIMIT = 100
DEFAULT_UPDATER_MAX_CONCURRENCY = 2
DEFAULT_HUBSPOT_MAX_IN_FLIGHT = 4
DEFAULT_REDELIVERY_BASE_SECONDS = 30
DEFAULT_IN_DOUBT_HOLD_SECONDS = 60.0
# The DLQ keeps a message 14 days after it was first queued: archive it after 12 (template: ArchiveAfterSeconds).
DEFAULT_ARCHIVE_AFTER_SECONDS = 12 * 86_400
DEFAULT_PROPERTY_CACHE_SECONDS = 300.0


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in ("on", "true", "1", "yes"):
        return True
    if raw.lower() in ("off", "false", "0", "no"):
        return False
    raise ConfigurationError(f"{name} must be on or off, got {raw!r}")


def require(value: str | None, name: str) -> str:
    """The value, or a ConfigurationError naming the variable that should have held it."""
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the functions read from the environment (see docs/configuration.md).

    Reads: QUEUE_URL, DLQ_URL, HUBSPOT_BASE_URL, HUBSPOT_TOKEN_SECRET_ARN, HUBSPOT_ACCESS_TOKEN,
    WEBHOOK_SECRET_ARN, WEBHOOK_SECRETS, OBJECT_TYPE, MAX_RECEIVE_COUNT, HUBSPOT_TIMEOUT_SECONDS,
    SECRETS_CACHE_SECONDS, SIGNATURE_TOLERANCE_SECONDS, MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST,
    WEBHOOK_SOURCES, IDEMPOTENCY_TABLE, IDEMPOTENCY_WINDOW_SECONDS, HUBSPOT_RATE_LIMIT,
    UPDATER_MAX_CONCURRENCY, HUBSPOT_MAX_IN_FLIGHT, RECORD_STATE_TABLE, REDELIVERY_BASE_SECONDS,
    DAILY_LIMIT_RECHECK_SECONDS, REQUEUE_DELAY_SECONDS, IN_DOUBT_HOLD_SECONDS, EVENT_FUTURE_TOLERANCE_SECONDS,
    ARCHIVE_BUCKET, ARCHIVE_AFTER_SECONDS, SCHEMA_CHECKS, PROPERTY_CACHE_SECONDS, OBJECT_SETTINGS.
    """

    queue_url: str | None = None
    dlq_url: str | None = None
    hubspot_base_url: str = DEFAULT_HUBSPOT_BASE_URL
    hubspot_token_secret_arn: str | None = None
    hubspot_access_token: str | None = None
    webhook_secret_arn: str | None = None
    webhook_secrets: str | None = None
    object_type: str = DEFAULT_OBJECT_TYPE
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    hubspot_timeout_seconds: float = DEFAULT_HUBSPOT_TIMEOUT_SECONDS
    secrets_cache_seconds: float = DEFAULT_SECRETS_CACHE_SECONDS
    signature_tolerance_seconds: int = DEFAULT_SIGNATURE_TOLERANCE_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_events_per_request: int = DEFAULT_MAX_EVENTS_PER_REQUEST
    webhook_sources: str | None = None
    idempotency_table: str | None = None
    idempotency_window_seconds: int = DEFAULT_IDEMPOTENCY_WINDOW_SECONDS
    hubspot_rate_limit: int = DEFAULT_HUBSPOT_RATE_LIMIT
    updater_max_concurrency: int = DEFAULT_UPDATER_MAX_CONCURRENCY
    hubspot_max_in_flight: int = DEFAULT_HUBSPOT_MAX_IN_FLIGHT
    record_state_table: str | None = None
    redelivery_base_seconds: int = DEFAULT_REDELIVERY_BASE_SECONDS
    daily_limit_recheck_seconds: float = 600.0  # HubSpot's daily limit resets at midnight in the account's zone
    requeue_delay_seconds: int = 900
    in_doubt_hold_seconds: float = DEFAULT_IN_DOUBT_HOLD_SECONDS
    # How far ahead of now an occurredAt may be; unset: the signature tolerance (a sender with a fast clock
    # cannot stamp its events past what its signatures may be off by).
    event_future_tolerance_seconds: int | None = None
    archive_bucket: str | None = None
    archive_after_seconds: float = DEFAULT_ARCHIVE_AFTER_SECONDS
    # Values checked (and converted) against HubSpot's property definitions before sending (hubsync.delivery.schema).
    schema_checks: bool = True
    property_cache_seconds: float = DEFAULT_PROPERTY_CACHE_SECONDS
    object_settings: str | None = None  # JSON, hubsync.delivery.schema.settings

    @property
    def future_tolerance_seconds(self) -> int:
        """How far in the future an event's occurredAt may be."""
        if self.event_future_tolerance_seconds is not None:
            return self.event_future_tolerance_seconds
        return self.signature_tolerance_seconds

    def __repr__(self) -> str:
        # The inline token and secrets (local use) must never reach a log line through repr().
        hidden = {"hubspot_access_token", "webhook_secrets"}
        fields = ", ".join(
            f"{name}={'***' if name in hidden and value else value!r}" for name, value in self.__dict__.items()
        )
        return f"Settings({fields})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            queue_url=_text(env, QUEUE_URL),
            dlq_url=_text(env, DLQ_URL),
            hubspot_base_url=(_text(env, HUBSPOT_BASE_URL) or DEFAULT_HUBSPOT_BASE_URL).rstrip("/"),
            hubspot_token_secret_arn=_text(env, HUBSPOT_TOKEN_SECRET_ARN),
            hubspot_access_token=_text(env, HUBSPOT_ACCESS_TOKEN),
            webhook_secret_arn=_text(env, WEBHOOK_SECRET_ARN),
            webhook_secrets=_text(env, WEBHOOK_SECRETS),
            object_type=_text(env, OBJECT_TYPE) or DEFAULT_OBJECT_TYPE,
            max_receive_count=int(_number(env, MAX_RECEIVE_COUNT, DEFAULT_MAX_RECEIVE_COUNT, 1)),
            hubspot_timeout_seconds=_number(env, HUBSPOT_TIMEOUT_SECONDS, DEFAULT_HUBSPOT_TIMEOUT_SECONDS, 0.1),
            secrets_cache_seconds=_number(env, SECRETS_CACHE_SECONDS, DEFAULT_SECRETS_CACHE_SECONDS, 0),
            signature_tolerance_seconds=int(
                _number(env, SIGNATURE_TOLERANCE_SECONDS, DEFAULT_SIGNATURE_TOLERANCE_SECONDS, 1)
            ),
            max_body_bytes=int(_number(env, MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 1)),
            max_events_per_request=int(_number(env, MAX_EVENTS_PER_REQUEST, DEFAULT_MAX_EVENTS_PER_REQUEST, 1)),
            webhook_sources=_text(env, WEBHOOK_SOURCES),
            idempotency_table=_text(env, IDEMPOTENCY_TABLE),
            idempotency_window_seconds=int(
                _number(env, IDEMPOTENCY_WINDOW_SECONDS, DEFAULT_IDEMPOTENCY_WINDOW_SECONDS, 1)
            ),
            hubspot_rate_limit=int(_number(env, HUBSPOT_RATE_LIMIT, DEFAULT_HUBSPOT_RATE_LIMIT, 1)),
            updater_max_concurrency=int(_number(env, UPDATER_MAX_CONCURRENCY, DEFAULT_UPDATER_MAX_CONCURRENCY, 1)),
            hubspot_max_in_flight=int(_number(env, HUBSPOT_MAX_IN_FLIGHT, DEFAULT_HUBSPOT_MAX_IN_FLIGHT, 1)),
            record_state_table=_text(env, RECORD_STATE_TABLE),
            redelivery_base_seconds=int(_number(env, REDELIVERY_BASE_SECONDS, DEFAULT_REDELIVERY_BASE_SECONDS, 0)),
            daily_limit_recheck_seconds=_number(env, DAILY_LIMIT_RECHECK_SECONDS, 600.0, 0),
            requeue_delay_seconds=int(_number(env, REQUEUE_DELAY_SECONDS, 900, 0)),
            in_doubt_hold_seconds=_number(env, IN_DOUBT_HOLD_SECONDS, DEFAULT_IN_DOUBT_HOLD_SECONDS, 0),
            event_future_tolerance_seconds=(
                int(_number(env, EVENT_FUTURE_TOLERANCE_SECONDS, 0, 0))
                if _text(env, EVENT_FUTURE_TOLERANCE_SECONDS)
                else None
            ),
            archive_bucket=_text(env, ARCHIVE_BUCKET),
            # 0 archives every DLQ message at once (tests, and `hubsync archive --older-than 0`).
            archive_after_seconds=_number(env, ARCHIVE_AFTER_SECONDS, DEFAULT_ARCHIVE_AFTER_SECONDS, 0),
            schema_checks=_switch(env, SCHEMA_CHECKS, True),
            property_cache_seconds=_number(env, PROPERTY_CACHE_SECONDS, DEFAULT_PROPERTY_CACHE_SECONDS, 0),
            object_settings=_text(env, OBJECT_SETTINGS),
        )

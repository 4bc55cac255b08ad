"""Wiring: services built from Settings with real clients. Handlers call these once per container."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubsync.config import (
    ARCHIVE_BUCKET,
    DLQ_URL,
    HUBSPOT_ACCESS_TOKEN,
    HUBSPOT_TOKEN_SECRET_ARN,
    QUEUE_URL,
    WEBHOOK_SECRET_ARN,
    Settings,
    require,
)
from hubsync.exceptions import ConfigurationError
from hubsync.intake.signing import Verifier, build_verifier
from hubsync.intake.sources import Source, parse_source_secrets, parse_sources
from hubsync.secrets import SecretCache, parse_token
from hubsync.sqs import QueueSender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from hubsync.deadletters.archive import Archiver
    from hubsync.deadletters.replay import Replayer
    from hubsync.delivery.updater import Updater
    from hubsync.intake.receiver import Receiver

logger = logging.getLogger(__name__)


def sqs_client() -> SQSClient:
    import boto3

    return boto3.client("sqs")


def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


class SourceVerifiers:
    """The verifier of a source over its current secrets: Secrets Manager (cached) when an ARN is set,
    else the inline variable. Rebuilt only when the secret's text changes (rotation)."""

    def __init__(self, settings: Settings, secrets: SecretCache) -> None:
        self._settings = settings
        self._secrets = secrets
        self._cached: dict[str, tuple[str, Verifier]] = {}

    def _secret_text(self) -> str:
        if self._settings.webhook_secret_arn:
            return self._secrets.get(self._settings.webhook_secret_arn)
        if self._settings.webhook_secrets:
            return self._settings.webhook_secrets
        raise ConfigurationError(f"{WEBHOOK_SECRET_ARN} is not set")

    def __call__(self, source: Source) -> Verifier:
        text = "" if source.scheme == "none" else self._secret_text()
        cached = self._cached.get(source.name)
        if cached is None or cached[0] != text:
            secrets = parse_source_secrets(text).get(source.name, []) if text else []
            verifier = build_verifier(
                source.scheme, secrets, tolerance_seconds=source.tolerance_seconds, options=source.options
            )
            cached = (text, verifier)
            self._cached[source.name] = cached
        return cached[1]


def hubspot_token_provider(settings: Settings, secrets: SecretCache) -> TokenProvider:
    if not settings.hubspot_token_secret_arn and not settings.hubspot_access_token:
        raise ConfigurationError(f"set {HUBSPOT_TOKEN_SECRET_ARN} (deployed) or {HUBSPOT_ACCESS_TOKEN} (local)")
    return TokenProvider(settings, secrets)


class TokenProvider:
    """The HubSpot token: the secret (by ARN) wins over the inline variable."""

    def __init__(self, settings: Settings, secrets: SecretCache) -> None:
        self._settings = settings
        self._secrets = secrets

    def __call__(self) -> str:
        if self._settings.hubspot_token_secret_arn:
            return parse_token(self._secrets.get(self._settings.hubspot_token_secret_arn))
        return self._settings.hubspot_access_token or ""


def build_receiver(settings: Settings) -> Receiver:
    from hubsync.intake.receipts import DeliveryLedger, NoLedger
    from hubsync.intake.receiver import Receiver

    sqs = sqs_client()
    secrets = SecretCache(ttl_seconds=settings.secrets_cache_seconds)
    sources = parse_sources(settings.webhook_sources, settings.signature_tolerance_seconds)
    for source in sources.values():
        if source.scheme == "none":
            logger.warning("webhook source %r accepts UNSIGNED requests (scheme none)", source.name)
    ledger = (
        DeliveryLedger(settings.idempotency_table, settings.idempotency_window_seconds)
        if settings.idempotency_table
        else NoLedger()
    )
    if not settings.idempotency_table:
        logger.warning("IDEMPOTENCY_TABLE is not set: repeated deliveries are queued again")
    return Receiver(
        sources,
        SourceVerifiers(settings, secrets),
        QueueSender(sqs, require(settings.queue_url, QUEUE_URL)),
        QueueSender(sqs, require(settings.dlq_url, DLQ_URL)),
        default_object_type=settings.object_type,
        ledger=ledger,
        max_body_bytes=settings.max_body_bytes,
        max_events=settings.max_events_per_request,
        future_tolerance_seconds=settings.event_future_tolerance_seconds,
    )


def build_updater(settings: Settings) -> Updater:
    import uuid

    from hubsync.delivery.hubspot import HubSpotClient
    from hubsync.delivery.ratelimit import RateLimiter
    from hubsync.delivery.redelivery import Redelivery
    from hubsync.delivery.schema.cache import DefinitionCache
    from hubsync.delivery.schema.checks import SchemaChecks
    from hubsync.delivery.schema.settings import parse_object_settings
    from hubsync.delivery.sender import Delivery
    from hubsync.delivery.updater import Updater

    object_settings = parse_object_settings(settings.object_settings)
    schema = SchemaChecks(DefinitionCache(settings.property_cache_seconds)) if settings.schema_checks else None
    secrets = SecretCache(ttl_seconds=settings.secrets_cache_seconds)
    in_flight = settings.hubspot_max_in_flight
    client = HubSpotClient(
        settings.hubspot_base_url,
        hubspot_token_provider(settings, secrets),
        timeout_seconds=settings.hubspot_timeout_seconds,
        pool_size=max(10, in_flight),
    )
    # One limiter per container: every invocation and every request thread of this instance shares it.
    limiter = RateLimiter(
        limit=settings.hubspot_rate_limit,
        instances=settings.updater_max_concurrency,
        max_in_flight=in_flight,
        daily_recheck_seconds=settings.daily_limit_recheck_seconds,
        # A new container cannot see what the one it replaces sent in the last interval.
        assume_predecessor=True,
    )
    delivery = Delivery(
        client,
        limiter,
        call_seconds=settings.hubspot_timeout_seconds + 3.05,
        daily_recheck_seconds=settings.daily_limit_recheck_seconds,
        on_refused_values=schema.cache.suspect if schema is not None else None,
    )
    sqs = sqs_client()
    state = None
    if settings.record_state_table:
        from hubsync.delivery.recordstate import RecordStateStore

        state = RecordStateStore(settings.record_state_table, owner=f"updater-{uuid.uuid4().hex[:12]}")
    else:
        logger.warning("RECORD_STATE_TABLE is not set: last-write-wins holds within a batch only")
    redelivery = (
        Redelivery(
            sqs,
            settings.queue_url,
            base_seconds=settings.redelivery_base_seconds,
            requeue_delay_seconds=settings.requeue_delay_seconds,
        )
        if settings.queue_url
        else None
    )
    return Updater(
        delivery,
        QueueSender(sqs, require(settings.dlq_url, DLQ_URL)),
        default_object_type=settings.object_type,
        max_receive_count=settings.max_receive_count,
        state=state,
        redelivery=redelivery,
        in_doubt_hold_seconds=settings.in_doubt_hold_seconds,
        max_future_ms=settings.future_tolerance_seconds * 1000,
        max_in_flight=in_flight,
        schema=schema,
        object_settings=object_settings,
    )


def build_replayer(settings: Settings) -> Replayer:
    from hubsync.deadletters.replay import Replayer

    return Replayer(
        sqs_client(),
        require(settings.dlq_url, DLQ_URL),
        require(settings.queue_url, QUEUE_URL),
        # The receiver's sources: UNMAPPED bodies are mapped again, and replays held to the allow-lists.
        sources=parse_sources(settings.webhook_sources, settings.signature_tolerance_seconds),
        default_object_type=settings.object_type,
        max_events=settings.max_events_per_request,
    )


def build_archiver(settings: Settings) -> Archiver:
    from hubsync.deadletters.archive import Archiver

    return Archiver(
        sqs_client(),
        s3_client(),
        require(settings.dlq_url, DLQ_URL),
        require(settings.archive_bucket, ARCHIVE_BUCKET),
        archive_after_seconds=settings.archive_after_seconds,
    )

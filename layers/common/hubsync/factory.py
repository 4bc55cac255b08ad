"""Wiring: services built from Settings with real clients. Handlers call these once per container."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubsync.config import (
    DLQ_URL,
    HUBSPOT_ACCESS_TOKEN,
    HUBSPOT_TOKEN_SECRET_ARN,
    QUEUE_URL,
    WEBHOOK_SECRET_ARN,
    Settings,
    require,
)
from hubsync.exceptions import ConfigurationError
from hubsync.secrets import SecretCache, parse_secret_list, parse_token
from hubsync.signatures import StandardWebhooksVerifier
from hubsync.sqs import QueueSender

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from hubsync.receiver import Receiver
    from hubsync.replay import Replayer
    from hubsync.updater import Updater


def sqs_client() -> SQSClient:
    import boto3

    return boto3.client("sqs")


class StandardWebhooksVerifierProvider:
    """A verifier over the current secrets: Secrets Manager (cached) when an ARN is set, else inline."""

    def __init__(self, settings: Settings, secrets: SecretCache) -> None:
        self._settings = settings
        self._secrets = secrets
        self._cached: tuple[str, StandardWebhooksVerifier] | None = None

    def __call__(self) -> StandardWebhooksVerifier:
        if self._settings.webhook_secret_arn:
            text = self._secrets.get(self._settings.webhook_secret_arn)
        elif self._settings.webhook_secrets:
            text = self._settings.webhook_secrets
        else:
            raise ConfigurationError(f"{WEBHOOK_SECRET_ARN} is not set")
        if self._cached is None or self._cached[0] != text:
            verifier = StandardWebhooksVerifier(
                parse_secret_list(text), tolerance_seconds=self._settings.signature_tolerance_seconds
            )
            self._cached = (text, verifier)
        return self._cached[1]


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
    from hubsync.receiver import Receiver

    sqs = sqs_client()
    secrets = SecretCache(ttl_seconds=settings.secrets_cache_seconds)
    return Receiver(
        StandardWebhooksVerifierProvider(settings, secrets),
        QueueSender(sqs, require(settings.queue_url, QUEUE_URL)),
        QueueSender(sqs, require(settings.dlq_url, DLQ_URL)),
        default_object_type=settings.object_type,
        max_body_bytes=settings.max_body_bytes,
    )


def build_updater(settings: Settings) -> Updater:
    from hubsync.hubspot import HubSpotClient
    from hubsync.updater import Updater

    secrets = SecretCache(ttl_seconds=settings.secrets_cache_seconds)
    client = HubSpotClient(
        settings.hubspot_base_url,
        hubspot_token_provider(settings, secrets),
        timeout_seconds=settings.hubspot_timeout_seconds,
    )
    return Updater(
        client,
        QueueSender(sqs_client(), require(settings.dlq_url, DLQ_URL)),
        default_object_type=settings.object_type,
        max_receive_count=settings.max_receive_count,
        call_seconds=settings.hubspot_timeout_seconds + 3.05,
    )


def build_replayer(settings: Settings) -> Replayer:
    from hubsync.replay import Replayer

    return Replayer(sqs_client(), require(settings.dlq_url, DLQ_URL), require(settings.queue_url, QUEUE_URL))

"""Secrets from Secrets Manager (deployed) or inline variables (local use), cached per container.

A secret change is picked up after the cache period without a redeploy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubsync.exceptions import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretCache:
    """Reads secret strings by ARN and keeps them ``ttl_seconds``."""

    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    def _secretsmanager(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def get(self, arn: str) -> str:
        now = self._clock()
        cached = self._cache.get(arn)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            value = self._secretsmanager().get_secret_value(SecretId=arn)["SecretString"]
        except Exception as exc:  # botocore errors carry no secret value, but keep the message short
            raise ConfigurationError(f"cannot read secret {arn}: {type(exc).__name__}") from exc
        self._cache[arn] = (now, value)
        return value


def parse_token(text: str) -> str:
    """The private-app token from a plain secret string or a JSON object with a token field."""
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigurationError("the HubSpot token secret is not valid JSON") from None
        for key in ("token", "accessToken", "access_token", "HUBSPOT_ACCESS_TOKEN"):
            if isinstance(document, dict) and isinstance(document.get(key), str):
                return str(document[key]).strip()
        raise ConfigurationError("the HubSpot token secret has no 'token' field")
    return text

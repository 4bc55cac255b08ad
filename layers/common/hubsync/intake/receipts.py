"""Idempotent receipt: a delivery seen before is answered again and queued once.

Backed by Powertools Idempotency over DynamoDB (partition key ``id``, TTL attribute ``expiration``).
Concurrent duplicates: the first takes an in-progress record with a conditional write; the others
are told to retry. If the table cannot be reached the receiver fails closed (503), so the sender
delivers again rather than an event being lost or doubled. A delivery whose processing fails (the
queue refused it) leaves no record, so its redelivery is processed afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubsync.exceptions import HubsyncError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Answer = dict[str, Any]


class DeliveryInProgressError(HubsyncError):
    """The same delivery is being processed right now by another request."""


class DeliveryKeyReusedError(HubsyncError):
    """A delivery id came again with a different body."""


class LedgerUnavailableError(HubsyncError):
    """The idempotency table could not be read or written."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class NoLedger:
    """No idempotency table configured: every delivery is processed (the updater's merge makes repeats
    harmless to HubSpot's state, but they cost queue messages)."""

    enabled = False

    def run_once(self, key: str, body: bytes, process: Callable[[], Answer], context: Any = None) -> Answer:
        return process()


class DeliveryLedger:
    """Runs ``process`` once per delivery key within the window; repeats get the first answer."""

    enabled = True

    def __init__(self, table_name: str, window_seconds: int = 86_400, client: DynamoDBClient | None = None) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=window_seconds,
            raise_on_no_idempotency_key=True,
        )

        def run(delivery: dict[str, str], process: Callable[[], Answer]) -> Answer:
            return process()

        self._run = idempotent_function(
            run, data_keyword_argument="delivery", persistence_store=persistence, config=self._config
        )

    def run_once(self, key: str, body: bytes, process: Callable[[], Answer], context: Any = None) -> Answer:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        if context is not None:
            # With the context, an in-progress record of a crashed invocation expires when that
            # invocation would have timed out, instead of blocking redelivery for the whole window.
            self._config.register_lambda_context(context)
        try:
            result: Answer = self._run(delivery={"key": key, "body": body_digest(body)}, process=process)
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgressError("this delivery is being processed by another request") from exc
        except IdempotencyValidationError as exc:
            raise DeliveryKeyReusedError("this delivery id was already used with a different body") from exc
        except HubsyncError:
            raise
        except Exception as exc:  # persistence errors of every kind: fail closed
            if type(exc).__module__.startswith("aws_lambda_powertools.utilities.idempotency"):
                raise LedgerUnavailableError(f"idempotency table unavailable: {type(exc).__name__}") from exc
            raise
        return result

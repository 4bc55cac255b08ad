"""UpdaterFunction: SQS batches -> merged HubSpot batch updates, answered as a partial batch response."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from hubsync.config import Settings
from hubsync.factory import build_updater
from hubsync.updater import QueuedMessage, Updater

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"hubsync"})
_updater: Updater | None = None


def _service() -> Updater:
    global _updater
    if _updater is None:
        _updater = build_updater(Settings.from_env())
    return _updater


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    messages = [QueuedMessage.from_record(record) for record in event.get("Records", [])]
    report = _service().process(messages, lambda: context.get_remaining_time_in_millis() / 1000)
    logger.info(
        "batch done",
        extra={
            "messages": report.messages,
            "inputs": report.inputs,
            "calls": report.calls,
            "applied_events": report.applied_events,
            "retried_later": report.retried_later,
            "dead_lettered": dict(report.dead_lettered),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_message_ids]}

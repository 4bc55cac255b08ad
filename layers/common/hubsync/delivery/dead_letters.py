"""The updater's dead letters: each failed message's envelope (its event and the reason), and writing them
to the DLQ. A message whose dead letter could not be written is reported failed, never acknowledged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubsync.deadletters import dlq
from hubsync.delivery.messages import QueuedMessage
from hubsync.sqs import OutgoingMessage, QueueSender

if TYPE_CHECKING:
    from hubsync.delivery.report import UpdateReport

logger = logging.getLogger(__name__)


@dataclass
class DeadLetter:
    message: QueuedMessage
    document: dict[str, Any]


def dead_letter(message: QueuedMessage, event: Any, failure: dlq.Failure, *, now_ms: int) -> DeadLetter:
    document = dlq.envelope(
        event,
        failure,
        now_ms=now_ms,
        stage="updater",
        attempts=message.receive_count,
        source_message_id=message.message_id,
        first_sent_at=message.sent_at,
    )
    return DeadLetter(message, document)


def write_dead_letters(sender: QueueSender, dead: list[DeadLetter], report: UpdateReport) -> None:
    sendable: list[tuple[OutgoingMessage, str]] = []
    for item in dead:
        message_id = item.message.message_id
        out = dlq.dlq_message(message_id, item.document)
        if out.problem() is not None:
            # Too big to wrap (a message the receiver never sized): it goes as it came, its reason in
            # attributes, rather than ride every redelivery (calling HubSpot each time) and then land
            # bare, its reason lost. Only if even that cannot be sent is it left to SQS's redrive.
            tagged = dlq.tagged_message(message_id, item.message.body, item.document)
            if tagged is None:
                logger.error("DLQ message too large for message %s; left to SQS redrive", message_id)
                report.failed_message_ids.append(message_id)
                continue
            out = tagged
            logger.warning("DLQ envelope too large for message %s; dead-lettered as it came", message_id)
        sendable.append((out, item.document["error"]["category"]))
    failed = {failure.key for failure in sender.send([out for out, _ in sendable])}
    for out, category in sendable:
        if out.key in failed:
            report.failed_message_ids.append(out.key)
        else:
            report.dead_lettered[category] += 1
    if failed:
        logger.error("%d DLQ writes failed; those messages stay on the queue", len(failed))

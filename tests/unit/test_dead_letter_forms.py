"""The DLQ's two forms: the envelope (error texts capped) and, when that cannot fit, the message as it
came with its reason in attributes (``tagged_message``), both read back by ``unwrap``."""

from __future__ import annotations

import json

from hubsync.deadletters import dlq

MIB = 1_048_576


def sqs_allows(text: str) -> bool:
    return all(
        ord(c) in (0x9, 0xA, 0xD) or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
        for c in text
    )


def attributes_size(attributes: dict[str, str]) -> int:
    return sum(len(n.encode()) + len(b"String") + len(v.encode()) for n, v in attributes.items())


FAILURE = dlq.Failure(dlq.VALIDATION_ERROR, "bad \x01 value \ufffe" + "x" * 5000, 400, "INVALID\uffff", "c")


def document() -> dict[str, object]:
    return dlq.envelope({"id": "1"}, FAILURE, now_ms=1_700_000_000_000, stage="updater")


def test_error_texts_are_capped_in_the_envelope() -> None:
    error = json.loads(dlq.dlq_message("k", document()).body)["error"]
    assert len(error["message"]) == dlq.MAX_ERROR_MESSAGE_CHARS and error["message"].startswith("bad \x01 value \ufffe")


def test_a_tagged_message_keeps_the_body_and_carries_the_reason_in_attributes_sqs_accepts() -> None:
    body = '{"id": "1", "raw": true}'
    message = dlq.tagged_message("k", body, document())
    assert message is not None and message.body == body
    assert all(sqs_allows(value) for value in message.attributes.values())
    assert message.attributes["reason"].startswith("bad \\u0001 value \\ufffe")
    letter = dlq.unwrap(body, {n: {"DataType": "String", "StringValue": v} for n, v in message.attributes.items()})
    assert letter.category == dlq.VALIDATION_ERROR and letter.error["status"] == 400
    assert letter.error["code"] == "INVALID\\uffff" and letter.event == {"id": "1", "raw": True}
    assert letter.failed_at_ms == 1_700_000_000_000


def test_a_tagged_message_drops_to_category_and_status_then_gives_up() -> None:
    least = {"category": dlq.VALIDATION_ERROR, "status": "400", "envelope": "none"}
    body = "x" * (MIB - attributes_size(least))
    message = dlq.tagged_message("k", body, document())
    assert message is not None and message.attributes == least
    assert dlq.tagged_message("k", body + "x", document()) is None


def test_without_the_envelope_tag_a_bare_message_is_unknown_whatever_its_attributes() -> None:
    attributes = {"category": {"DataType": "String", "StringValue": "VALIDATION_ERROR"}}
    assert dlq.unwrap('{"id": "1"}', attributes).category == dlq.UNKNOWN
    assert dlq.unwrap("[" * 100_000).category == dlq.UNKNOWN  # too deep to parse: not a crash

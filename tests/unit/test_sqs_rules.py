"""hubsync's own enforcement of SQS's rules: the body encoder, exact sizes, messages refused before sending.

SQS's rules are restated here from its documentation (SendMessage, SendMessageBatch), not taken from
hubsync.sqs: allowed characters #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF; a
message's size is its body's UTF-8 bytes plus each attribute's name, data type and value bytes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hubsync.events import dumps
from hubsync.sqs import OutgoingMessage, QueueSender

MIB = 1_048_576


def sqs_allows(character: str) -> bool:
    point = ord(character)
    return (
        point in (0x9, 0xA, 0xD) or 0x20 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or 0x10000 <= point <= 0x10FFFF
    )


def documented_size(body: str, attributes: dict[str, str]) -> int:
    return len(body.encode("utf-8")) + sum(
        len(name.encode()) + len(b"String") + len(value.encode()) for name, value in attributes.items()
    )


# Surrogates apart: two adjacent ones would decode as the pair they form (see sqs_safe_json).
REFUSED = ["\x00", "\x01", "\x1f", "\ufffe", "\uffff", "\ud800", "-", "\udbff", "-", "\udc00", "-", "\udfff"]
KEPT_RAW = [
    "é",
    "ü",
    "日本",
    "\u007f",
    "\u0085",
    "\ud7ff",
    "\ue000",
    "\ufffd",
    "\U0001f600",
    "\U0010ffff",
    "\U0001fffe",
]


def test_every_character_sqs_refuses_is_escaped_and_the_document_survives() -> None:
    document = {"refused": "".join(REFUSED), "kept": "".join(KEPT_RAW), "key\ufffe": ["\ud800x", 1, None]}
    body = dumps(document)
    assert all(sqs_allows(c) for c in body)
    assert json.loads(body) == document
    # What SQS accepts stays raw UTF-8 (not a six-byte escape each): the body is no larger than needed.
    assert all(text in body for text in KEPT_RAW)
    assert "\\ufffe" in body and "\\ud800" in body and "\\u0001" in body


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=50))
def test_any_string_is_encoded_within_sqs_s_set_and_decodes_back(text: str) -> None:
    body = dumps({"v": text, text: 1})
    assert all(sqs_allows(c) for c in body)
    assert json.loads(body) == {"v": text, text: 1}


def test_non_ascii_text_takes_its_utf8_size_not_its_escaped_size() -> None:
    text = "é" * 100_000  # 2 bytes a character in UTF-8, 6 as \u00e9
    assert len(dumps({"v": text}).encode("utf-8")) == 200_000 + len('{"v":""}')


def test_size_is_body_bytes_plus_attribute_name_type_and_value_bytes() -> None:
    attributes = {"category": "VALIDATION_ERROR", "naïve": "café", "empty": ""}
    message = OutgoingMessage("k", "é€😀", attributes)
    sent = {"category": "VALIDATION_ERROR", "naïve": "café"}  # an empty value is not sent, so not counted
    assert message.size == documented_size("é€😀", sent) == 9 + (8 + 6 + 16) + (6 + 6 + 5)


class RecordingSqs:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        for entry in Entries:  # the test's own check of what reaches "SQS"
            size = documented_size(
                entry["MessageBody"],
                {n: a["StringValue"] for n, a in entry.get("MessageAttributes", {}).items()},
            )
            assert size <= MIB and all(sqs_allows(c) for c in entry["MessageBody"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_messages_sqs_would_refuse_are_not_sent_and_the_rest_are() -> None:
    sqs = RecordingSqs()
    messages = [
        OutgoingMessage("raw", "bad \ufffe"),
        OutgoingMessage("attribute", "fine", {"eventId": "a\x01b"}),
        OutgoingMessage("big", "x" * (MIB - 10), {"category": "VALIDATION_ERROR"}),
        OutgoingMessage("empty", ""),
        OutgoingMessage("ok", "fine"),
    ]
    failures = QueueSender(sqs, "q").send(messages)  # type: ignore[arg-type]
    assert {f.key: f.code for f in failures} == {
        "raw": "InvalidMessageContents",
        "attribute": "InvalidParameterValue",
        "big": "MessageTooLong",
        "empty": "MissingParameter",
    }
    assert [[e["MessageBody"] for e in call] for call in sqs.calls] == [["fine"]]


def test_a_message_of_exactly_the_limit_is_sent() -> None:
    attributes = {"category": "RETRIES_EXHAUSTED"}
    body = "y" * (MIB - documented_size("", attributes))
    sqs = RecordingSqs()
    assert QueueSender(sqs, "q").send([OutgoingMessage("k", body, attributes)]) == []  # type: ignore[arg-type]
    assert len(sqs.calls) == 1


def test_batches_are_cut_by_the_bytes_sent_attributes_included() -> None:
    attributes = {"objectType": "partner_services"}
    half = MIB // 2 - documented_size("", attributes)
    sqs = RecordingSqs()
    pair = [OutgoingMessage(str(i), "é" * (half // 2), attributes) for i in range(2)]  # exactly 1 MiB together
    QueueSender(sqs, "q").send(pair)  # type: ignore[arg-type]
    assert [len(call) for call in sqs.calls] == [2]
    sqs = RecordingSqs()
    over = [
        OutgoingMessage("0", "é" * (half // 2) + "e", attributes),
        OutgoingMessage("1", "é" * (half // 2), attributes),
    ]
    QueueSender(sqs, "q").send(over)  # type: ignore[arg-type]
    assert [len(call) for call in sqs.calls] == [1, 1]

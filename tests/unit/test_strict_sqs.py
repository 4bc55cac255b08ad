"""The strict SQS model in front of moto (hubsync_local.moto_main.strict_sqs), in process: its rules,
and how it answers, with a stand-in for moto behind it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from hubsync_local.moto_main import SqsError, check_batch, check_message, message_size, sqs_accepts, strict_sqs

MIB = 1_048_576


@pytest.mark.parametrize("character", ["\t", "\n", "\r", " ", "\ud7ff", "\ue000", "\ufffd", "\U00010000", "\U0010ffff"])
def test_the_documented_set_is_accepted(character: str) -> None:
    assert sqs_accepts(f"a{character}b")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x08", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
def test_everything_else_is_refused(character: str) -> None:
    assert not sqs_accepts(f"a{character}b")
    with pytest.raises(SqsError) as refused:
        check_message(f"a{character}b", None, MIB)
    assert refused.value.code == "InvalidMessageContents"


def string(value: str, data_type: str = "String") -> dict[str, str]:
    return {"DataType": data_type, "StringValue": value}


def test_size_counts_utf8_bytes_of_body_and_of_attribute_names_types_and_values() -> None:
    assert message_size("é", {"naïve": string("€", "String.x")}) == 2 + 6 + 8 + 3
    assert check_message("x" * (MIB - 16), {"a": string("b" * 9)}, MIB) == MIB
    with pytest.raises(SqsError) as refused:
        check_message("x" * (MIB - 15), {"a": string("b" * 9)}, MIB)
    assert refused.value.code == "InvalidParameterValue" and "shorter than 1048576" in refused.value.message
    with pytest.raises(SqsError):
        check_message("é" * 600, None, 1024)  # the queue's own MaximumMessageSize, in bytes


@pytest.mark.parametrize(
    "attributes",
    [{"e": string("a\x01")}, {"e": string("")}, {f"a{i}": string("v") for i in range(11)}],
)
def test_attributes_sqs_refuses(attributes: dict[str, Any]) -> None:
    with pytest.raises(SqsError) as refused:
        check_message("fine", attributes, MIB)
    assert refused.value.code == "InvalidParameterValue"


def entry(entry_id: str, body: str, **extra: Any) -> dict[str, Any]:
    return {"Id": entry_id, "MessageBody": body, **extra}


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "EmptyBatchRequest"),
        ([entry(str(i), "x") for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([entry("a:b", "x")], "InvalidBatchEntryId"),
        ([entry("x" * 81, "x")], "InvalidBatchEntryId"),
        ([entry("a", "x"), entry("a", "y")], "BatchEntryIdsNotDistinct"),
        ([entry("a", "é" * (MIB // 4)), entry("b", "é" * (MIB // 4) + "!")], "BatchRequestTooLong"),
    ],
)
def test_what_refuses_a_whole_batch(entries: list[dict[str, Any]], code: str) -> None:
    with pytest.raises(SqsError) as refused:
        check_batch(entries, MIB)
    assert refused.value.code == code and refused.value.query_code.endswith(code)


def test_bad_entries_fail_alone() -> None:
    entries = [
        entry("ok", "fine"),
        entry("chars", "\uffff"),
        entry("attr", "x", MessageAttributes={"e": string("\x02")}),
    ]
    taken, failed = check_batch(entries, MIB)
    assert [e["Id"] for e in taken] == ["ok"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in failed] == [
        ("chars", "InvalidMessageContents", True),
        ("attr", "InvalidParameterValue", True),
    ]


class FakeMoto:
    """What moto would have been asked, and a SendMessageBatch answer for what it got."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        self.seen.append(request)
        answer = {"Successful": [{"Id": e["Id"], "MessageId": "m-" + e["Id"]} for e in request.get("Entries", [])]}
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [json.dumps(answer).encode()]


def call(app: Any, target: str, request: dict[str, Any]) -> tuple[str, dict[str, str], Any]:
    body = json.dumps(request).encode()
    environ = {"HTTP_X_AMZ_TARGET": target, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    got: dict[str, Any] = {}
    chunks = app(environ, lambda status, headers, exc_info=None: got.update(status=status, headers=dict(headers)))
    return got["status"], got["headers"], json.loads(b"".join(chunks))


QUEUE = "http://127.0.0.1:1/123456789012/q"


def test_a_refused_send_message_never_reaches_moto_and_is_answered_as_sqs_does() -> None:
    moto = FakeMoto()
    status, headers, body = call(strict_sqs(moto), "AmazonSQS.SendMessage", {"QueueUrl": QUEUE, "MessageBody": "\x01"})
    assert status.startswith("400") and moto.seen == []
    assert body["__type"] == "com.amazonaws.sqs#InvalidMessageContents"
    assert headers["x-amzn-query-error"] == "InvalidMessageContents;Sender"


def test_a_batch_with_bad_entries_sends_the_rest_and_reports_each_bad_one() -> None:
    moto = FakeMoto()
    entries = [entry("a", "fine"), entry("b", "no\ufffe"), entry("c", "also fine")]
    status, _, body = call(strict_sqs(moto), "AmazonSQS.SendMessageBatch", {"QueueUrl": QUEUE, "Entries": entries})
    assert status.startswith("200")
    assert [[e["Id"] for e in request["Entries"]] for request in moto.seen] == [["a", "c"]]
    assert [s["Id"] for s in body["Successful"]] == ["a", "c"]
    assert [(f["Id"], f["Code"]) for f in body["Failed"]] == [("b", "InvalidMessageContents")]


def test_everything_else_passes_through_untouched() -> None:
    moto = FakeMoto()
    entries = [entry("a", "fine")]
    status, _, body = call(strict_sqs(moto), "AmazonSQS.SendMessageBatch", {"QueueUrl": QUEUE, "Entries": entries})
    assert status.startswith("200") and body == {"Successful": [{"Id": "a", "MessageId": "m-a"}]}
    status, _, _ = call(strict_sqs(moto), "AmazonSQS.ReceiveMessage", {"QueueUrl": QUEUE})
    assert status.startswith("200") and moto.seen[-1] == {"QueueUrl": QUEUE}

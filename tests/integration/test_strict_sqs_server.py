"""The strict SQS model in front of moto's server, as boto3 sees it (hubsync_local.moto_main)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.aws import Queues, receive_all

MIB = 1_048_576


@pytest.mark.parametrize("body", ["U+FFFE \ufffe", "U+FFFF \uffff", "U+0001 \x01", "lone \ud800"])
def test_send_message_with_a_character_sqs_refuses(sqs_client: Any, queues: Queues, body: str) -> None:
    with pytest.raises(ClientError) as refused:
        sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody=body)
    assert refused.value.response["Error"]["Code"] == "InvalidMessageContents"
    assert isinstance(refused.value, sqs_client.exceptions.InvalidMessageContents)
    assert receive_all(sqs_client, queues.queue_url) == []


def test_sizes_are_bytes_with_attributes_counted(sqs_client: Any, queues: Queues) -> None:
    attributes = {"category": {"DataType": "String", "StringValue": "VALIDATION_ERROR"}}  # 8 + 6 + 16 bytes
    exactly = "é" * ((MIB - 30) // 2)
    sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody=exactly, MessageAttributes=attributes)
    with pytest.raises(ClientError) as refused:  # moto alone counts characters and would take it
        sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody=exactly + "!", MessageAttributes=attributes)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    [kept] = receive_all(sqs_client, queues.queue_url)
    assert kept["Body"] == exactly


def test_the_queue_s_own_maximum_message_size_applies(sqs_client: Any, queues: Queues) -> None:
    sqs_client.set_queue_attributes(QueueUrl=queues.queue_url, Attributes={"MaximumMessageSize": "1024"})
    sqs_client.send_message(QueueUrl=queues.queue_url, MessageBody="x" * 1024)
    answer = sqs_client.send_message_batch(
        QueueUrl=queues.queue_url, Entries=[{"Id": "a", "MessageBody": "é" * 513}, {"Id": "b", "MessageBody": "ok"}]
    )
    assert [s["Id"] for s in answer["Successful"]] == ["b"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [("a", "InvalidParameterValue", True)]


def test_a_batch_sends_the_good_entries_and_reports_the_bad_ones(sqs_client: Any, queues: Queues) -> None:
    entries = [
        {"Id": "good", "MessageBody": "fine"},
        {"Id": "chars", "MessageBody": "no \uffff"},
        {
            "Id": "attribute",
            "MessageBody": "fine",
            "MessageAttributes": {"eventId": {"DataType": "String", "StringValue": "a\x01"}},
        },
    ]
    answer = sqs_client.send_message_batch(QueueUrl=queues.queue_url, Entries=entries)
    assert [s["Id"] for s in answer["Successful"]] == ["good"]
    assert sorted((f["Id"], f["Code"]) for f in answer["Failed"]) == [
        ("attribute", "InvalidParameterValue"),
        ("chars", "InvalidMessageContents"),
    ]
    assert [m["Body"] for m in receive_all(sqs_client, queues.queue_url)] == ["fine"]


def test_a_batch_over_a_mebibyte_is_refused_whole(sqs_client: Any, queues: Queues) -> None:
    entries = [{"Id": str(i), "MessageBody": "é" * 200_000} for i in range(3)]  # 1.2 MB, 600,000 characters
    with pytest.raises(sqs_client.exceptions.BatchRequestTooLong):
        sqs_client.send_message_batch(QueueUrl=queues.queue_url, Entries=entries)
    assert receive_all(sqs_client, queues.queue_url) == []

"""QueueSender's batching and Failed handling, against an in-process fake of SendMessageBatch."""

from __future__ import annotations

from typing import Any

from hubsync.sqs import MAX_BATCH_BYTES, OutgoingMessage, QueueSender


class FakeSqs:
    def __init__(self, fail: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._fail = fail or {}  # body -> Failed entries to answer, one per call

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        failed = []
        for entry in Entries:
            plan = self._fail.get(entry["MessageBody"])
            if plan:
                failed.append({"Id": entry["Id"], **plan.pop(0)})
        return {"Successful": [], "Failed": failed}


def test_batches_of_ten_and_under_a_mebibyte() -> None:
    sqs = FakeSqs()
    small = [OutgoingMessage(str(i), "x") for i in range(25)]
    assert QueueSender(sqs, "q").send(small) == []  # type: ignore[arg-type]
    assert [len(c) for c in sqs.calls] == [10, 10, 5]
    sqs = FakeSqs()
    big = [OutgoingMessage(str(i), "y" * (MAX_BATCH_BYTES // 3)) for i in range(4)]
    QueueSender(sqs, "q").send(big)  # type: ignore[arg-type]
    assert [len(c) for c in sqs.calls] == [3, 1]  # 3 x 349,525 bytes = 1,048,575: exactly within 1 MiB


def test_failed_entries_are_retried_unless_the_sender_is_at_fault() -> None:
    sqs = FakeSqs(
        {
            "transient": [{"Code": "InternalError", "SenderFault": False}],
            "always": [{"Code": "InternalError", "SenderFault": False}] * 5,
            "bad": [{"Code": "InvalidMessageContents", "SenderFault": True}],
        }
    )
    messages = [OutgoingMessage(k, k) for k in ("ok", "transient", "always", "bad")]
    failures = QueueSender(sqs, "q", attempts=3, sleep=lambda _: None).send(messages)  # type: ignore[arg-type]
    assert sorted((f.key, f.code) for f in failures) == [("always", "InternalError"), ("bad", "InvalidMessageContents")]
    assert [len(c) for c in sqs.calls] == [4, 2, 1]  # only the retryable failures are sent again

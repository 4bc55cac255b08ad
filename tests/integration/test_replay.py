"""The replayer against real SQS endpoints (moto's server)."""

from __future__ import annotations

import json
from typing import Any

from hubsync.deadletters import dlq
from hubsync.deadletters.replay import Replayer, ReplayFilter
from support.aws import Queues, receive_all


def put_dead_letters(sqs: Any, queues: Queues, categories: list[str], replay_count: int = 0) -> None:
    for index, category in enumerate(categories):
        event = {"id": str(index), "objectType": "partner_services", "properties": {"a": "1"}, "occurredAt": 1}
        if replay_count:
            event["replayCount"] = replay_count
        document = dlq.envelope(event, dlq.Failure(category, "why"), now_ms=0, stage="updater")
        message = dlq.dlq_message(str(index), document)
        sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=message.body)


def replayer(sqs: Any, queues: Queues, **kwargs: Any) -> Replayer:
    return Replayer(sqs, queues.dlq_url, queues.queue_url, wait_seconds=0, **kwargs)


def test_dry_run_counts_and_moves_nothing(sqs_client: Any, queues: Queues) -> None:
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND", "OBJECT_NOT_FOUND", "VALIDATION_ERROR"])
    report = replayer(sqs_client, queues).run(dry_run=True)
    assert (report.scanned, report.matched, report.moved) == (3, 3, 0)
    assert report.by_category == {"OBJECT_NOT_FOUND": 2, "VALIDATION_ERROR": 1}
    assert receive_all(sqs_client, queues.queue_url) == []
    assert len(receive_all(sqs_client, queues.dlq_url, delete=False)) == 3  # visible again at once


def test_filtered_replay_moves_the_original_events_and_leaves_the_rest(sqs_client: Any, queues: Queues) -> None:
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND", "VALIDATION_ERROR", "OBJECT_NOT_FOUND"])
    report = replayer(sqs_client, queues).run(categories=["OBJECT_NOT_FOUND"])
    assert (report.matched, report.moved, report.failed) == (2, 2, 0)
    moved = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert sorted(m["id"] for m in moved) == ["0", "2"]
    assert all("error" not in m and m["replayCount"] == 1 for m in moved)  # the event, not the envelope
    left = [dlq.unwrap(m["Body"]) for m in receive_all(sqs_client, queues.dlq_url)]
    assert [d.category for d in left] == ["VALIDATION_ERROR"]


def test_limit_and_replay_cap(sqs_client: Any, queues: Queues) -> None:
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND"] * 4)
    report = replayer(sqs_client, queues).run(limit=3)
    assert (report.matched, report.moved) == (3, 3)
    receive_all(sqs_client, queues.queue_url)
    receive_all(sqs_client, queues.dlq_url)
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND"], replay_count=5)
    report = replayer(sqs_client, queues, max_replays=5).run()
    assert (report.matched, report.moved, report.refused) == (1, 0, 1)
    assert len(receive_all(sqs_client, queues.dlq_url, delete=False)) == 1  # kept, not looped


def test_bare_messages_moved_by_sqs_redrive_are_replayed_too(sqs_client: Any, queues: Queues) -> None:
    sqs_client.send_message(QueueUrl=queues.dlq_url, MessageBody='{"id": "5", "properties": {"a": "1"}}')
    report = replayer(sqs_client, queues).run()
    assert report.by_category == {"UNKNOWN": 1} and report.moved == 1
    [moved] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert moved == {"id": "5", "properties": {"a": "1"}, "replayCount": 1}


def test_lambda_handler_takes_the_same_filters(sqs_client: Any, queues: Queues, monkeypatch: Any) -> None:
    from hubsync_local.lambda_runtime import LambdaContext, load_handler

    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND", "VALIDATION_ERROR"])
    monkeypatch.setenv("QUEUE_URL", queues.queue_url)
    monkeypatch.setenv("DLQ_URL", queues.dlq_url)
    handler = load_handler("replayer")
    result = handler({"dryRun": True, "category": "VALIDATION_ERROR"}, LambdaContext("replayer", 900))
    assert (result["matched"], result["moved"], result["dry_run"]) == (1, 0, True)
    result = handler({"category": "VALIDATION_ERROR"}, LambdaContext("replayer", 900))
    assert result["moved"] == 1


class CrashOnDelete:
    """An SQS client whose DeleteMessageBatch fails: the replayer is stopped between send and delete."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str) -> Any:
        if name == "delete_message_batch":
            raise ConnectionError("the replayer crashed here")
        return getattr(self._sqs, name)


def test_a_crash_between_send_and_delete_loses_nothing(sqs_client: Any, queues: Queues) -> None:
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND"])
    report = Replayer(CrashOnDelete(sqs_client), queues.dlq_url, queues.queue_url, wait_seconds=0).run()
    assert (report.moved, report.failed) == (0, 1)  # counted, and the run went on
    # The event is on the queue (sent) and still in the DLQ (not deleted): a duplicate, never a loss.
    assert len(receive_all(sqs_client, queues.queue_url)) == 1
    assert len(receive_all(sqs_client, queues.dlq_url)) == 1


def test_filters_by_status_object_type_record_text_and_time(sqs_client: Any, queues: Queues) -> None:
    put_dead_letters(sqs_client, queues, ["OBJECT_NOT_FOUND", "VALIDATION_ERROR", "OBJECT_NOT_FOUND"])
    where = ReplayFilter.from_request({"recordIds": ["2"], "errorText": "WHY", "since": "1970-01-01T00:00:00Z"})
    report = replayer(sqs_client, queues).run(where=where)
    assert (report.matched, report.moved) == (1, 1)
    assert [json.loads(m["Body"])["id"] for m in receive_all(sqs_client, queues.queue_url)] == ["2"]
    none = ReplayFilter.from_request({"until": "1969-12-31T00:00:00Z"})
    assert replayer(sqs_client, queues).run(where=none).matched == 0
    assert replayer(sqs_client, queues).run(where=ReplayFilter(statuses=frozenset({500}))).matched == 0

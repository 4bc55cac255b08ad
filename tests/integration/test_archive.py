"""The archive through moto's server (SQS and S3): dead letters go to S3 only when due and leave the DLQ only
after S3 took them; archived events come back to the queue once, within the replay cap."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from hubsync.deadletters.archive import KEY_PREFIX, Archiver
from hubsync.deadletters.archive.replayer import ArchiveReplayer
from hubsync.deadletters.replay import ReplayFilter
from hubsync_local.aws import client
from support.aws import Queues, receive_all

DAY_MS = 86_400_000


@pytest.fixture
def s3(aws_env: str) -> Any:
    return client("s3", aws_env)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"archive-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def event(record: str, *, occurred_ms: int | None = None, replays: int | None = None) -> dict[str, Any]:
    now = int(time.time() * 1000)
    document: dict[str, Any] = {
        "id": record,
        "objectType": "partner_services",
        "properties": {"property_string": f"v-{record}"},
        "occurredAt": now if occurred_ms is None else occurred_ms,
        "receivedAt": now,
    }
    if replays is not None:
        document["replayCount"] = replays
    return document


def dead_letter(document: dict[str, Any], category: str = "OBJECT_NOT_FOUND") -> str:
    failed_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"event": document, "error": {"category": category, "message": "x"}, "failedAt": failed_at})


def to_dlq(sqs: Any, queues: Queues, bodies: list[str]) -> list[str]:
    ids = []
    for body in bodies:
        answer = sqs.send_message(
            QueueUrl=queues.dlq_url,
            MessageBody=body,
            MessageAttributes={"category": {"DataType": "String", "StringValue": "OBJECT_NOT_FOUND"}},
        )
        ids.append(answer["MessageId"])
    return ids


def keys(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def archiver(sqs: Any, s3: Any, queues: Queues, bucket: str, after: float) -> Archiver:
    return Archiver(sqs, s3, queues.dlq_url, bucket, archive_after_seconds=after, wait_seconds=0)


# ---------------------------------------------------------------------------------------------- archiver
def test_due_dead_letters_are_copied_to_s3_then_leave_the_dlq(
    sqs_client: Any, s3: Any, queues: Queues, bucket: str
) -> None:
    bodies = [dead_letter(event("1")), dead_letter(event("2")), "not json at all"]
    ids = to_dlq(sqs_client, queues, bodies)

    report = archiver(sqs_client, s3, queues, bucket, after=0).run()

    assert (report.scanned, report.archived, report.not_due, report.failed) == (3, 3, 0, 0)
    assert receive_all(sqs_client, queues.dlq_url) == []
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    assert sorted(keys(s3, bucket)) == sorted(f"{KEY_PREFIX}{day}/{message_id}.json" for message_id in ids)
    for message_id, body in zip(ids, bodies, strict=True):
        stored = s3.get_object(Bucket=bucket, Key=f"{KEY_PREFIX}{day}/{message_id}.json")
        assert stored["ContentType"] == "application/json"
        document = json.loads(stored["Body"].read())
        assert document["body"] == body  # exactly as SQS held it
        assert document["messageId"] == message_id
        assert document["messageAttributes"]["category"]["StringValue"] == "OBJECT_NOT_FOUND"
        assert int(document["attributes"]["SentTimestamp"]) == document["sentTimestamp"]


def test_dead_letters_not_yet_due_stay_and_are_visible_at_once(
    sqs_client: Any, s3: Any, queues: Queues, bucket: str
) -> None:
    to_dlq(sqs_client, queues, [dead_letter(event("1")), dead_letter(event("2"))])

    report = archiver(sqs_client, s3, queues, bucket, after=3600).run()

    assert (report.scanned, report.archived, report.not_due) == (2, 0, 2)
    assert keys(s3, bucket) == []
    # Released with visibility 0, not left hidden for the scan's 300 s.
    assert len(receive_all(sqs_client, queues.dlq_url, delete=False)) == 2


def test_a_refused_put_leaves_the_message_in_the_dlq(sqs_client: Any, s3: Any, queues: Queues) -> None:
    to_dlq(sqs_client, queues, [dead_letter(event("1")), dead_letter(event("2"))])
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"

    report = archiver(sqs_client, s3, queues, missing, after=0).run()

    assert (report.archived, report.failed) == (0, 2)
    left = receive_all(sqs_client, queues.dlq_url, delete=False)
    assert sorted(json.loads(m["Body"])["event"]["id"] for m in left) == ["1", "2"]


def test_a_second_run_finds_nothing_to_archive(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    to_dlq(sqs_client, queues, [dead_letter(event("1"))])
    archiver(sqs_client, s3, queues, bucket, after=0).run()
    again = archiver(sqs_client, s3, queues, bucket, after=0).run()
    assert (again.scanned, again.archived) == (0, 0)
    assert len(keys(s3, bucket)) == 1


def test_a_run_told_to_stop_leaves_everything_in_the_dlq(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    to_dlq(sqs_client, queues, [dead_letter(event("1"))])
    report = archiver(sqs_client, s3, queues, bucket, after=0).run(keep_going=lambda: False)
    assert report.interrupted and report.scanned == 0
    assert len(receive_all(sqs_client, queues.dlq_url, delete=False)) == 1


# ---------------------------------------------------------------------------------------------- replay
def archived(sqs: Any, s3: Any, queues: Queues, bucket: str, bodies: list[str]) -> list[str]:
    to_dlq(sqs, queues, bodies)
    assert archiver(sqs, s3, queues, bucket, after=0).run().archived == len(bodies)
    return keys(s3, bucket)


def replayer(sqs: Any, s3: Any, queues: Queues, bucket: str) -> ArchiveReplayer:
    return ArchiveReplayer(s3, bucket, sqs, queues.queue_url)


def test_archived_events_reach_the_queue_once(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    events = [event("1"), event("2"), event("3", replays=2)]
    archived(sqs_client, s3, queues, bucket, [dead_letter(e) for e in events])

    report = replayer(sqs_client, s3, queues, bucket).run()

    assert (report.scanned, report.matched, report.moved, report.failed) == (3, 3, 3, 0)
    queued = sorted((json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)), key=lambda e: e["id"])
    expected = [{**events[0], "replayCount": 1}, {**events[1], "replayCount": 1}, {**events[2], "replayCount": 3}]
    assert queued == expected
    # The objects left the archive once SQS took their events: a second run replays nothing.
    assert keys(s3, bucket) == []
    assert replayer(sqs_client, s3, queues, bucket).run().moved == 0
    assert receive_all(sqs_client, queues.queue_url) == []


def test_the_replay_cap_holds_for_archived_events(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    archived(sqs_client, s3, queues, bucket, [dead_letter(event("1", replays=5)), dead_letter(event("2", replays=4))])

    report = replayer(sqs_client, s3, queues, bucket).run()

    assert (report.moved, report.refused) == (1, 1)
    assert [json.loads(m["Body"])["id"] for m in receive_all(sqs_client, queues.queue_url)] == ["2"]
    (left,) = keys(s3, bucket)
    assert json.loads(json.loads(s3.get_object(Bucket=bucket, Key=left)["Body"].read())["body"])["event"]["id"] == "1"


def test_a_dry_run_moves_nothing(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    before = archived(sqs_client, s3, queues, bucket, [dead_letter(event("1")), dead_letter(event("2"))])
    seen: list[str] = []

    report = replayer(sqs_client, s3, queues, bucket).run(dry_run=True, on_match=lambda letter: seen.append(letter.key))

    assert (report.matched, report.moved) == (2, 0)
    assert sorted(seen) == sorted(before) and sorted(keys(s3, bucket)) == sorted(before)
    assert receive_all(sqs_client, queues.queue_url) == []


def test_events_older_than_the_record_state_stay_unless_allowed(
    sqs_client: Any, s3: Any, queues: Queues, bucket: str
) -> None:
    old = int(time.time() * 1000) - 40 * DAY_MS
    archived(sqs_client, s3, queues, bucket, [dead_letter(event("1", occurred_ms=old)), dead_letter(event("2"))])

    report = replayer(sqs_client, s3, queues, bucket).run()
    assert (report.moved, report.stale) == (1, 1)
    assert [json.loads(m["Body"])["id"] for m in receive_all(sqs_client, queues.queue_url)] == ["2"]

    forced = replayer(sqs_client, s3, queues, bucket).run(allow_stale=True)
    assert (forced.moved, forced.stale) == (1, 0) and keys(s3, bucket) == []


def test_filters_prefix_and_limit_select_what_moves(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    bodies = [dead_letter(event("1")), dead_letter(event("2"), "VALIDATION_ERROR"), dead_letter(event("3"))]
    archived(sqs_client, s3, queues, bucket, bodies)
    run = replayer(sqs_client, s3, queues, bucket).run

    assert run(prefix=f"{KEY_PREFIX}2001/").scanned == 0
    only = run(where=ReplayFilter(categories=frozenset({"VALIDATION_ERROR"})))
    assert (only.scanned, only.matched, only.moved) == (3, 1, 1)
    assert run(limit=1).moved == 1
    assert len(keys(s3, bucket)) == 1
    queued = sorted(json.loads(m["Body"])["id"] for m in receive_all(sqs_client, queues.queue_url))
    assert len(queued) == 2 and "2" in queued


def test_a_send_sqs_refuses_leaves_the_object(sqs_client: Any, s3: Any, queues: Queues, bucket: str) -> None:
    before = archived(sqs_client, s3, queues, bucket, [dead_letter(event("1"))])
    gone = sqs_client.create_queue(QueueName=f"t-gone-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs_client.delete_queue(QueueUrl=gone)

    report = ArchiveReplayer(s3, bucket, sqs_client, gone).run()

    assert (report.moved, report.failed) == (0, 1)
    assert keys(s3, bucket) == before


def test_an_object_that_is_not_an_archived_message_is_left_alone(
    s3: Any, sqs_client: Any, queues: Queues, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key=f"{KEY_PREFIX}2025/01/01/stray.json", Body=b"{}")
    report = replayer(sqs_client, s3, queues, bucket).run()
    assert (report.scanned, report.unreadable, report.moved) == (1, 1, 0)
    assert keys(s3, bucket) == [f"{KEY_PREFIX}2025/01/01/stray.json"]

"""Retention and the archive against the local stack, as an operator runs them: status and pause say when
the oldest message expires, ``hubsync archive`` moves dead letters to the bucket, ``hubsync replay
--from-archive`` brings them back once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hubsync_cli.main import main
from hubsync_local.aws import MotoServer, client
from hubsync_local.stack import LocalStack
from support.stack import post_signed, stack_config, wait_for

pytestmark = pytest.mark.e2e
OBJECT = "partner_services"
FOURTEEN_DAYS = 14 * 86_400


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    with LocalStack(stack_config(moto_server.url, "arch", visibility_timeout=2, window_seconds=0.2)) as local:
        yield local


def hubsync(capsys: Any, *args: str) -> tuple[int, Any]:
    """The command's exit code and its own pretty-printed JSON (function log lines share stdout here)."""
    capsys.readouterr()
    code = main(list(args))
    lines = capsys.readouterr().out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return code, json.loads("\n".join(lines[start : lines.index("}", start) + 1]))


def depth(stack: LocalStack, name: str) -> int:
    return stack.queue_depths()[name]


def test_status_archive_and_replay_from_the_archive(stack: LocalStack, capsys: Any) -> None:
    sim, name = stack.simulator, stack.config.stack_name
    assert sim is not None and stack.resources is not None and stack.resources.archive_bucket
    s3 = client("s3", stack.aws_endpoint_url)
    sqs = client("sqs", stack.aws_endpoint_url)
    for url in (stack.resources.queue_url, stack.resources.dlq_url):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert (attributes["MessageRetentionPeriod"], attributes["MaximumMessageSize"]) == ("1209600", "1048576")

    events = [{"id": r, "properties": {"property_string": f"late-{r}"}} for r in ("910001", "910002")]
    assert post_signed(stack, json.dumps(events)).status_code == 202
    wait_for(lambda: depth(stack, "dlq") == 2, "two dead letters")

    # The DLQ is peeked (SentTimestamp): its oldest message expires about 14 days from now.
    _, status = hubsync(capsys, "status", "--stack-name", name)
    dlq = status["dlq"]
    assert dlq["retention_seconds"] == FOURTEEN_DAYS and dlq["oldest_age_from"] == "sentTimestamp"
    assert FOURTEEN_DAYS - 600 <= dlq["oldest_expires_in_seconds"] <= FOURTEEN_DAYS and dlq["oldest_expires_by"]
    assert status["queue"]["oldest_expires_by"] is None  # empty
    assert depth(stack, "dlq") == 2  # peeking moved nothing

    # Paused with an event waiting: the emulator has no CloudWatch data and the queue is never peeked.
    _, paused = hubsync(capsys, "pause", "--stack-name", name)
    assert paused["state"] == "Disabled" and paused["queue"]["retention_seconds"] == FOURTEEN_DAYS
    poller = stack.poller
    assert poller is not None
    wait_for(lambda: poller.paused_checks >= 1, "the poller to see the pause")
    assert post_signed(stack, json.dumps([{"id": "1003", "properties": {"property_string": "p"}}])).status_code == 202
    wait_for(lambda: depth(stack, "queue") == 1, "the event on the queue")
    _, status = hubsync(capsys, "status", "--stack-name", name)
    assert status["queue"]["oldest_age_from"] == "unknown" and status["queue"]["oldest_expires_by"] is None
    hubsync(capsys, "resume", "--stack-name", name)

    code, report = hubsync(capsys, "archive", "--stack-name", name, "--older-than", "0")
    assert code == 0 and (report["archived"], report["failed"]) == (2, 0)
    assert depth(stack, "dlq") == 0
    objects = s3.list_objects_v2(Bucket=stack.resources.archive_bucket)["Contents"]
    assert len(objects) == 2

    code, dry = hubsync(capsys, "replay", "--stack-name", name, "--from-archive", "--dry-run")
    assert code == 0 and (dry["matched"], dry["moved"]) == (2, 0)

    for record in ("910001", "910002"):
        sim.add_record(OBJECT, {"property_string": "created"}, record_id=record)
    code, moved = hubsync(capsys, "replay", "--stack-name", name, "--from-archive", "--category", "OBJECT_NOT_FOUND")
    assert code == 0 and moved["moved"] == 2
    wait_for(
        lambda: (
            [sim.record(OBJECT, r)["properties"]["property_string"] for r in ("910001", "910002")]
            == ["late-910001", "late-910002"]
        ),
        "the archived events to apply",
    )
    assert s3.list_objects_v2(Bucket=stack.resources.archive_bucket).get("KeyCount", 0) == 0
    _, again = hubsync(capsys, "replay", "--stack-name", name, "--from-archive")
    assert again["moved"] == 0

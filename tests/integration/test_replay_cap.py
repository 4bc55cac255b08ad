"""``hubsync replay`` unfiltered: SQS's own move (StartMessageMoveTask) knows nothing of the replay cap,
so it is used only when no dead letter is at the cap. moto lacks StartMessageMoveTask: a recording
stand-in answers for it here, everything else is moto's server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubsync.deadletters import dlq
from hubsync.deadletters.replay import ReplayFilter
from hubsync_cli import replay
from hubsync_cli.targets import Target
from support.aws import Queues, receive_all


class WithMoveTask:
    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.move_tasks: list[dict[str, Any]] = []

    def start_message_move_task(self, **options: Any) -> dict[str, Any]:
        self.move_tasks.append(options)
        return {"TaskHandle": "task-1"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def put(sqs: Any, queues: Queues, replay_counts: list[int]) -> None:
    for index, count in enumerate(replay_counts):
        event: dict[str, Any] = {"id": str(index), "objectType": "partner_services", "properties": {"a": "1"}}
        if count:
            event["replayCount"] = count
        document = dlq.envelope(event, dlq.Failure(dlq.OBJECT_NOT_FOUND, "gone"), now_ms=0, stage="updater")
        sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=dlq.dlq_message(str(index), document).body)


@pytest.fixture
def sqs_with_move_task(sqs_client: Any, monkeypatch: pytest.MonkeyPatch) -> WithMoveTask:
    wrapped = WithMoveTask(sqs_client)
    monkeypatch.setattr(replay, "client", lambda service: wrapped)
    return wrapped


def run(queues: Queues) -> dict[str, Any]:
    target = Target(queue_url=queues.queue_url, dlq_url=queues.dlq_url)
    return replay.run(target, ReplayFilter(), dry_run=False, limit=None, rate=None, max_replays=5)


def test_with_a_dead_letter_at_the_cap_the_native_move_is_not_used_and_the_cap_holds(
    sqs_with_move_task: WithMoveTask, sqs_client: Any, queues: Queues
) -> None:
    put(sqs_client, queues, [0, 5, 2])
    result = run(queues)
    assert sqs_with_move_task.move_tasks == []
    assert (result["moved"], result["refused"]) == (2, 1)
    assert sorted(json.loads(m["Body"])["replayCount"] for m in receive_all(sqs_client, queues.queue_url)) == [1, 3]
    [left] = receive_all(sqs_client, queues.dlq_url)
    assert dlq.unwrap(left["Body"]).event["replayCount"] == 5


def test_with_none_at_the_cap_the_native_move_moves_everything(
    sqs_with_move_task: WithMoveTask, sqs_client: Any, queues: Queues
) -> None:
    put(sqs_client, queues, [0, 4])
    result = run(queues)
    assert result == {"redrive": "StartMessageMoveTask", "taskHandle": "task-1"}
    assert sqs_with_move_task.move_tasks == [{"SourceArn": queues.dlq_arn, "DestinationArn": queues.queue_arn}]
    assert len(receive_all(sqs_client, queues.dlq_url, delete=False)) == 2  # the scan let them go again

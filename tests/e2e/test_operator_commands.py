"""The operator's commands against the local stack, as an operator runs them (``hubsync ...``)."""

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


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    config = stack_config(
        moto_server.url,
        "ops",
        visibility_timeout=2,
        window_seconds=0.2,
    )
    with LocalStack(config) as local:
        yield local


def post(stack: LocalStack, events: list[dict[str, Any]]) -> None:
    assert post_signed(stack, json.dumps(events)).status_code == 202


def hubsync(capsys: Any, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def last_json(out: str) -> Any:
    """The command's own pretty-printed JSON (the in-process functions' log lines share stdout here)."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start : lines.index("}", start) + 1]))


def own_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("{")]


def depth(stack: LocalStack, name: str) -> int:
    return stack.queue_depths()[name]


def test_inspect_replay_pause_resume_and_doctor(stack: LocalStack, capsys: Any) -> None:
    sim, name = stack.simulator, stack.config.stack_name
    assert sim is not None
    post(
        stack,
        [
            {"id": "900001", "properties": {"property_string": "late-a"}},
            {"id": "900002", "properties": {"property_string": "late-b"}},
            {"id": "", "properties": {"property_string": "x"}},
        ],
    )
    wait_for(lambda: depth(stack, "dlq") == 3, "three dead letters")

    code, out = hubsync(capsys, "dlq", "stats", "--stack-name", name)
    stats = last_json(out)
    assert code == 0 and stats["total"] == 3
    assert stats["category"] == {"OBJECT_NOT_FOUND": 2, "INVALID_EVENT": 1}
    assert stats["status"] == {"207": 2, "None": 1} and stats["age"] == {"< 1 h": 3}

    code, out = hubsync(capsys, "dlq", "ls", "--stack-name", name, "--category", "OBJECT_NOT_FOUND")
    lines = own_lines(out)
    assert len(lines) == 2 and all("OBJECT_NOT_FOUND" in line for line in lines)
    message_id = lines[0].split()[0]
    code, out = hubsync(capsys, "dlq", "show", "--stack-name", name, message_id)
    shown = last_json(out)
    assert shown["body"]["error"]["category"] == "OBJECT_NOT_FOUND" and shown["body"]["event"]["id"] in (
        "900001",
        "900002",
    )

    code, out = hubsync(capsys, "replay", "--stack-name", name, "--category", "OBJECT_NOT_FOUND", "--dry-run")
    assert out.count("OBJECT_NOT_FOUND") >= 2 and last_json(out)["moved"] == 0
    assert depth(stack, "dlq") == 3

    # Pause: the webhook still accepts, nothing reaches HubSpot until resume.
    code, out = hubsync(capsys, "pause", "--stack-name", name)
    assert last_json(out)["state"] == "Disabled"
    poller = stack.poller
    assert poller is not None
    # A batch already being gathered finishes, as on AWS: wait until the poller has seen the pause.
    wait_for(lambda: poller.paused_checks >= 1, "the poller to see the pause")
    post(stack, [{"id": "1005", "properties": {"property_string": "while-paused"}}])
    wait_for(lambda: depth(stack, "queue") == 1, "the event on the queue")
    checks = poller.paused_checks
    wait_for(lambda: poller.paused_checks >= checks + 3, "the poller to look again")
    assert depth(stack, "queue") == 1 and sim.record(OBJECT, "1005")["properties"]["property_string"] != "while-paused"
    code, out = hubsync(capsys, "status", "--stack-name", name)
    status = last_json(out)
    assert status["queue"]["visible"] == 1 and status["mapping"]["state"] == "Disabled"
    assert status["dlq"]["visible"] == 3
    hubsync(capsys, "resume", "--stack-name", name)
    wait_for(lambda: sim.record(OBJECT, "1005")["properties"]["property_string"] == "while-paused", "delivery")

    # Fix the records, replay one by record id, then the rest at a rate.
    for record in ("900001", "900002"):
        sim.add_record(OBJECT, {"property_string": "created"}, record_id=record)
    code, out = hubsync(capsys, "replay", "--stack-name", name, "--record-id", "900001")
    assert last_json(out)["moved"] == 1
    code, out = hubsync(capsys, "replay", "--stack-name", name, "--category", "OBJECT_NOT_FOUND", "--rate", "50")
    assert last_json(out)["moved"] == 1
    wait_for(
        lambda: (
            [sim.record(OBJECT, r)["properties"]["property_string"] for r in ("900001", "900002")]
            == ["late-a", "late-b"]
        ),
        "the replayed events to apply",
    )
    assert depth(stack, "dlq") == 1  # the invalid event stays: the filter did not match it

    code, out = hubsync(capsys, "doctor", "--stack-name", name)
    assert code == 0, out
    assert all(line.startswith("✓") for line in own_lines(out))
    assert "token scopes" in out and "object type partner_services" in out
    assert "property definitions partner_services" in out and "object settings: every type updated" in out

    secrets = client("secretsmanager", stack.aws_endpoint_url)
    assert stack.resources is not None
    secrets.put_secret_value(SecretId=stack.resources.hubspot_token_secret_arn, SecretString="pat-wrong")
    code, out = hubsync(capsys, "doctor", "--stack-name", name)
    assert code == 1 and "✗ HubSpot accepts the token" in out


def test_unfiltered_replay_falls_back_when_sqs_redrive_is_missing(stack: LocalStack, capsys: Any) -> None:
    post(stack, [{"id": "900003", "properties": {"property_string": "x"}}])
    wait_for(lambda: depth(stack, "dlq") == 1, "a dead letter")
    assert stack.simulator is not None
    stack.simulator.add_record(OBJECT, {"property_string": "created"}, record_id="900003")
    _, out = hubsync(capsys, "replay", "--stack-name", stack.config.stack_name)
    assert last_json(out)["moved"] == 1  # the emulator lacks StartMessageMoveTask: moved one by one
    wait_for(lambda: stack.simulator.record(OBJECT, "900003")["properties"]["property_string"] == "x", "apply")

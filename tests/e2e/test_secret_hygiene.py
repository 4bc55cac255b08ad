"""The HubSpot token and the webhook secrets never appear in logs, answers or the DLQ.

Drives the local stack through accepted, refused, quarantined and failing deliveries (including a
401 from HubSpot after the token secret was rotated to a wrong value), with DEBUG logging on.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hubsync_local.aws import MotoServer, client
from hubsync_local.stack import LocalStack
from support.aws import receive_all
from support.stack import post_signed, stack_config

pytestmark = pytest.mark.e2e
TOKEN = "pat-na1-" + uuid.uuid4().hex
WRONG_TOKEN = "pat-na1-" + uuid.uuid4().hex
SECRET = "whsec_" + base64.b64encode(uuid.uuid4().bytes + b"8bytes!!").decode()


@pytest.fixture
def stack(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    monkeypatch.setenv("HUBSPOT_SIMULATOR_TOKEN", TOKEN)
    config = stack_config(
        moto_server.url,
        "hyg",
        webhook_secrets=[SECRET],
        visibility_timeout=1,
        window_seconds=0.5,
        extra_environment={"LOG_LEVEL": "DEBUG", "SECRETS_CACHE_SECONDS": "0", "MAX_RECEIVE_COUNT": "1"},
    )
    with LocalStack(config) as local:
        yield local


def post(stack: LocalStack, body: bytes, secret: str = SECRET) -> requests.Response:
    return post_signed(stack, body.decode(), secret=secret)


def wait_for_dlq(stack: LocalStack, count: int) -> list[dict[str, Any]]:
    assert stack.resources
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if stack.queue_depths()["dlq"] >= count:
            break
        time.sleep(0.2)
    return receive_all(stack.sqs, stack.resources.dlq_url)


def test_no_secret_in_logs_answers_or_dlq(stack: LocalStack, caplog: Any, capsys: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="hubsync")
    assert stack.resources
    answers = [
        post(stack, b'[{"id": "1001", "properties": {"property_string": "ok"}}, {"id": ""}]'),
        post(stack, b'[{"id": "1001", "properties": {"property_string": "x"}}]', secret="whsec_" + "A" * 32),
        post(stack, b"not json"),
        post(stack, b'[{"id": "999999", "properties": {"property_string": "x"}}]'),
    ]
    assert [a.status_code for a in answers] == [202, 401, 400, 202]
    first = wait_for_dlq(stack, 2)  # the invalid event and the not-found record
    # Rotate the token secret to a wrong value: HubSpot answers 401 and the event ends in the DLQ.
    client("secretsmanager", stack.aws_endpoint_url).put_secret_value(
        SecretId=stack.resources.hubspot_token_secret_arn, SecretString=WRONG_TOKEN
    )
    assert post(stack, b'[{"id": "1002", "properties": {"property_string": "y"}}]').status_code == 202
    second = wait_for_dlq(stack, 1)
    dead = [json.loads(m["Body"]) for m in first + second]
    assert sorted(d["error"]["category"] for d in dead) == ["INVALID_EVENT", "OBJECT_NOT_FOUND", "RETRIES_EXHAUSTED"]
    assert [d["error"].get("cause") for d in dead if d["error"]["category"] == "RETRIES_EXHAUSTED"] == ["AUTH"]

    material = [TOKEN, WRONG_TOKEN, SECRET, SECRET.removeprefix("whsec_")]
    logs = caplog.text + capsys.readouterr().out
    assert "signature refused" in logs and "batch done" in logs  # the logs were captured at all
    texts = {"logs": logs, "answers": " ".join(a.text for a in answers), "dlq": json.dumps(dead)}
    for where, text in texts.items():
        for value in material:
            assert value not in text, f"a secret appears in the {where}"

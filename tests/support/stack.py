"""Helpers for tests that drive the local stack: signed deliveries and waiting for a condition."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from hubsync_local.stack import LocalStack, StackConfig


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Polls ``condition`` until it holds; a bounded wait, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def post_signed(
    stack: LocalStack, body: str, msg_id: str | None = None, secret: str | None = None
) -> requests.Response:
    """A Standard Webhooks delivery, signed by the library senders use, to the stack's webhook."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret or stack.webhook_secrets[0]).sign(msg_id, now, body),
    }
    return requests.post(stack.webhook_url, data=body.encode(), headers=headers, timeout=30)


def stack_config(endpoint_url: str, prefix: str, **settings: Any) -> StackConfig:
    """A local stack for a test: a unique stack name, free ports, the session's emulator, then ``settings``."""
    return StackConfig(
        stack_name=f"{prefix}-{uuid.uuid4().hex[:8]}",
        gateway_port=None,
        simulator_port=None,
        aws_endpoint_url=endpoint_url,
        **settings,
    )

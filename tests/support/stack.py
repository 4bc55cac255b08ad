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


def start_make_run(gateway: int, simulator: int) -> tuple[Any, Any]:
    """``make run``'s command as a user runs it (a child process; its default sources, a generated secret, a 1 s
    batching window), on the given ports: the process, and a queue of the lines it prints."""
    import os
    import queue
    import subprocess
    import sys
    import threading

    env = {
        **os.environ,
        "LOCAL_GATEWAY_PORT": str(gateway),
        "LOCAL_SIMULATOR_PORT": str(simulator),
        "LOCAL_BATCHING_WINDOW_SECONDS": "1",
    }
    env.pop("WEBHOOK_SECRETS", None)
    env.pop("WEBHOOK_SOURCES", None)  # make run's own default: the worked examples
    process = subprocess.Popen(
        [sys.executable, "-m", "hubsync_local"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def next_printed_line(lines: Any, predicate: Callable[[str], bool], timeout: float = 60) -> str:
    """The next line a child process printed (``lines``: start_make_run's queue) that ``predicate`` accepts."""
    import queue
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line: str = lines.get(timeout=1)
        except queue.Empty:
            continue
        if predicate(line):
            return line
    raise AssertionError("the local stack did not print what was expected")

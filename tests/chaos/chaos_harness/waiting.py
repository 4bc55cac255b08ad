"""Waiting on the local stack: calm gaps for the fault program, and the pipeline quiet again."""

from __future__ import annotations

import time
from collections.abc import Callable

from hubsync_local.stack import LocalStack

from .pipeline import PipelineLog


def settled(stack: LocalStack, pipeline: PipelineLog) -> Callable[[float], bool]:
    """For the fault program's calm gaps: since ``at``, an invocation ran, or there is nothing to retry."""

    def since(at: float) -> bool:
        if pipeline.ran_since(at):
            return True
        counts = queue_counts(stack)
        assert stack.poller is not None
        return not counts["Visible"] and not counts["NotVisible"] and not stack.poller.busy.is_set()

    return since


def queue_counts(stack: LocalStack) -> dict[str, int]:
    resources = stack.resources
    assert resources is not None
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = stack.sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=names)["Attributes"]
    return {name.removeprefix("ApproximateNumberOfMessages") or "Visible": int(attributes[name]) for name in names}


def wait_quiet(stack: LocalStack, timeout: float, stable_checks: int = 4) -> None:
    """Until the queue is empty (nothing visible, in flight or delayed) and the poller idle, several times running."""
    poller = stack.poller
    assert poller is not None
    deadline = time.monotonic() + timeout
    quiet = 0
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = queue_counts(stack)
        quiet = quiet + 1 if not any(counts.values()) and not poller.busy.is_set() else 0
        if quiet >= stable_checks:
            return
        time.sleep(0.5)
    raise AssertionError(f"the pipeline did not quiet down within {timeout:.0f}s: {counts}")

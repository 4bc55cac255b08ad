"""What Lambda gives a handler locally: a context with a deadline, and the handler loaded from its file."""

from __future__ import annotations

import hashlib
import importlib.util
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from hubsync_local.template import REPO_ROOT

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The parts of Lambda's context object the handlers and Powertools use. The clock is injectable."""

    def __init__(
        self,
        function_name: str,
        timeout_seconds: float,
        memory_limit_in_mb: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


def load_module(function_dir: str, module: str = "app") -> ModuleType:
    """A fresh copy of ``functions/<dir>/<module>.py`` (its own module globals and caches).

    Every handler file is called app.py, so each is loaded under a unique module name.
    """
    path = Path(REPO_ROOT, "functions", function_dir, f"{module}.py")
    spec = importlib.util.spec_from_file_location(f"hubsync_function_{function_dir}_{uuid.uuid4().hex}", path)
    assert spec and spec.loader
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def load_handler(function_dir: str, module: str = "app", attribute: str = "handler") -> Handler:
    """The handler of a fresh copy of ``functions/<dir>/<module>.py``."""
    handler = getattr(load_module(function_dir, module), attribute)
    assert callable(handler)
    return handler  # type: ignore[no-any-return]


def receiver_attributes(object_type: str = "partner_services") -> dict[str, str]:
    """The message attributes the receiver sets on the events it queues (hubsync.provenance)."""
    from hubsync import provenance

    return {"objectType": object_type, provenance.ATTRIBUTE: provenance.RECEIVER}


def sqs_record(
    message_id: str,
    body: str,
    receive_count: int = 1,
    sent_at: int | None = None,
    receipt_handle: str | None = None,
    queue: str = "hubsync-events",
    attributes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One record of an SQS event as Lambda's event source mapping hands it to a handler; ``attributes``
    are its String message attributes (``receiver_attributes()``: marked as the receiver marks its own)."""
    sent = str(sent_at if sent_at is not None else int(time.time() * 1000))
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle or f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent,
            "SenderId": "AROAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": sent,
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
            for name, value in (attributes or {}).items()
        },
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
        "awsRegion": "us-east-1",
    }

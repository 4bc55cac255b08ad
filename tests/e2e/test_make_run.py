"""`make run`'s command as a user runs it: a child process, the printed sample command, Ctrl-C."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import IO

import pytest
import requests

from hubsync_local.aws import free_port

pytestmark = pytest.mark.e2e


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _next_line(lines: queue.Queue[str], predicate: object, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if callable(predicate) and predicate(line):
            return line
    raise AssertionError("the local stack did not print what was expected")


def test_run_serves_the_sample_event_and_stops_on_ctrl_c() -> None:
    gateway, simulator = free_port(), free_port()
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
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    try:
        _next_line(lines, lambda line: line.startswith("Send a signed sample event"))
        command = _next_line(lines, lambda line: " send " in line).strip()
        sent = subprocess.run(
            [*shlex.split(command), "--url", f"http://127.0.0.1:{gateway}/webhooks"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.stdout.startswith("202"), sent.stdout + sent.stderr
        # Each example sender's line, as printed (its own --url, secret, sources file and sample body).
        _next_line(lines, lambda line: line.startswith("Send each source's sample"))
        for name in ("hubspot", "stripe", "github", "erp"):
            line = _next_line(lines, lambda line: " send --source " in line).strip()
            assert f"--source {name} " in line and f"/webhooks/{name} " in line
            sent = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=60, check=False)
            assert sent.stdout.startswith("202") and '"rejected":[]' in sent.stdout, sent.stdout + sent.stderr
        preview = _next_line(lines, lambda line: " transform --source " in line).strip()
        shown = subprocess.run(shlex.split(preview), capture_output=True, text=True, timeout=60, check=False)
        assert shown.returncode == 0 and '"events"' in shown.stdout, shown.stdout + shown.stderr
        records = f"http://127.0.0.1:{simulator}/_simulator/records/partner_services"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stored = requests.get(records, timeout=5).json()["records"]["1001"]["properties"]
            if stored.get("property_string") == "newer value":
                break
            time.sleep(0.3)
        assert stored["property_string"] == "newer value"  # the later of the sample's two events won
        assert stored["property_multiple_checkboxes"] == "chocolate;strawberry"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(records, timeout=2)

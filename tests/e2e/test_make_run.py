"""`make run`'s command as a user runs it: a child process, the printed sample command, Ctrl-C."""

from __future__ import annotations

import shlex
import signal
import subprocess
import time

import pytest
import requests

from hubsync_local.aws import free_port
from support.stack import next_printed_line, start_make_run

pytestmark = pytest.mark.e2e


def test_run_serves_the_sample_event_and_stops_on_ctrl_c() -> None:
    gateway, simulator = free_port(), free_port()
    process, lines = start_make_run(gateway, simulator)
    try:
        next_printed_line(lines, lambda line: line.startswith("Send a signed sample event"))
        command = next_printed_line(lines, lambda line: " send " in line).strip()
        sent = subprocess.run(
            [*shlex.split(command), "--url", f"http://127.0.0.1:{gateway}/webhooks"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.stdout.startswith("202"), sent.stdout + sent.stderr
        # Each example sender's line, as printed (its own --url, secret, sources file and sample body).
        next_printed_line(lines, lambda line: line.startswith("Send each source's sample"))
        for name in ("hubspot", "stripe", "github", "erp"):
            line = next_printed_line(lines, lambda line: " send --source " in line).strip()
            assert f"--source {name} " in line and f"/webhooks/{name} " in line
            sent = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=60, check=False)
            assert sent.stdout.startswith("202") and '"rejected":[]' in sent.stdout, sent.stdout + sent.stderr
        preview = next_printed_line(lines, lambda line: " transform --source " in line).strip()
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

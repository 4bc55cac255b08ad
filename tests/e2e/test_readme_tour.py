"""The README's five-minute tour, step by step, against `make run`'s stack: the commands are the README's own
(read from its tour block), with the secret, the emulator's address and the ports `make run` printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from hubsync_local.aws import free_port
from support.stack import next_printed_line, start_make_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def tour_commands() -> list[str]:
    """The shell lines of the README's tour block, comments and blank lines left out."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _printed(lines: Any, pattern: str) -> re.Match[str]:
    found = re.search(pattern, next_printed_line(lines, lambda line: re.search(pattern, line) is not None))
    assert found is not None
    return found


def _until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_tour_runs_as_the_readme_says() -> None:
    commands = tour_commands()
    assert len(commands) == 8, commands  # send, two reads, send, export, dlq ls, create, replay
    gateway, simulator = free_port(), free_port()
    process, lines = start_make_run(gateway, simulator)
    env = dict(os.environ)
    try:
        emulator = _printed(lines, r"AWS emulator\s+(http://\S+)").group(1)
        secret = _printed(lines, r" send --secret (\S+) ").group(1)
        shell_env = {**env, "AWS_ENDPOINT_URL": emulator}

        def run(line: str) -> str:
            """One tour line, with make run's values in place of the README's placeholders."""
            line = line.replace("whsec_...", secret).replace("http://127.0.0.1:PORT", emulator)
            line = line.replace("127.0.0.1:3001", f"127.0.0.1:{simulator}").replace(".venv/bin/", f"{ROOT}/.venv/bin/")
            argv = shlex.split(line)
            if argv[0] == "export":  # the environment of the next lines
                shell_env.update(dict(part.split("=", 1) for part in argv[1:]))
                return ""
            if argv[-1].endswith(".json") and argv[1] == "send":
                argv += ["--url", f"http://127.0.0.1:{gateway}/webhooks"]
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=60, env=shell_env, cwd=ROOT, check=False
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
            return done.stdout

        records = f"http://127.0.0.1:{simulator}/_simulator/records/partner_services"
        send_sample, read_records, read_calls, send_unknown, export, dlq_ls, create, replay = commands[:8]
        assert run(send_sample).startswith("202")
        _until(
            lambda: (
                requests.get(records, timeout=5).json()["records"]["1001"]["properties"].get("property_string")
                == "newer value"
            ),
            "the sample applied",
        )
        assert "newer value" in run(read_records)
        assert "batch/update" in run(read_calls)
        assert run(send_unknown).startswith("202")
        run(export)
        listed = _until(lambda: (out := run(dlq_ls)) and "OBJECT_NOT_FOUND" in out and out, "the DLQ entry")
        assert "1099" in listed
        assert json.loads(run(create))["id"] == "1099"
        run(replay)
        stored = _until(
            lambda: requests.get(records, timeout=5).json()["records"]["1099"]["properties"].get("property_string"),
            "the replayed event applied",
        )
        assert stored == "for a record HubSpot does not have yet"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)

"""bench.load's child processes: the local stack as ``make run`` runs it (moto's server its own child), found
and ended by /proc, and their CPU read from it (Linux)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._support import ROOT
from hubsync_local.aws import free_port
from hubsync_local.processes import stop_process

START_TIMEOUT = 90.0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# How the local stack starts moto (hubsync_local.aws.MotoServer), to find its process in /proc.
MOTO_COMMAND = "hubsync_local.moto_main"


def children(pid: int, needle: str) -> list[int]:
    """Processes whose parent is ``pid`` and whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            command = entry.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and needle in command:
            found.append(int(entry.name))
    return found


def is_running(pid: int, needle: str) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return needle in command and state != "Z"


def end_orphan(pid: int, needle: str) -> None:
    """Ends a grandchild (moto under the stack) left behind if the stack could not stop it itself."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_running(pid, needle):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and is_running(pid, needle):
            time.sleep(0.1)


class StackProcess:
    """``python -m hubsync_local`` in a child process, on free ports, with a known webhook secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.process: subprocess.Popen[bytes] | None = None
        self.moto_pid: int | None = None
        self.info: dict[str, str] = {}
        self._log = tempfile.NamedTemporaryFile(prefix="hubsync-bench-stack-", suffix=".log")  # noqa: SIM115

    def start(self) -> None:
        env = {
            **os.environ,
            "LOCAL_GATEWAY_PORT": str(free_port()),
            "LOCAL_SIMULATOR_PORT": str(free_port()),
            "WEBHOOK_SECRETS": self.secret,
        }
        for name in ("WEBHOOK_SOURCES", "HUBSPOT_BASE_URL", "HUBSPOT_ACCESS_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hubsync_local"], stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = Path(self._log.name).read_text(errors="replace")
            if "Send a signed sample event" in text:  # the banner is printed in one write
                self.info = banner(text)
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}: {text[-2000:]}")
            time.sleep(0.2)
        else:
            raise RuntimeError("the local stack did not print its banner in time")
        moto = children(self.process.pid, MOTO_COMMAND)
        self.moto_pid = moto[0] if moto else None

    def stop(self) -> None:
        if self.process is not None:
            if self.moto_pid is None:  # stopped before the banner: find moto now, in case it outlives the stack
                self.moto_pid = next(iter(children(self.process.pid, MOTO_COMMAND)), None)
            stop_process(self.process, timeout_seconds=30)
            self.process = None
        if self.moto_pid is not None:
            end_orphan(self.moto_pid, MOTO_COMMAND)
        self._log.close()


def banner(text: str) -> dict[str, str]:
    """The URLs ``make run`` prints: webhook, AWS emulator, queue, DLQ."""
    labels = {"webhook": "webhook", "AWS emulator": "aws", "queue": "queue", "DLQ": "dlq"}
    info = {}
    for line in text.splitlines():
        for label, key in labels.items():
            words = line.strip().split()
            if line.startswith(f"  {label} ") and key not in info:
                info[key] = next(word for word in words if word.startswith("http://"))
    if set(info) != set(labels.values()):
        raise RuntimeError(f"the banner lacks a URL: {info}")
    return info

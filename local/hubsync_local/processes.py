"""Stopping the child processes the local stack, the tests and the benchmarks start."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], timeout_seconds: float = 10) -> None:
    """Asks a child to stop (SIGTERM), kills it if it has not within ``timeout_seconds``, and reaps it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

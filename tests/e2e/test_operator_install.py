"""The operator's tool installs alone, as the README tells operators to install it (``pip install`` or ``pipx
install`` of the repository's path), into a clean virtual environment with nothing of the dev toolchain: its
``hubsync --help`` answers, and ``hubsync dlq stats`` reads a stack's DLQ (the local stack, in the emulator,
found by its CloudFormation stack name as a deployed one is)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync_local.aws import MotoServer
from hubsync_local.stack import LocalStack
from support.stack import post_signed, stack_config, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
# Installing boto3 and the rest from the package index takes a while on a fresh machine.
INSTALL_TIMEOUT_SECONDS = 600


def tracked_files() -> list[str]:
    """The repository as a clean checkout has it: what git tracks, nothing built or cached in this tree."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name]


@pytest.fixture(scope="module")
def operator_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkout = tmp_path_factory.mktemp("checkout")
    for name in tracked_files():
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree but not yet in git's index is skipped
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    venv = tmp_path_factory.mktemp("operator") / "venv"
    # The base interpreter, not this (dev) environment's: nothing of it may leak into the new one.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(checkout)],
        check=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        env={key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}},
    )
    return venv


def run(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [str(venv / "bin" / "hubsync"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=venv,  # not the repository: nothing importable from the current directory
    )


def test_it_installs_without_the_dev_toolchain(operator_venv: Path) -> None:
    python = str(operator_venv / "bin" / "python")
    probe = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in "
        "['hubsync', 'hubsync_cli', 'hubsync_local', 'moto', 'pytest', 'mypy', 'samcli']}))"
    )
    found = json.loads(subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert found == {
        "hubsync": True,
        "hubsync_cli": True,
        "hubsync_local": False,
        "moto": False,
        "pytest": False,
        "mypy": False,
        "samcli": False,
    }
    help_text = run(operator_venv, "--help")
    assert help_text.returncode == 0, help_text.stderr
    for command in ("send", "transform", "replay", "archive", "dlq", "pause", "resume", "status", "doctor"):
        assert command in help_text.stdout
    assert "{run," not in help_text.stdout and ",run" not in help_text.stdout  # the local stack is not its part


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    with LocalStack(stack_config(moto_server.url, "opinst", visibility_timeout=2, window_seconds=0.2)) as local:
        yield local


def test_the_installed_tool_reads_a_stacks_dead_letters(operator_venv: Path, stack: LocalStack) -> None:
    # Records the simulator does not hold: HubSpot answers OBJECT_NOT_FOUND and both are dead-lettered.
    events = [{"id": record, "properties": {"property_string": "x"}} for record in ("930001", "930002")]
    assert post_signed(stack, json.dumps(events)).status_code == 202
    wait_for(lambda: stack.queue_depths()["dlq"] == 2, "two dead letters")
    aws = {
        "AWS_ENDPOINT_URL": stack.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    answer = run(operator_venv, "dlq", "stats", "--stack-name", stack.config.stack_name, env=aws)
    assert answer.returncode == 0, answer.stderr
    stats = json.loads(answer.stdout)
    assert stats["total"] == 2 and stats["category"] == {"OBJECT_NOT_FOUND": 2}
    assert stats["objectType"] == {"partner_services": 2}

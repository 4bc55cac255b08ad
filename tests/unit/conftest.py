"""Unit tests of pure logic run with the network blocked (pytest-socket)."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_socket

from support.template import load_template


@pytest.fixture(autouse=True)
def _no_network() -> object:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml as read by tests/support/template.py (the test_template*.py modules)."""
    return load_template()

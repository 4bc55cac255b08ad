"""Fixtures of the record state tests: a table on moto's server, the store's client (lean and botocore's: each
test runs with both), a fake clock and the sleeps the store asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hubsync.delivery.recordstate import (
    RecordStateStore,
)
from hubsync_local.aws import client
from support.aws import create_table
from support.recordstate import Clock, WithAdmin


@pytest.fixture
def admin(aws_env: str) -> Any:
    """botocore's client, for setting the table up and reading it back."""
    return client("dynamodb", aws_env)


@pytest.fixture(params=["lean", "botocore"])
def dynamodb(request: pytest.FixtureRequest, aws_env: str, admin: Any) -> Any:
    """The client the store is given: the lean one the updater deploys with, and botocore's (a caller's own).
    Both have botocore's calls for set-up and reading back: the lean one through ``admin``."""
    if request.param == "botocore":
        return admin
    from hubsync.dynamodb.client import LeanDynamoDB
    from hubsync.dynamodb.sigv4 import Credentials

    return WithAdmin(LeanDynamoDB(client("dynamodb", aws_env), Credentials("testing", "testing")), admin)


@pytest.fixture
def table(dynamodb: Any) -> Iterator[str]:
    name = create_table(dynamodb.meta.endpoint_url, "record-state", "record")
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def store_for(dynamodb: Any, table: str, clock: Clock, sleeps: list[float]) -> Any:
    def make(owner: str) -> RecordStateStore:
        return RecordStateStore(table, owner, client=dynamodb, clock=clock, sleep=sleeps.append)

    return make

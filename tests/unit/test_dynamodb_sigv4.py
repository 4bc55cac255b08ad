"""hubsync's SigV4 signer against botocore's own (SigV4Auth), byte for byte, for the requests the lean
DynamoDB client sends: permanent and temporary credentials, hosts with and without a port, a day change."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from hubsync.dynamodb.sigv4 import Credentials, SigV4Signer

BODY = b'{"TransactItems":[{"Update":{"TableName":"t","Key":{"record":{"S":"k"}}}}]}'
HEADERS = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"}


def botocore_headers(
    monkeypatch: pytest.MonkeyPatch, url: str, credentials: Credentials, region: str, at: datetime.datetime
) -> dict[str, str]:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)
    request = AWSRequest(method="POST", url=url, data=BODY, headers=dict(HEADERS))
    SigV4Auth(BotocoreCredentials(*credentials), "dynamodb", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
    ],
)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEXAMPLE//token+with/slashes="])
def test_signature_matches_botocore(monkeypatch: pytest.MonkeyPatch, url: str, host: str, token: str | None) -> None:
    at = datetime.datetime(2026, 12, 2, 5, 30, 1, tzinfo=datetime.UTC)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = SigV4Signer("eu-west-1", "dynamodb").headers(credentials, host, BODY, HEADERS, now=at.timestamp())
    theirs = botocore_headers(monkeypatch, url, credentials, "eu-west-1", at)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20261202T053001Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == token


def test_signing_key_follows_the_day_and_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = SigV4Signer("us-east-1", "dynamodb")
    first = datetime.datetime(2026, 12, 2, 23, 59, 59, tzinfo=datetime.UTC)
    second = first + datetime.timedelta(seconds=2)  # the next day: a new signing key
    for at, secret in ((first, "secret-one"), (second, "secret-one"), (second, "secret-two")):
        credentials = Credentials("AKID", secret)
        ours = signer.headers(credentials, "dynamodb.us-east-1.amazonaws.com", BODY, HEADERS, now=at.timestamp())
        url = "https://dynamodb.us-east-1.amazonaws.com/"
        theirs = botocore_headers(monkeypatch, url, credentials, "us-east-1", at)
        assert ours["Authorization"] == theirs["Authorization"]


def test_a_tampered_body_changes_the_signature() -> None:
    signer = SigV4Signer("us-east-1", "dynamodb")
    credentials = Credentials("AKID", "secret")
    one: dict[str, Any] = signer.headers(credentials, "h", BODY, HEADERS, now=1_796_188_800.0)
    two: dict[str, Any] = signer.headers(credentials, "h", BODY + b" ", HEADERS, now=1_796_188_800.0)
    assert one["Authorization"] != two["Authorization"]

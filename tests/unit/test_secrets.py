from __future__ import annotations

from typing import Any

import pytest

from hubsync.exceptions import ConfigurationError
from hubsync.intake.sources import parse_source_secrets
from hubsync.secrets import SecretCache, parse_token


class FakeSecretsManager:
    def __init__(self) -> None:
        self.value = "one"
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.reads += 1
        if SecretId == "missing":
            raise KeyError("ResourceNotFoundException")
        return {"SecretString": self.value}


def test_a_secret_is_read_once_per_ttl_and_a_rotation_is_picked_up_after() -> None:
    now = [0.0]
    client = FakeSecretsManager()
    cache = SecretCache(client, ttl_seconds=300, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [cache.get("arn"), cache.get("arn")] == ["one", "one"] and client.reads == 1
    client.value = "two"
    now[0] = 299
    assert cache.get("arn") == "one"
    now[0] = 301
    assert cache.get("arn") == "two" and client.reads == 2


def test_unreadable_secret_is_a_configuration_error_naming_the_secret_not_its_value() -> None:
    cache = SecretCache(FakeSecretsManager())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot read secret missing"):
        cache.get("missing")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["whsec_a", "whsec_b"]', {"default": ["whsec_a", "whsec_b"]}),
        ('{"secrets": ["whsec_a"]}', {"default": ["whsec_a"]}),
        ("whsec_a whsec_b", {"default": ["whsec_a", "whsec_b"]}),
        ("whsec_a,whsec_b", {"default": ["whsec_a", "whsec_b"]}),
        ("[]", {"default": []}),
        ('{"github": "s1", "default": ["whsec_a"]}', {"github": ["s1"], "default": ["whsec_a"]}),
    ],
)
def test_webhook_secret_formats(text: str, expected: dict[str, list[str]]) -> None:
    assert parse_source_secrets(text) == expected


def test_token_formats() -> None:
    assert parse_token(" pat-na1-x \n") == "pat-na1-x"
    assert parse_token('{"token": "pat-na1-y"}') == "pat-na1-y"
    with pytest.raises(ConfigurationError):
        parse_token('{"other": 1}')

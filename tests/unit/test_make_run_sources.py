"""make run's sources and secrets: the worked examples unless WEBHOOK_SOURCES says otherwise, and a secret for
every signed source (the operator's from WEBHOOK_SECRETS, else one generated and printed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hubsync.intake.signing import build_verifier
from hubsync.intake.sources import parse_source_secrets, parse_sources
from hubsync_local import examples
from hubsync_local.stack import StackConfig

EXAMPLES = {"default", "hubspot", "stripe", "github", "erp"}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEBHOOK_SOURCES", "WEBHOOK_SECRETS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def secrets_of(config: StackConfig) -> dict[str, list[str]]:
    assert config.webhook_secret_document
    return parse_source_secrets(config.webhook_secret_document)


def test_without_configuration_make_run_serves_the_examples_each_with_a_usable_secret() -> None:
    config = StackConfig.from_env()
    assert config.example_sources
    sources = parse_sources(config.extra_environment["WEBHOOK_SOURCES"])
    assert set(sources) == EXAMPLES
    assert {name: s.scheme for name, s in sources.items()} == {
        "default": "standard-webhooks",
        "hubspot": "hubspot",
        "stripe": "stripe",
        "github": "hmac-sha256",
        "erp": "standard-webhooks",
    }
    stored = secrets_of(config)
    assert set(config.generated_secrets) == EXAMPLES
    for name, source in sources.items():
        assert stored[name] == [config.generated_secrets[name]]
        # A malformed secret (say a whsec_ that is not base64) is a ConfigurationError here.
        build_verifier(source.scheme, stored[name], options=source.options)
    assert config.webhook_secrets == stored["default"]
    assert len(set(config.generated_secrets.values())) == len(EXAMPLES)
    assert set(examples.SAMPLES) == EXAMPLES and all(path.is_file() for path in examples.SAMPLES.values())


def test_given_secrets_are_kept_and_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    config = StackConfig.from_env()
    assert secrets_of(config)["default"] == ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    assert "default" not in config.generated_secrets and "stripe" in config.generated_secrets
    monkeypatch.setenv("WEBHOOK_SECRETS", json.dumps({"stripe": ["whsec_mine"], "github": "gh-secret"}))
    config = StackConfig.from_env()
    assert (secrets_of(config)["stripe"], secrets_of(config)["github"]) == (["whsec_mine"], ["gh-secret"])
    assert set(config.generated_secrets) == EXAMPLES - {"stripe", "github"}


def test_own_sources_replace_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    own: dict[str, Any] = {
        "partner": {"scheme": "hmac-sha256", "options": {"header": "x-sig"}},
        "open": {"scheme": "none"},
    }
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(own))
    config = StackConfig.from_env()
    assert not config.example_sources
    assert json.loads(config.extra_environment["WEBHOOK_SOURCES"]) == own
    assert set(config.generated_secrets) == {"partner"}  # an unsigned source needs none

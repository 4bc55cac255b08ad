"""build_verifier: the scheme registry, scheme ``none``, and configuration errors common to every scheme."""

from __future__ import annotations

from typing import Any

import pytest

from hubsync.exceptions import ConfigurationError
from hubsync.intake.signing import SCHEMES, build_verifier
from hubsync.intake.signing.types import SignedRequest, Verified

OPTIONS: dict[str, dict[str, Any]] = {"hmac-sha256": {"header": "x-signature"}}


def test_every_scheme_is_registered_and_named_by_its_verifier() -> None:
    assert SCHEMES == ("standard-webhooks", "hubspot", "hmac-sha256", "stripe", "none")
    for scheme in SCHEMES:
        assert build_verifier(scheme, [], options=OPTIONS.get(scheme)).scheme == scheme


def test_an_unknown_scheme_is_a_configuration_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown signature scheme 'github'.*hmac-sha256"):
        build_verifier("github", ["s"])


def test_none_accepts_every_request_and_ignores_secrets() -> None:
    verifier = build_verifier("none", ["ignored"], tolerance_seconds=0)
    anything = SignedRequest("POST", "https://h/", {}, b"not even json")
    assert verifier.verify(anything) == Verified("none", delivery_id=None, signed_at=None)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_unknown_options_are_refused_by_every_scheme(scheme: str) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown option.*typo"):
        build_verifier(scheme, [], options={**OPTIONS.get(scheme, {}), "typo": True})


@pytest.mark.parametrize("scheme", SCHEMES)
def test_options_must_be_a_mapping(scheme: str) -> None:
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        build_verifier(scheme, [], options=["header"])  # type: ignore[arg-type]


@pytest.mark.parametrize("tolerance", [-1, 1.5, True, "300"])
def test_a_bad_tolerance_is_a_configuration_error(tolerance: Any) -> None:
    with pytest.raises(ConfigurationError, match="tolerance_seconds"):
        build_verifier("stripe", ["s"], tolerance_seconds=tolerance)


@pytest.mark.parametrize("scheme", ["standard-webhooks", "hubspot", "hmac-sha256", "stripe"])
def test_secrets_must_be_a_list_of_strings(scheme: str) -> None:
    for secrets in ("whsec_one-string", [b"bytes"], [None]):
        with pytest.raises(ConfigurationError, match="list of strings"):
            build_verifier(scheme, secrets, options=OPTIONS.get(scheme))  # type: ignore[arg-type]

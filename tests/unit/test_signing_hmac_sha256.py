"""Generic HMAC-SHA256 over the body, configured as GitHub's X-Hub-Signature-256 (no official signing library)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.types import SignedRequest, Verifier

GITHUB = {"header": "X-Hub-Signature-256", "prefix": "sha256=", "deliveryIdHeader": "X-GitHub-Delivery"}
SECRET = "It's a Secret to Everybody"
OTHER = "another secret"
BODY = b'{"action":"opened","number":1}'
URL = "https://hooks.example.com/webhooks/github"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def github_signature(secret: str = SECRET, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request(signature: str | None, body: bytes = BODY, **headers: str) -> SignedRequest:
    all_headers = {"x-github-delivery": DELIVERY, **headers}
    if signature is not None:
        all_headers["x-hub-signature-256"] = signature
    return SignedRequest("POST", URL, all_headers, body)


def verifier(*secrets: str, **options: Any) -> Verifier:
    return build_verifier("hmac-sha256", list(secrets), options={**GITHUB, **options})


def test_githubs_documented_example_verifies() -> None:
    # docs.github.com, "Validating webhook deliveries": these test values and this expected header.
    documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verified = verifier(SECRET).verify(request(documented, body=b"Hello, World!"))
    assert (verified.scheme, verified.delivery_id, verified.signed_at) == ("hmac-sha256", DELIVERY, None)


def test_rotation_either_secret_passes() -> None:
    for secret in (SECRET, OTHER):
        assert verifier(OTHER, SECRET).verify(request(github_signature(secret))).delivery_id == DELIVERY


def test_upper_case_hex_passes() -> None:
    signature = "sha256=" + github_signature().removeprefix("sha256=").upper()
    assert verifier(SECRET).verify(request(signature)).scheme == "hmac-sha256"


@pytest.mark.parametrize(
    "tampered",
    [
        request(github_signature(), body=BODY + b"\n"),
        request(github_signature(OTHER)),
        request(github_signature()[:-2]),
        request("sha256=not-hex"),
        request("sha256="),
        request("sha256=" + base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()),
        # One value only: a list (as some senders use for rotation) matches nothing.
        request(github_signature() + "," + github_signature(OTHER)),
        request(github_signature() + " " + github_signature(OTHER)),
    ],
)
def test_tampering_wrong_secret_and_malformed_values_match_nothing(tampered: SignedRequest) -> None:
    with pytest.raises(SignatureError, match="no signature matches any configured secret"):
        verifier(SECRET).verify(tampered)


def test_missing_header_and_missing_prefix_say_what_is_wrong() -> None:
    with pytest.raises(SignatureError, match="missing x-hub-signature-256 header"):
        verifier(SECRET).verify(request(None))
    with pytest.raises(SignatureError, match="does not start with the configured prefix"):
        verifier(SECRET).verify(request(github_signature().removeprefix("sha256=")))
    with pytest.raises(SignatureError, match="does not start with the configured prefix"):
        verifier(SECRET).verify(request("sha1=" + hashlib.sha1(BODY).hexdigest()))


def test_configured_header_names_are_case_insensitive_request_names_arrive_lower_cased() -> None:
    """Options may name headers in any case; the caller lower-cases the request's header names."""
    for header in ("X-HUB-SIGNATURE-256", "x-hub-signature-256"):
        assert verifier(SECRET, header=header).verify(request(github_signature())).scheme == "hmac-sha256"
    mixed = SignedRequest("POST", URL, {"X-Hub-Signature-256": github_signature()}, BODY)
    with pytest.raises(SignatureError, match="missing x-hub-signature-256 header"):
        verifier(SECRET).verify(mixed)


def test_base64_encoding_and_no_prefix() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    options = {"header": "X-Signature", "encoding": "base64"}
    built = build_verifier("hmac-sha256", [SECRET], options=options)
    signed = SignedRequest("POST", URL, {"x-signature": base64.b64encode(digest).decode()}, BODY)
    verified = built.verify(signed)
    assert (verified.scheme, verified.delivery_id) == ("hmac-sha256", None)
    with pytest.raises(SignatureError, match="no signature matches"):
        built.verify(SignedRequest("POST", URL, {"x-signature": digest.hex()}, BODY))


def test_the_delivery_id_is_optional() -> None:
    unsigned_id = SignedRequest("POST", URL, {"x-hub-signature-256": github_signature()}, BODY)
    assert verifier(SECRET).verify(unsigned_id).delivery_id is None
    no_option = build_verifier("hmac-sha256", [SECRET], options={"header": "x-hub-signature-256", "prefix": "sha256="})
    assert no_option.verify(request(github_signature())).delivery_id is None


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({}, "header"),
        ({"header": ""}, "header"),
        ({"header": 1}, "header"),
        ({"header": "x", "encoding": "hexadecimal"}, "encoding"),
        ({"header": "x", "prefix": None, "Prefix": "sha256="}, "Prefix"),
        ({"header": "x", "deliveryIdHeader": ["x-github-delivery"]}, "deliveryIdHeader"),
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        build_verifier("hmac-sha256", [SECRET], options=options)


def test_blank_secret_and_no_secrets() -> None:
    with pytest.raises(ConfigurationError, match="empty") as raised:
        build_verifier("hmac-sha256", [SECRET, ""], options=GITHUB)
    assert SECRET not in raised.value.message
    with pytest.raises(SignatureError, match="no webhook secret"):
        verifier().verify(request(github_signature()))


def test_errors_never_quote_the_secret_or_the_expected_signature() -> None:
    expected = github_signature().removeprefix("sha256=")
    for bad in (request(github_signature(OTHER)), request(github_signature(), body=b"{}")):
        with pytest.raises(SignatureError) as raised:
            verifier(SECRET).verify(bad)
        assert SECRET not in raised.value.message and expected not in raised.value.message

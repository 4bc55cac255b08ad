"""HubSpot v3 (and legacy v1/v2) signatures, cross-checked with HubSpot's official Python client."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from hubspot.utils.signature import Signature  # HubSpot's own client: it signs what it is given, undecoded

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.hubspot import decode_uri, public_uri, sign_v3
from hubsync.intake.signing.types import SignedRequest, Verifier

SECRET = "0a1b2c3d-client-secret"
OTHER = "9f8e7d6c-other-secret"
NOW_MS = 1_764_300_000_123
NOW = NOW_MS / 1000
BODY = b'[{"eventId":1,"subscriptionType":"contact.propertyChange","objectId":42}]'
# As HubSpot calls it: percent-escapes in the query, which v3 partly decodes before signing.
URL = "https://hooks.example.com/webhooks/hubspot?email=a%40b.com&note=%28hi%29%21&path=%2Fx%2fy&space=a%20b"
DECODED = "https://hooks.example.com/webhooks/hubspot?email=a@b.com&note=(hi)!&path=/x/y&space=a%20b"


def official_v3(secret: str = SECRET, uri: str = DECODED, body: bytes = BODY, ts: int = NOW_MS) -> str:
    signature: str = Signature.get_signature(secret, body.decode(), "v3", uri, "POST", str(ts))
    return signature


def official_legacy(version: str, secret: str = SECRET, uri: str = URL, body: bytes = BODY) -> str:
    signature: str = Signature.get_signature(secret, body.decode(), version, uri, "POST")
    return signature


def v3_request(signature: str, ts: int | str = NOW_MS, url: str = URL, body: bytes = BODY) -> SignedRequest:
    headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": str(ts)}
    return SignedRequest("POST", url, headers, body)


def legacy_request(signature: str, version: str, url: str = URL, body: bytes = BODY) -> SignedRequest:
    headers = {"x-hubspot-signature": signature, "x-hubspot-signature-version": version}
    return SignedRequest("POST", url, headers, body)


def verifier(*secrets: str, now: float = NOW, **options: Any) -> Verifier:
    return build_verifier("hubspot", list(secrets), tolerance_seconds=300, options=options, clock=lambda: now)


def test_uri_decoding_follows_hubspots_list_only() -> None:
    assert decode_uri(URL) == DECODED
    assert decode_uri("/p?a=%3a%3A%2f%3f%40%21%24%27%28%29%2a%2c%3b") == "/p?a=::/?@!$'()*,;"
    # Everything else stays encoded, %25 included, and nothing is decoded twice.
    assert decode_uri("/p?a=%20%26%3D%2B%23%25%253A%E2%82%AC") == "/p?a=%20%26%3D%2B%23%25%253A%E2%82%AC"


def test_a_v3_signature_from_the_official_client_verifies() -> None:
    verified = verifier(SECRET).verify(v3_request(official_v3()))
    assert (verified.scheme, verified.delivery_id, verified.signed_at) == ("hubspot", None, NOW)


def test_our_v3_signer_is_accepted_by_the_official_client() -> None:
    now_ms = int(time.time() * 1000)  # is_valid checks the timestamp against the real clock
    signature = sign_v3(SECRET, "POST", URL, BODY, now_ms)
    assert Signature.is_valid(
        signature=signature,
        client_secret=SECRET,
        request_body=BODY.decode(),
        http_uri=DECODED,
        http_method="POST",
        signature_version="v3",
        timestamp=str(now_ms),
    )
    assert verifier(SECRET, now=now_ms / 1000).verify(v3_request(signature, now_ms)).scheme == "hubspot"


def test_a_signature_over_the_undecoded_uri_is_refused() -> None:
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET).verify(v3_request(official_v3(uri=URL)))


def test_rotation_either_client_secret_passes() -> None:
    for secret in (SECRET, OTHER):
        assert verifier(OTHER, SECRET).verify(v3_request(official_v3(secret))).scheme == "hubspot"


@pytest.mark.parametrize(
    "tampered",
    [
        v3_request(official_v3(), body=BODY + b" "),
        v3_request(official_v3(), ts=NOW_MS + 1),
        v3_request(official_v3(), url=URL.replace("hubspot?", "erp?")),
        v3_request(official_v3(), url=URL.replace("hooks.", "evil.")),
        v3_request(official_v3(OTHER)),
        v3_request("!!not base64!!"),
        v3_request(official_v3()[:-4]),
    ],
)
def test_tampering_or_a_wrong_secret_is_refused(tampered: SignedRequest) -> None:
    with pytest.raises(SignatureError, match="no signature matches any configured secret"):
        verifier(SECRET).verify(tampered)


def test_the_method_is_signed() -> None:
    request = v3_request(official_v3())
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET).verify(SignedRequest("PUT", request.url, request.headers, request.body))


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "missing x-hubspot-signature-v3 header"),
        ({"x-hubspot-signature-v3": "abc="}, "missing x-hubspot-request-timestamp header"),
        ({"x-hubspot-signature-v3": "abc=", "x-hubspot-request-timestamp": "soon"}, "integer"),
        ({"x-hubspot-signature-v3": "abc=", "x-hubspot-request-timestamp": "-5"}, "integer"),
        ({"x-hubspot-signature-v3": "abc=", "x-hubspot-request-timestamp": str(NOW_MS - 300_001)}, "too old"),
        ({"x-hubspot-signature-v3": "abc=", "x-hubspot-request-timestamp": str(NOW_MS + 300_001)}, "future"),
        # Seconds where milliseconds are expected look like 1970.
        ({"x-hubspot-signature-v3": "abc=", "x-hubspot-request-timestamp": str(int(NOW))}, "too old"),
        ({"x-hubspot-signature": "ab", "x-hubspot-signature-version": "v2"}, "allowLegacy is off"),
    ],
)
def test_missing_malformed_and_stale_headers_say_what_is_wrong(headers: dict[str, str], fragment: str) -> None:
    with pytest.raises(SignatureError, match=fragment):
        verifier(SECRET).verify(SignedRequest("POST", URL, headers, BODY))


def test_timestamps_at_the_edges_of_the_tolerance_pass() -> None:
    for now in (NOW - 300, NOW + 300):
        assert verifier(SECRET, now=now).verify(v3_request(official_v3())).signed_at == NOW


def test_header_names_must_arrive_lower_cased() -> None:
    """HubSpot sends X-HubSpot-Signature-v3; the caller lower-cases names before verifying."""
    headers = {"X-HubSpot-Signature-v3": official_v3(), "X-HubSpot-Request-Timestamp": str(NOW_MS)}
    with pytest.raises(SignatureError, match="missing x-hubspot-signature-v3"):
        verifier(SECRET).verify(SignedRequest("POST", URL, headers, BODY))
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verifier(SECRET).verify(SignedRequest("POST", URL, lowered, BODY)).scheme == "hubspot"


def test_public_url_replaces_the_scheme_and_host_that_api_gateway_saw() -> None:
    seen_by_lambda = URL.replace("https://hooks.example.com", "https://abc123.execute-api.eu-west-1.amazonaws.com")
    with pytest.raises(SignatureError):
        verifier(SECRET).verify(v3_request(official_v3(), url=seen_by_lambda))
    public = verifier(SECRET, publicUrl="https://hooks.example.com/")
    assert public.verify(v3_request(official_v3(), url=seen_by_lambda)).scheme == "hubspot"


def test_public_uri_keeps_the_path_and_query_byte_for_byte() -> None:
    base = "https://hooks.example.com"
    assert public_uri("http://internal:8080/a/b?x=%2F&y", base) == base + "/a/b?x=%2F&y"
    assert public_uri("https://h/p?", base) == base + "/p?"
    assert public_uri("https://h?q=1", base) == base + "?q=1"
    assert public_uri("https://h", base) == base
    assert public_uri("/path-only?q", base) == base + "/path-only?q"
    assert public_uri("https://h/p", None) == "https://h/p"


@pytest.mark.parametrize(
    "options",
    [
        {"publicUrl": "hooks.example.com"},
        {"publicUrl": "ftp://hooks.example.com"},
        {"publicUrl": "https://hooks.example.com/base"},
        {"publicUrl": "https://hooks.example.com?x=1"},
        {"publicUrl": "https://user@hooks.example.com"},
        {"publicUrl": "https://[::1"},
        {"publicUrl": ""},
        {"publicUrl": 5},
        {"allowLegacy": "true"},
        {"allowlegacy": True},
    ],
)
def test_bad_options_are_configuration_errors_naming_the_option(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        build_verifier("hubspot", [SECRET], options=options)


def test_blank_secret_and_no_secrets() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        build_verifier("hubspot", [SECRET, " "])
    with pytest.raises(SignatureError, match="no webhook secret"):
        verifier().verify(v3_request(official_v3()))


# Legacy v1/v2: no timestamp, only with allowLegacy.


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_legacy_signatures_from_the_official_client_verify_only_with_allow_legacy(version: str) -> None:
    request = legacy_request(official_legacy(version), version)
    with pytest.raises(SignatureError, match="allowLegacy is off"):
        verifier(SECRET).verify(request)
    verified = verifier(OTHER, SECRET, allowLegacy=True).verify(request)
    assert (verified.scheme, verified.delivery_id, verified.signed_at) == ("hubspot", None, None)
    # The hex digest compares as bytes, so either case passes.
    upper = legacy_request(official_legacy(version).upper(), version)
    assert verifier(SECRET, allowLegacy=True).verify(upper).scheme == "hubspot"


def test_legacy_signatures_match_hubspots_documented_formula() -> None:
    assert official_legacy("v1") == hashlib.sha256(SECRET.encode() + BODY).hexdigest()
    assert official_legacy("v2") == hashlib.sha256((SECRET + "POST" + URL).encode() + BODY).hexdigest()


def test_v2_signs_the_uri_exactly_as_called_and_v1_does_not_sign_it() -> None:
    legacy = verifier(SECRET, allowLegacy=True)
    with pytest.raises(SignatureError, match="no signature matches"):
        legacy.verify(legacy_request(official_legacy("v2", uri=DECODED), "v2"))
    with pytest.raises(SignatureError, match="no signature matches"):
        legacy.verify(legacy_request(official_legacy("v2"), "v2", url=URL + "&x=1"))
    assert legacy.verify(legacy_request(official_legacy("v1"), "v1", url=URL + "&x=1")).scheme == "hubspot"


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (legacy_request(official_legacy("v1"), "v1", body=b"[]"), "no signature matches"),
        (legacy_request(official_legacy("v1", secret=OTHER), "v1"), "no signature matches"),
        (legacy_request("zz-not-hex", "v1"), "no signature matches"),
        (legacy_request(official_legacy("v1"), "v3"), "must be v1 or v2"),
        (legacy_request(official_legacy("v1"), ""), "missing x-hubspot-signature-version header"),
        (legacy_request("", "v1"), "missing x-hubspot-signature header"),
    ],
)
def test_legacy_failures(request_: SignedRequest, fragment: str) -> None:
    with pytest.raises(SignatureError, match=fragment):
        verifier(SECRET, allowLegacy=True).verify(request_)


def test_a_failing_v3_never_falls_back_to_a_legacy_signature() -> None:
    headers = {
        "x-hubspot-signature-v3": official_v3(OTHER),
        "x-hubspot-request-timestamp": str(NOW_MS),
        "x-hubspot-signature": official_legacy("v1"),
        "x-hubspot-signature-version": "v1",
    }
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET, allowLegacy=True).verify(SignedRequest("POST", URL, headers, BODY))


def test_errors_never_quote_the_secret_or_the_expected_signature() -> None:
    expected = official_v3()
    for bad in (v3_request(official_v3(OTHER)), v3_request(expected, body=b"[]"), v3_request(expected, ts=0)):
        with pytest.raises(SignatureError) as raised:
            verifier(SECRET).verify(bad)
        assert SECRET not in raised.value.message and expected not in raised.value.message

"""Stripe-Signature headers made and checked by Stripe's own library (stripe-python)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.types import SignedRequest, Verifier

SECRET = "whsec_test_secret_stripe_uses_the_whole_string"
OTHER = "whsec_test_the_rolled_secret"
NOW = 1_764_300_000
BODY = b'{"id":"evt_1","object":"event","type":"customer.updated"}'
URL = "https://hooks.example.com/webhooks/stripe"


def stripe_header(secret: str = SECRET, at: int = NOW, body: bytes = BODY) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=at)
    return header


def v1(secret: str, at: int = NOW, body: bytes = BODY) -> str:
    signature: str = stripe.WebhookSignature._compute_signature(f"{at}.{body.decode()}", secret)
    return signature


def request(header: str | None, body: bytes = BODY, name: str = "stripe-signature") -> SignedRequest:
    return SignedRequest("POST", URL, {} if header is None else {name: header}, body)


def verifier(*secrets: str, now: float = NOW, **options: Any) -> Verifier:
    return build_verifier("stripe", list(secrets), tolerance_seconds=300, options=options, clock=lambda: now)


def test_a_header_from_stripes_library_verifies() -> None:
    verified = verifier(SECRET).verify(request(stripe_header()))
    assert (verified.scheme, verified.delivery_id, verified.signed_at) == ("stripe", None, float(NOW))


def test_headers_we_accept_are_accepted_by_stripes_own_verifier() -> None:
    now = int(time.time())  # Stripe's verifier reads the real clock
    for header in (stripe_header(at=now), f"t={now},v1={v1(OTHER, now)},v1={v1(SECRET, now)},v0=ffff"):
        assert stripe.WebhookSignature.verify_header(BODY, header, SECRET, 300)
        assert verifier(SECRET, now=now).verify(request(header)).scheme == "stripe"


def test_while_a_secret_is_rolled_any_v1_matching_any_secret_passes() -> None:
    rolling = f"t={NOW},v1={v1(OTHER)},v1={v1(SECRET)}"
    for secrets in ((SECRET,), (OTHER,), (SECRET, OTHER), ("whsec_unrelated", SECRET)):
        assert verifier(*secrets).verify(request(rolling)).scheme == "stripe"


def test_the_secret_is_the_whole_string_not_base64_decoded() -> None:
    # A Standard Webhooks receiver would decode the base64 after whsec_; Stripe keys with the text itself.
    assert verifier("whsec_" + "a" * 32).verify(request(stripe_header("whsec_" + "a" * 32))).scheme == "stripe"


@pytest.mark.parametrize(
    "tampered",
    [
        request(stripe_header(), body=BODY + b" "),
        request(stripe_header(OTHER)),
        request(stripe_header().replace(f"t={NOW}", f"t={NOW + 1}")),
        request(f"t={NOW},v1=zz{v1(SECRET)[2:]}"),
        request(f"t={NOW},v1=,v1=é"),
        request(f"t={NOW},v0={v1(SECRET)},v1=00"),  # v0 entries are never checked
    ],
)
def test_tampering_wrong_secret_and_malformed_signatures_match_nothing(tampered: SignedRequest) -> None:
    with pytest.raises(SignatureError, match="no signature matches any configured secret"):
        verifier(SECRET).verify(tampered)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (None, "missing stripe-signature header"),
        ("", "missing stripe-signature header"),
        (f"v1={v1(SECRET)}", "no t= timestamp"),
        (f"t=,v1={v1(SECRET)}", "no t= timestamp"),
        (f"t=soon,v1={v1(SECRET)}", "integer"),
        (f"t={NOW}", "no v1= signature"),
        (f"t={NOW},v0={v1(SECRET)}", "no v1= signature"),
        ("garbage", "no t= timestamp"),
        (stripe_header(at=NOW - 301), "timestamp too old"),
        (stripe_header(at=NOW + 301), "timestamp too far in the future"),
    ],
)
def test_missing_malformed_and_stale_headers_say_what_is_wrong(header: str | None, fragment: str) -> None:
    with pytest.raises(SignatureError, match=fragment):
        verifier(SECRET).verify(request(header))


def test_timestamps_at_the_edges_of_the_tolerance_pass() -> None:
    for now in (NOW - 300, NOW + 300):
        assert verifier(SECRET, now=now).verify(request(stripe_header())).signed_at == NOW


def test_spaces_after_commas_are_tolerated() -> None:
    assert verifier(SECRET).verify(request(f"t={NOW}, v1={v1(SECRET)}")).scheme == "stripe"


def test_the_header_option_and_header_name_case() -> None:
    """Stripe sends Stripe-Signature; the caller lower-cases names, the option may use any case."""
    with pytest.raises(SignatureError, match="missing stripe-signature header"):
        verifier(SECRET).verify(request(stripe_header(), name="Stripe-Signature"))
    relay = verifier(SECRET, header="X-Relayed-Stripe-Signature")
    assert relay.verify(request(stripe_header(), name="x-relayed-stripe-signature")).scheme == "stripe"
    with pytest.raises(SignatureError, match="missing x-relayed-stripe-signature header"):
        relay.verify(request(stripe_header()))


@pytest.mark.parametrize(("options", "name"), [({"header": ""}, "header"), ({"tolerance": 5}, "tolerance")])
def test_bad_options_are_configuration_errors_naming_the_option(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        build_verifier("stripe", [SECRET], options=options)


def test_blank_secret_and_no_secrets() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        build_verifier("stripe", [""])
    with pytest.raises(SignatureError, match="no webhook secret"):
        verifier().verify(request(stripe_header()))


def test_errors_never_quote_the_secret_or_the_expected_signature() -> None:
    expected = v1(SECRET)
    for bad in (request(stripe_header(OTHER)), request(stripe_header(), body=b"{}"), request(f"t={NOW - 999},v1=0")):
        with pytest.raises(SignatureError) as raised:
            verifier(SECRET).verify(bad)
        assert SECRET not in raised.value.message and expected not in raised.value.message

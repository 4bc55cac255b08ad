"""Property: for every signing scheme, a body signed correctly verifies and any change to it does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.exceptions import SignatureError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.hubspot import sign_v3
from hubsync.intake.signing.standard_webhooks import sign
from hubsync.intake.signing.types import SignedRequest, Verifier

NOW = 1_764_300_000
URL = "https://hooks.example.com/webhooks/src?a=%40b"
WHSEC = "whsec_" + base64.b64encode(b"k" * 24).decode()
RAW = "a shared secret"
ED25519 = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
WHPK = "whpk_" + base64.b64encode(ED25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def hmac_hex(body: bytes, prefix: bytes = b"") -> str:
    return hmac.new(RAW.encode(), prefix + body, hashlib.sha256).hexdigest()


# Each case: the verifier and the headers its sender would attach to a body.
Signer = Callable[[bytes], dict[str, str]]
CASES: dict[str, tuple[Verifier, Signer]] = {
    "standard-webhooks v1": (
        build_verifier("standard-webhooks", [WHSEC], clock=lambda: NOW),
        lambda body: {
            "webhook-id": "m",
            "webhook-timestamp": str(NOW),
            "webhook-signature": sign(WHSEC, "m", NOW, body),
        },
    ),
    "standard-webhooks v1a": (
        build_verifier("standard-webhooks", [WHPK], clock=lambda: NOW),
        lambda body: {
            "webhook-id": "m",
            "webhook-timestamp": str(NOW),
            "webhook-signature": "v1a," + base64.b64encode(ED25519.sign(f"m.{NOW}.".encode() + body)).decode(),
        },
    ),
    "hubspot v3": (
        build_verifier("hubspot", [RAW], clock=lambda: NOW),
        lambda body: {
            "x-hubspot-signature-v3": sign_v3(RAW, "POST", URL, body, NOW * 1000),
            "x-hubspot-request-timestamp": str(NOW * 1000),
        },
    ),
    "hubspot v1": (
        build_verifier("hubspot", [RAW], options={"allowLegacy": True}),
        lambda body: {
            "x-hubspot-signature": hashlib.sha256(RAW.encode() + body).hexdigest(),
            "x-hubspot-signature-version": "v1",
        },
    ),
    "hubspot v2": (
        build_verifier("hubspot", [RAW], options={"allowLegacy": True}),
        lambda body: {
            "x-hubspot-signature": hashlib.sha256((RAW + "POST" + URL).encode() + body).hexdigest(),
            "x-hubspot-signature-version": "v2",
        },
    ),
    "hmac-sha256 hex": (
        build_verifier("hmac-sha256", [RAW], options={"header": "x-hub-signature-256", "prefix": "sha256="}),
        lambda body: {"x-hub-signature-256": "sha256=" + hmac_hex(body)},
    ),
    "hmac-sha256 base64": (
        build_verifier("hmac-sha256", [RAW], options={"header": "x-sig", "encoding": "base64"}),
        lambda body: {"x-sig": base64.b64encode(bytes.fromhex(hmac_hex(body))).decode()},
    ),
    "stripe": (
        build_verifier("stripe", [RAW], clock=lambda: NOW),
        lambda body: {"stripe-signature": f"t={NOW},v1={hmac_hex(body, f'{NOW}.'.encode())}"},
    ),
}


@st.composite
def body_and_mutation(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A body and a different body made from it by flipping, inserting, deleting or appending bytes."""
    body = draw(st.binary(max_size=200))
    kinds = ["insert", "append"] + (["flip", "delete", "truncate"] if body else [])
    kind = draw(st.sampled_from(kinds))
    at = draw(st.integers(0, max(len(body) - 1, 0)))
    if kind == "flip":
        mask = draw(st.integers(1, 255))
        changed = body[:at] + bytes([body[at] ^ mask]) + body[at + 1 :]
    elif kind == "insert":
        changed = body[:at] + draw(st.binary(min_size=1, max_size=4)) + body[at:]
    elif kind == "delete":
        changed = body[:at] + body[at + 1 :]
    elif kind == "truncate":
        changed = body[:at]
    else:
        changed = body + draw(st.binary(min_size=1, max_size=4))
    assert changed != body
    return body, changed


@pytest.mark.parametrize("case", list(CASES))
@settings(max_examples=150, deadline=None)
@given(bodies=body_and_mutation())
def test_any_change_to_the_body_breaks_the_signature(case: str, bodies: tuple[bytes, bytes]) -> None:
    verifier, signer = CASES[case]
    body, changed = bodies
    headers = signer(body)
    assert verifier.verify(SignedRequest("POST", URL, headers, body)).scheme == verifier.scheme
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier.verify(SignedRequest("POST", URL, headers, changed))

"""Standard Webhooks: v1 signed by the reference library, v1a by ed25519 keys from ``cryptography``."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook  # the Standard Webhooks library, as senders use it

from hubsync.exceptions import ConfigurationError, SignatureError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.standard_webhooks import StandardWebhooksVerifier, sign
from hubsync.intake.signing.types import SignedRequest, Verified

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 24).decode()
NOW = 1_764_300_000
BODY = b'{"id":"1","properties":{"a":"1"}}'
URL = "https://hooks.example.com/webhooks/erp"
LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"


def private_key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def public_key_of(key: Ed25519PrivateKey) -> str:
    return "whpk_" + base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def v1a(key: Ed25519PrivateKey, msg_id: str = "msg_1", at: int = NOW, body: bytes = BODY) -> str:
    return "v1a," + base64.b64encode(key.sign(f"{msg_id}.{at}.".encode() + body)).decode()


def v1(secret: str = SECRET, msg_id: str = "msg_1", at: int = NOW, body: bytes = BODY) -> str:
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), body.decode())


def request(signature: str, msg_id: str = "msg_1", at: int = NOW, body: bytes = BODY, **extra: str) -> SignedRequest:
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature, **extra}
    return SignedRequest("POST", URL, {k: v for k, v in headers.items() if v is not None}, body)


def verifier(*secrets: str, now: float = NOW) -> StandardWebhooksVerifier:
    return StandardWebhooksVerifier(list(secrets), tolerance_seconds=300, clock=lambda: now)


def test_library_signature_verifies_and_gives_the_webhook_id_and_time() -> None:
    assert verifier(SECRET).verify(request(v1())) == Verified("standard-webhooks", "msg_1", float(NOW))


def test_build_verifier_gives_the_same_verifier() -> None:
    built = build_verifier("standard-webhooks", [SECRET], clock=lambda: NOW)
    assert built.scheme == "standard-webhooks"
    assert built.verify(request(v1())).delivery_id == "msg_1"


def test_our_signer_matches_the_library() -> None:
    assert sign(SECRET, "msg_1", NOW, BODY) == v1()


def test_rotation_any_secret_and_any_entry_passes() -> None:
    for secret in (SECRET, OTHER):
        assert verifier(SECRET, OTHER).verify(request(v1(secret))).delivery_id == "msg_1"
    both = f"v1,bm90LWl0 {v1(OTHER)}"  # the sender signs with old and new secrets during its rotation
    assert verifier(OTHER).verify(request(both)).delivery_id == "msg_1"


def test_v1a_signed_with_ed25519_verifies_with_the_public_key() -> None:
    key = private_key(1)
    assert verifier(public_key_of(key)).verify(request(v1a(key))).delivery_id == "msg_1"


def test_v1a_rotation_and_mixing_with_hmac_secrets() -> None:
    old, new = private_key(1), private_key(2)
    keys = (SECRET, public_key_of(old), public_key_of(new))
    for key in (old, new):
        assert verifier(*keys).verify(request(v1a(key))).scheme == "standard-webhooks"
    assert verifier(*keys).verify(request(v1())).delivery_id == "msg_1"
    # The spec's example header carries both kinds; either may be the one that matches.
    assert verifier(public_key_of(new)).verify(request(f"{v1(OTHER)} {v1a(new)}")).delivery_id == "msg_1"
    assert verifier(SECRET).verify(request(f"{v1a(new)} {v1()}")).delivery_id == "msg_1"


def test_entries_are_only_checked_against_their_own_kind_of_key() -> None:
    key = private_key(1)
    # An ed25519 signature labelled v1 (and an HMAC labelled v1a) matches nothing.
    relabelled = "v1," + v1a(key).partition(",")[2]
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET, public_key_of(key)).verify(request(relabelled))
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET, public_key_of(key)).verify(request("v1a," + v1().partition(",")[2]))
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(SECRET).verify(request(v1a(key)))  # no public key configured


@pytest.mark.parametrize("kind", ["v1", "v1a"])
def test_tampered_body_id_or_timestamp_and_wrong_key_are_refused(kind: str) -> None:
    key = private_key(1)
    good = verifier(SECRET, public_key_of(key))
    signature = v1() if kind == "v1" else v1a(key)
    for tampered in (
        request(signature, body=BODY + b" "),
        request(signature, msg_id="msg_2"),
        request(signature, at=NOW + 1),
    ):
        with pytest.raises(SignatureError, match="no signature matches"):
            good.verify(tampered)
    with pytest.raises(SignatureError, match="no signature matches"):
        verifier(OTHER, public_key_of(private_key(2))).verify(request(signature))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"webhook-signature": ""}, "missing webhook-signature header"),
        ({"webhook-id": ""}, "missing webhook-id header"),
        ({"webhook-timestamp": " "}, "missing webhook-timestamp header"),
        ({"webhook-timestamp": "soon"}, "integer"),
        ({"webhook-timestamp": "+1_764_300_000"}, "integer"),
        ({"webhook-timestamp": "9" * 40}, "integer"),
        ({"webhook-timestamp": str(NOW - 301)}, "timestamp too old"),
        ({"webhook-timestamp": str(NOW + 301)}, "timestamp too far in the future"),
        ({"webhook-signature": "v2,abc"}, "no signature matches"),
        ({"webhook-signature": "v1,!!!"}, "no signature matches"),
        ({"webhook-signature": "v1a,!!!"}, "no signature matches"),
        ({"webhook-signature": "v1a," + base64.b64encode(b"x" * 10).decode()}, "no signature matches"),
        ({"webhook-signature": "v1,é"}, "no signature matches"),
        ({"webhook-signature": "v1"}, "no signature matches"),
        ({"webhook-signature": ","}, "no signature matches"),
    ],
)
def test_bad_headers_are_refused_with_what_is_wrong(change: dict[str, str], fragment: str) -> None:
    key = private_key(1)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": v1(), **change}
    with pytest.raises(SignatureError, match=fragment):
        verifier(SECRET, public_key_of(key)).verify(SignedRequest("POST", URL, headers, BODY))


def test_timestamps_at_the_edges_of_the_tolerance_pass() -> None:
    for now in (NOW - 300, NOW + 300):
        assert verifier(SECRET, now=now).verify(request(v1())).signed_at == NOW


def test_header_names_must_arrive_lower_cased() -> None:
    """The caller lower-cases header names (API Gateway HTTP APIs do); verifiers look up lower-case names only."""
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(NOW), "Webhook-Signature": v1()}
    with pytest.raises(SignatureError, match="missing webhook-id header"):
        verifier(SECRET).verify(SignedRequest("POST", URL, headers, BODY))
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verifier(SECRET).verify(SignedRequest("POST", URL, lowered, BODY)).delivery_id == "msg_1"


def test_no_secrets_refuses_everything() -> None:
    with pytest.raises(SignatureError, match="no webhook secret"):
        verifier().verify(request(v1()))


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("whsec_not base64!", "not valid base64"),
        ("whsec_", "empty"),
        ("whpk_not base64!", "whpk_"),
        ("whpk_" + base64.b64encode(b"k" * 31).decode(), "32 bytes"),
        ("whpk_" + base64.b64encode(b"k" * 33).decode(), "32 bytes"),
        ("whsk_" + base64.b64encode(b"k" * 32).decode(), "private key"),
    ],
)
def test_malformed_secrets_are_configuration_errors_that_do_not_quote_them(secret: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as raised:
        build_verifier("standard-webhooks", [SECRET, secret])
    key_text = secret.partition("_")[2]
    assert not key_text or key_text not in raised.value.message


def test_a_single_string_is_not_taken_as_a_list_of_characters() -> None:
    with pytest.raises(ConfigurationError, match="list of strings"):
        build_verifier("standard-webhooks", SECRET)


def test_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        build_verifier("standard-webhooks", [SECRET], options={"header": "x"})


def test_errors_never_quote_the_secret_or_the_expected_signature() -> None:
    expected = v1().partition(",")[2]
    for bad in (request(v1(OTHER)), request(v1(), body=b"{}"), request(v1(), at=NOW - 999)):
        with pytest.raises(SignatureError) as raised:
            verifier(SECRET).verify(bad)
        assert SECRET[6:] not in raised.value.message and expected not in raised.value.message


COLD_START = """
import base64, sys
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.standard_webhooks import sign
from hubsync.intake.signing.types import SignedRequest

secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
keys = [secret] + sys.argv[1:]
body = b"{}"
verifier = build_verifier("standard-webhooks", keys, clock=lambda: 1000)
headers = {"webhook-id": "m", "webhook-timestamp": "1000", "webhook-signature": sign(secret, "m", 1000, body)}
assert verifier.verify(SignedRequest("POST", "https://h/", headers, body)).delivery_id == "m"
for scheme, options in [("hubspot", {}), ("stripe", {}), ("hmac-sha256", {"header": "x-sig"}), ("none", {})]:
    build_verifier(scheme, ["s"], options=options)
heavy = ("cryptography", "standardwebhooks", "stripe", "hubspot", "nacl")
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} & set(heavy))))
"""


def loaded_after_cold_start(*extra_keys: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(LAYER)}
    done = subprocess.run(
        [sys.executable, "-c", COLD_START, *extra_keys], capture_output=True, text=True, env=env, check=True, timeout=60
    )
    return done.stdout.strip()


def test_hmac_only_receivers_do_not_import_cryptography_on_a_cold_start() -> None:
    assert loaded_after_cold_start() == ""
    # The same probe does see cryptography once a public key is configured: the test can fail.
    assert loaded_after_cold_start(public_key_of(private_key(1))) == "cryptography"

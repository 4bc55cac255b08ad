from __future__ import annotations

import base64

import pytest
from standardwebhooks import Webhook  # the Standard Webhooks library, as senders use it

from hubsync.exceptions import SignatureError
from hubsync.signatures import StandardWebhooksVerifier, sign

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 24).decode()
NOW = 1_764_300_000
BODY = b'{"id":"1","properties":{"a":"1"}}'


def headers_from_library(secret: str = SECRET, at: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    from datetime import UTC, datetime

    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), BODY.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def verifier(*secrets: str) -> StandardWebhooksVerifier:
    return StandardWebhooksVerifier(list(secrets), tolerance_seconds=300, clock=lambda: NOW)


def test_library_signature_verifies_and_returns_the_webhook_id() -> None:
    assert verifier(SECRET).verify(headers_from_library(), BODY) == "msg_1"


def test_any_of_several_secrets_and_signatures_passes_rotation() -> None:
    headers = headers_from_library(OTHER)
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert verifier(SECRET, OTHER).verify(headers, BODY) == "msg_1"


def test_our_signer_matches_the_library() -> None:
    assert sign(SECRET, "msg_1", NOW, BODY) == headers_from_library()["webhook-signature"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-id": ""}, "missing"),
        ({"webhook-timestamp": "soon"}, "integer"),
        ({"webhook-timestamp": str(NOW - 301)}, "too old"),
        ({"webhook-timestamp": str(NOW + 301)}, "future"),
        ({"webhook-id": "msg_2"}, "no signature matches"),
        ({"webhook-signature": "v2,abc"}, "no signature matches"),
        ({"webhook-signature": "v1,!!!"}, "no signature matches"),
    ],
)
def test_bad_headers_are_refused(change: dict[str, str], fragment: str) -> None:
    headers = {**headers_from_library(), **change}
    with pytest.raises(SignatureError, match=fragment):
        verifier(SECRET).verify(headers, BODY)


def test_tampered_body_or_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError):
        verifier(SECRET).verify(headers_from_library(), BODY + b" ")
    with pytest.raises(SignatureError):
        verifier(OTHER).verify(headers_from_library(), BODY)


def test_no_secrets_refuses_everything_and_errors_never_quote_a_secret() -> None:
    with pytest.raises(SignatureError, match="no webhook secret"):
        verifier().verify(headers_from_library(), BODY)
    with pytest.raises(SignatureError) as raised:
        StandardWebhooksVerifier(["whsec_not base64!"])
    assert "not base64" not in raised.value.message

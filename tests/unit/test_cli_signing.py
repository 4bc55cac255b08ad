"""``hubsync send --source``: each source's delivery signed as its sender signs it.

Each signature is checked by the sender's own library where one exists (Stripe's, Standard Webhooks',
HubSpot's official client) or by the documented algorithm written out here (GitHub's X-Hub-Signature-256),
and by hubsync's verifier for that scheme, so a send that the receiver would refuse fails here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
import stripe
from hubspot.utils.signature import Signature
from standardwebhooks import Webhook

from hubsync.exceptions import ConfigurationError
from hubsync.intake.signing import build_verifier
from hubsync.intake.signing.types import SignedRequest
from hubsync.intake.sources import Source
from hubsync_cli import webhooks
from hubsync_cli.main import main as hubsync

BODY = b'{"id": "evt_1", "type": "customer.updated"}'
SOURCES = {
    "default": {"scheme": "standard-webhooks"},
    "hubspot": {"scheme": "hubspot"},
    "behind-domain": {"scheme": "hubspot", "options": {"publicUrl": "https://hooks.example.com"}},
    "github": {
        "scheme": "hmac-sha256",
        "options": {"header": "X-Hub-Signature-256", "prefix": "sha256=", "deliveryIdHeader": "X-GitHub-Delivery"},
    },
    "b64": {"scheme": "hmac-sha256", "options": {"header": "x-signature", "encoding": "base64"}},
    "stripe": {"scheme": "stripe"},
}
SECRETS = {
    "default": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "hubspot": "2f9c7a1e-5b3d-4e8f-a6c2-9d1b0e7f3a54",
    "behind-domain": "client-secret-behind-a-domain",
    "github": "It's a Secret to Everybody",
    "b64": "shared-secret",
    "stripe": "whsec_test_secret_stripe_uses_the_whole_string",
}


def source(name: str) -> Source:
    return webhooks.pick(webhooks.parse_sources(json.dumps(SOURCES)), name)


def headers_for(name: str, url: str = "http://127.0.0.1:3000/webhooks/x", body: bytes = BODY) -> dict[str, str]:
    return webhooks.signed_headers(source(name), SECRETS[name], url, body)


def hubsync_accepts(name: str, url: str, headers: dict[str, str], body: bytes = BODY) -> bool:
    configured = source(name)
    verifier = build_verifier(configured.scheme, [SECRETS[name]], options=configured.options)
    verifier.verify(SignedRequest("POST", url, headers, body))  # raises SignatureError when refused
    return True


def test_standard_webhooks_verifies_with_the_standard_webhooks_library() -> None:
    headers = headers_for("default")
    payload: Any = Webhook(SECRETS["default"]).verify(BODY.decode(), headers)
    assert payload == json.loads(BODY)
    assert hubsync_accepts("default", "http://127.0.0.1:3000/webhooks", headers)


def test_stripe_verifies_with_stripes_library() -> None:
    headers = headers_for("stripe")
    assert stripe.WebhookSignature.verify_header(BODY.decode(), headers["stripe-signature"], SECRETS["stripe"], 300)
    assert hubsync_accepts("stripe", "http://127.0.0.1:3000/webhooks/stripe", headers)


def test_hubspot_v3_verifies_with_hubspots_official_client() -> None:
    url = "http://127.0.0.1:3000/webhooks/hubspot"
    headers = headers_for("hubspot", url)
    assert Signature.is_valid(
        headers["x-hubspot-signature-v3"],
        SECRETS["hubspot"],
        BODY.decode(),
        http_uri=url,  # nothing in it to decode
        http_method="POST",
        signature_version="v3",
        timestamp=headers["x-hubspot-request-timestamp"],
    )
    assert abs(int(headers["x-hubspot-request-timestamp"]) - time.time() * 1000) < 60_000  # milliseconds
    assert hubsync_accepts("hubspot", url, headers)


def test_hubspot_behind_a_custom_domain_signs_the_public_url() -> None:
    local = "http://127.0.0.1:3000/webhooks/behind-domain?portal=33"
    headers = headers_for("behind-domain", local)
    public = "https://hooks.example.com/webhooks/behind-domain?portal=33"
    assert Signature.is_valid(
        headers["x-hubspot-signature-v3"],
        SECRETS["behind-domain"],
        BODY.decode(),
        http_uri=public,
        signature_version="v3",
        timestamp=headers["x-hubspot-request-timestamp"],
    )
    assert hubsync_accepts("behind-domain", local, headers)


def test_github_signature_is_the_documented_hmac_and_carries_a_delivery_id() -> None:
    headers = headers_for("github")
    # GitHub's docs: "sha256=" + hex HMAC-SHA256 of the payload keyed by the webhook secret.
    expected = "sha256=" + hmac.new(SECRETS["github"].encode(), BODY, hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == expected
    assert len(headers["x-github-delivery"]) == 36
    assert headers_for("github")["x-github-delivery"] != headers["x-github-delivery"]
    assert hubsync_accepts("github", "http://127.0.0.1:3000/webhooks/github", headers)


def test_base64_hmac_sources_are_signed_in_base64() -> None:
    headers = headers_for("b64")
    assert headers["x-signature"].endswith("=") and hubsync_accepts("b64", "http://x/webhooks/b64", headers)


def test_a_changed_body_no_longer_verifies() -> None:
    headers = headers_for("stripe")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header('{"id": "evt_2"}', headers["stripe-signature"], SECRETS["stripe"], 300)


def test_urls_secrets_and_sources_come_from_the_documented_places(tmp_path: Path) -> None:
    assert webhooks.url_for("default") == "http://127.0.0.1:3000/webhooks"
    assert webhooks.url_for("erp", "http://127.0.0.1:9/webhooks/") == "http://127.0.0.1:9/webhooks/erp"
    environ = {"WEBHOOK_SECRETS": json.dumps({"stripe": ["whsec_a", "whsec_b"]})}
    assert webhooks.secret_for("stripe", None, environ) == "whsec_a"
    assert webhooks.secret_for("stripe", "given", environ) == "given"
    assert webhooks.secret_for("default", None, {"WEBHOOK_SECRETS": "whsec_x, whsec_y"}) == "whsec_x"
    with pytest.raises(ConfigurationError, match="no secret for source 'github'"):
        webhooks.secret_for("github", None, environ)
    path = tmp_path / "sources.json"
    path.write_text(json.dumps({"erp": {"scheme": "standard-webhooks"}}))
    assert set(webhooks.load_sources(str(path), {"WEBHOOK_SOURCES": json.dumps(SOURCES)})) == {"erp"}
    assert set(webhooks.load_sources(None, {"WEBHOOK_SOURCES": json.dumps(SOURCES)})) == set(SOURCES)
    assert set(webhooks.load_sources(None, {})) == {"default"}
    with pytest.raises(ConfigurationError, match="no source 'nope'"):
        webhooks.pick(webhooks.load_sources(str(path)), "nope")


def test_send_refuses_clearly_without_a_secret_or_source(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("WEBHOOK_SECRETS", raising=False)
    monkeypatch.setenv("WEBHOOK_SOURCES", json.dumps(SOURCES))
    body = tmp_path / "body.json"
    body.write_bytes(BODY)
    assert hubsync(["send", "--source", "stripe", str(body)]) == 2
    assert "no secret for source 'stripe'" in capsys.readouterr().err
    assert hubsync(["send", "--source", "nope", "--secret", "x", str(body)]) == 2
    assert "no source 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        hubsync(["send", "--source", "stripe", "--secret", "x", "--header", "no-colon", str(body)])

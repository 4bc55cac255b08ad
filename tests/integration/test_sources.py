"""Several sources on one deployment, each with its own scheme and secrets, through the local gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from hubspot.utils.signature import Signature

from hubsync.config import Settings
from hubsync.factory import SourceVerifiers, build_receiver
from hubsync.intake.receiver import Receiver, request_from_api_gateway
from hubsync.intake.signing.hubspot import sign_v3
from hubsync.intake.sources import parse_sources
from hubsync.secrets import SecretCache
from hubsync.sqs import QueueSender
from hubsync_local.gateway import to_http_api_event
from support.aws import Queues, receive_all

DEFAULT_SECRET = "whsec_" + base64.b64encode(b"default-source-secret-00").decode()
GITHUB_SECRET = "It's a Secret to Everybody"
HUBSPOT_SECRET = "hubspot-app-client-secret"
SOURCES = json.dumps(
    {
        "default": {"scheme": "standard-webhooks"},
        "github": {
            "scheme": "hmac-sha256",
            "options": {"header": "x-hub-signature-256", "prefix": "sha256=", "deliveryIdHeader": "x-github-delivery"},
        },
        "hubspot": {"scheme": "hubspot", "objectType": "contacts"},
    }
)
SECRETS = json.dumps({"default": [DEFAULT_SECRET], "github": [GITHUB_SECRET], "hubspot": [HUBSPOT_SECRET]})
BODY = b'[{"id": "501", "properties": {"email": "a@example.com"}}]'


def make_receiver(sqs: Any, queues: Queues) -> Receiver:
    settings = Settings(webhook_secrets=SECRETS, webhook_sources=SOURCES)
    return Receiver(
        parse_sources(SOURCES),
        SourceVerifiers(settings, SecretCache()),
        QueueSender(sqs, queues.queue_url),
        QueueSender(sqs, queues.dlq_url),
        default_object_type="partner_services",
    )


def github_request(path: str, body: bytes = BODY) -> dict[str, Any]:
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    return gateway_event(path, headers, body)


def gateway_event(path: str, headers: dict[str, str], body: bytes, query: str = "", prefix: str = "") -> dict[str, Any]:
    """The event API Gateway hands the receiver for ``path`` (its route and path parameter), called at
    ``prefix + path`` (a custom domain's API mapping key)."""
    source = path.removeprefix("/webhooks").strip("/")
    route, parameters = ("POST /webhooks/{source}", {"source": source}) if source else ("POST /webhooks", {})
    return to_http_api_event("POST", prefix + path, query, headers, body, route, parameters)


def test_each_source_takes_only_its_own_scheme_and_secret(sqs_client: Any, queues: Queues) -> None:
    service = make_receiver(sqs_client, queues)
    assert service.handle(request_from_api_gateway(github_request("/webhooks/github"))).status == 202
    # The same request at another source's path is not authentic there.
    assert service.handle(request_from_api_gateway(github_request("/webhooks"))).status == 401
    assert service.handle(request_from_api_gateway(github_request("/webhooks/hubspot"))).status == 401
    [queued] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert queued["source"] == "github" and queued["webhookId"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_routing_follows_the_apis_route_not_the_raw_path_behind_a_custom_domain(
    sqs_client: Any, queues: Queues
) -> None:
    # A custom domain with API mapping key "hooks": rawPath is /hooks/webhooks/github, the route the same.
    service = make_receiver(sqs_client, queues)
    event = github_request("/webhooks/github")
    routed = gateway_event("/webhooks/github", {}, BODY, prefix="/hooks")
    event["rawPath"], event["requestContext"]["http"]["path"] = (
        routed["rawPath"],
        routed["requestContext"]["http"]["path"],
    )
    assert event["rawPath"] == "/hooks/webhooks/github"
    assert service.handle(request_from_api_gateway(event)).status == 202
    [queued] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert queued["source"] == "github"


def test_hubspot_v3_over_the_url_as_called_and_the_source_object_type(sqs_client: Any, queues: Queues) -> None:
    query = "portal=1&redirect=https%3A%2F%2Fx.example%2Fa"
    url = f"https://hooks.example.com/webhooks/hubspot?{query}"
    timestamp = str(int(time.time() * 1000))
    signature = sign_v3(HUBSPOT_SECRET, "POST", url, BODY, int(timestamp))
    # HubSpot's own client agrees this is a valid v3 signature for that URL (it does not decode: we pass it decoded).
    decoded = url.replace("%3A", ":").replace("%2F", "/")
    assert Signature.is_valid(
        signature=signature,
        client_secret=HUBSPOT_SECRET,
        request_body=BODY.decode(),
        http_uri=decoded,
        http_method="POST",
        signature_version="v3",
        timestamp=timestamp,
    )
    headers = {
        "Content-Type": "application/json",
        "Host": "hooks.example.com",
        "X-Forwarded-Proto": "https",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": timestamp,
    }
    event = gateway_event("/webhooks/hubspot", headers, BODY, query)
    response = make_receiver(sqs_client, queues).handle(request_from_api_gateway(event))
    assert response.status == 202, response.body
    [queued] = [json.loads(m["Body"]) for m in receive_all(sqs_client, queues.queue_url)]
    assert queued["objectType"] == "contacts" and queued["source"] == "hubspot"


def test_unsigned_sources_are_warned_about_at_start(
    queues: Queues, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="hubsync")
    settings = Settings(
        queue_url=queues.queue_url,
        dlq_url=queues.dlq_url,
        webhook_secrets="[]",
        webhook_sources=json.dumps({"default": {"scheme": "standard-webhooks"}, "lab": {"scheme": "none"}}),
    )
    build_receiver(settings)
    assert "'lab' accepts UNSIGNED requests" in caplog.text

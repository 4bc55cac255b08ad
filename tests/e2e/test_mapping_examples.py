"""The worked mappings end to end: each example sender's sample body, signed as that sender signs it, through
the local stack (HTTP webhook -> receiver's mapping -> SQS -> updater -> the HubSpot simulator), read back
with HubSpot's official client.

Signatures are made by the senders' own libraries where they exist (Stripe's ``stripe``, ``standardwebhooks``;
HubSpot's v3 by HubSpot's official client's ``Signature``) and for GitHub by its documented algorithm written
out here; none by hubsync. The expected HubSpot state is written out by hand from the sample bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import stripe
from hubspot import HubSpot
from hubspot.utils.signature import Signature
from standardwebhooks import Webhook

from hubsync_cli.main import main as hubsync
from hubsync_local import examples
from hubsync_local.aws import MotoServer
from hubsync_local.stack import DEFAULT_SIMULATOR_TOKEN, LocalStack
from support.stack import stack_config, wait_for

pytestmark = pytest.mark.e2e
SECRETS = {
    "default": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "hubspot": "7d1f6a2c-3b4e-4c5d-9e8f-0a1b2c3d4e5f",
    "stripe": "whsec_e2e_0123456789abcdef0123456789abcdef",
    "github": "It's a Secret to Everybody",
    "erp": "whsec_" + "ZXJwLWUyZS1zZWNyZXQtMzItYnl0ZXMtbG9uZyEh",
}
ACCEPTED = {"hubspot": 3, "stripe": 1, "github": 1, "erp": 2}  # hubspot: the contact.creation is ignored


@pytest.fixture
def stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    config = stack_config(
        moto_server.url,
        "map",
        webhook_secret_document=json.dumps({name: [secret] for name, secret in SECRETS.items()}),
        extra_environment={"WEBHOOK_SOURCES": examples.sources_text()},
        visibility_timeout=60,  # longer than the window, as AWS requires of an SQS event source
        window_seconds=1,
        start_poller=False,
    )
    with LocalStack(config) as local:
        yield local


def sample(name: str) -> bytes:
    return examples.SAMPLES[name].read_bytes()


def hubspot_headers(url: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    # The official client does not decode the URI (HubSpot's rule); this one has nothing to decode.
    signature = Signature.get_signature(SECRETS["hubspot"], body.decode(), "v3", url, "POST", timestamp)
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def stripe_headers(url: str, body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(body.decode(), SECRETS["stripe"])}


def github_headers(url: str, body: bytes) -> dict[str, str]:
    # GitHub's documentation: "sha256=" + hex HMAC-SHA256 of the payload, keyed by the webhook secret.
    digest = hmac.new(SECRETS["github"].encode(), body, hashlib.sha256).hexdigest()
    delivery = str(uuid.uuid4())
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery, "X-GitHub-Event": "issues"}


def erp_headers(url: str, body: bytes) -> dict[str, str]:
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    signature = Webhook(SECRETS["erp"]).sign(msg_id, now, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}


SIGNERS = {"hubspot": hubspot_headers, "stripe": stripe_headers, "github": github_headers, "erp": erp_headers}


def deliver(stack: LocalStack, name: str, body: bytes) -> requests.Response:
    url = f"{stack.webhook_url}/{name}"
    headers = {"Content-Type": "application/json", **SIGNERS[name](url, body)}
    return requests.post(url, data=body, headers=headers, timeout=30)


def drained(stack: LocalStack) -> bool:
    assert stack.poller
    depths = stack.queue_depths()
    return depths["queue"] == 0 and depths["queue_in_flight"] == 0 and not stack.poller.busy.is_set()


def read(client: HubSpot, object_type: str, record_id: str, *names: str) -> dict[str, Any]:
    found = client.crm.objects.basic_api.get_by_id(object_type, record_id, properties=list(names))
    return {name: found.properties.get(name) for name in names}


def expected_state() -> dict[tuple[str, str], dict[str, str]]:
    """From the sample bodies, by hand."""
    return {
        ("contacts", "502"): {"lifecyclestage": "opportunity"},
        ("contacts", "503"): {"phone": "+44 20 7946 0958", "firstname": "Alan Mathison", "lastname": "Turing"},
        ("contacts", "501"): {"email": "ada.lovelace@example.com", "phone": "+44 20 7946 0000"},
        ("partner_services", "1005"): {
            "property_string": "Data migration stuck at 80 %",
            "property_checkbox": "false",
            "property_number": "4",
            "my_unique_property_name": "ps-1005",
        },
        ("partner_services", "1007"): {
            "property_string": "In delivery",
            "property_number": "12.5",
            "property_checkbox": "true",
            "property_dropdown": "option_b",
        },
        ("partner_services", "1008"): {
            "property_string": "Waiting for parts",
            "property_number": "3",
            "property_checkbox": "false",
            "property_dropdown": "option_c",
        },
    }


def test_each_example_sender_reaches_hubspot_as_mapped(stack: LocalStack) -> None:
    assert stack.simulator and stack.poller and stack.resources
    answers = {name: deliver(stack, name, sample(name)) for name in SIGNERS}
    for name, answer in answers.items():
        assert answer.status_code == 202, (name, answer.text)
        assert answer.json() == {"accepted": ACCEPTED[name], "rejected": []}, name
    # HubSpot retries a delivery with attemptNumber counted up and no delivery id: recognised, queued once.
    retry = json.loads(sample("hubspot"))
    for item in retry:
        item["attemptNumber"] = 1
    again = deliver(stack, "hubspot", json.dumps(retry).encode())
    assert (again.status_code, again.json()) == (202, answers["hubspot"].json())
    # Stripe sends the same event again: its id (idempotencyKey body:id) names it.
    assert deliver(stack, "stripe", sample("stripe")).json() == answers["stripe"].json()
    assert stack.queue_depths()["queue"] == sum(ACCEPTED.values())
    assert stack.queue_depths()["dlq"] == 0

    stack.poller.start()
    wait_for(lambda: drained(stack), "the updater to drain the queue")
    client = HubSpot(access_token=DEFAULT_SIMULATOR_TOKEN, host=stack.simulator.url)
    for (object_type, record_id), properties in expected_state().items():
        assert read(client, object_type, record_id, *properties) == properties, (object_type, record_id)
    assert stack.queue_depths()["dlq"] == 0
    # The two property changes of contact 503 were merged into one input of one contacts request.
    contact_calls = [c for c in stack.simulator.calls if c.path.endswith("/contacts/batch/update")]
    assert [c.inputs for c in contact_calls] == [3]


def test_a_leaked_secret_writes_only_what_its_source_may(stack: LocalStack) -> None:
    assert stack.simulator
    delivery = json.loads(sample("hubspot"))
    delivery[0] = {**delivery[0], "propertyName": "email", "propertyValue": "attacker@example.com"}
    answer = deliver(stack, "hubspot", json.dumps(delivery).encode())
    assert answer.status_code == 202 and answer.json()["accepted"] == 2
    assert [r["index"] for r in answer.json()["rejected"]] == [0]
    assert "email" in answer.json()["rejected"][0]["error"]
    assert stack.queue_depths()["dlq"] == 1


def test_hubsync_send_signs_each_source_as_the_receiver_expects(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS", json.dumps(SECRETS))
    for name in SIGNERS:
        argv = ["send", "--source", name, "--sources", str(examples.SOURCES_FILE)]
        argv += ["--url", f"{stack.webhook_url}/{name}", str(examples.SAMPLES[name])]
        assert hubsync(argv) == 0, capsys.readouterr()
        status, _, text = answer_line(capsys.readouterr().out).partition(" ")
        assert status == "202" and json.loads(text)["accepted"] == ACCEPTED[name], (name, text)
    # A wrong secret is refused: the receiver really checks what send signed.
    argv = ["send", "--source", "erp", "--sources", str(examples.SOURCES_FILE), "--secret", SECRETS["default"]]
    assert hubsync([*argv, "--url", f"{stack.webhook_url}/erp", str(examples.SAMPLES["erp"])]) == 1
    assert answer_line(capsys.readouterr().out).startswith("401 ")


def answer_line(out: str) -> str:
    """send's own line (status and answer); the in-process handlers print their metrics to stdout too."""
    return next(line for line in out.splitlines() if line[:3].isdigit() and line[3:4] == " ")

"""The worked mappings ``make run`` serves by default: the sources of events/webhook-sources.json, a sample
body for each (docs/mappings.md), and a signing secret per source for those the operator gave none."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path

from hubsync.intake.sources import Source
from hubsync_local.template import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
SOURCES_FILE = EVENTS_DIR / "webhook-sources.json"
# Each example source's sample body, and the headers its sender adds that are not part of the signature.
SAMPLES: dict[str, Path] = {
    "default": EVENTS_DIR / "webhook-body.json",
    "hubspot": EVENTS_DIR / "hubspot-crm-delivery.json",
    "stripe": EVENTS_DIR / "stripe-customer-updated.json",
    "github": EVENTS_DIR / "github-issues-edited.json",
    "erp": EVENTS_DIR / "erp-changeset.json",
}
SENDER_HEADERS: dict[str, dict[str, str]] = {"github": {"X-GitHub-Event": "issues"}}


def sources_text() -> str:
    """The examples' WEBHOOK_SOURCES, compact (one line, as an environment variable holds it)."""
    return json.dumps(json.loads(SOURCES_FILE.read_text(encoding="utf-8")), separators=(",", ":"))


def new_secret(scheme: str) -> str:
    """A fresh secret in the form the scheme's senders issue (Stripe's and Standard Webhooks' whsec_, a
    HubSpot app's client secret, a GitHub-style random hex string)."""
    if scheme == "standard-webhooks":
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    if scheme == "stripe":
        return "whsec_" + secrets.token_hex(16)
    if scheme == "hubspot":
        return str(uuid.uuid4())
    return secrets.token_hex(20)


def fill_secrets(
    sources: Mapping[str, Source], given: Mapping[str, list[str]]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every source's secrets: those ``given``, and one generated for each signed source without any.

    Returns (all secrets per source, the generated ones): only generated secrets are printed."""
    everything = {name: list(values) for name, values in given.items() if values}
    generated: dict[str, str] = {}
    for name, source in sources.items():
        if source.scheme != "none" and not everything.get(name):
            generated[name] = new_secret(source.scheme)
            everything[name] = [generated[name]]
    return everything, generated

"""``hubsync send`` and ``hubsync transform``: a source's deliveries, signed as its sender signs them, and
what a body becomes under the source's mapping (offline).

Sources come from ``--sources FILE`` or ``WEBHOOK_SOURCES`` (the deployed variable); secrets from
``--secret`` or ``WEBHOOK_SECRETS`` (a list for the ``default`` source, or ``{"<source>": [...]}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubsync.exceptions import ConfigurationError
from hubsync.intake.sources import DEFAULT_SOURCE, Source, parse_source_secrets, parse_sources

LOCAL_WEBHOOK_URL = "http://127.0.0.1:3000/webhooks"


def load_sources(path: str | None = None, environ: Mapping[str, str] = os.environ) -> dict[str, Source]:
    """The sources of ``path`` (a WEBHOOK_SOURCES document), else of ``WEBHOOK_SOURCES``, else ``default`` alone."""
    text = Path(path).read_text(encoding="utf-8") if path else environ.get("WEBHOOK_SOURCES")
    return parse_sources(text)


def pick(sources: Mapping[str, Source], name: str) -> Source:
    source = sources.get(name)
    if source is None:
        known = ", ".join(sorted(sources))
        raise ConfigurationError(f"no source {name!r} is configured (known: {known}); give --sources FILE?")
    return source


def secret_for(source: str, explicit: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """``explicit``, else the first of the source's secrets in ``WEBHOOK_SECRETS``; ConfigurationError if none."""
    if explicit:
        return explicit
    given = parse_source_secrets(environ.get("WEBHOOK_SECRETS", ""))
    found = given.get(source) or []
    if not found:
        raise ConfigurationError(f"no secret for source {source!r}: give --secret or set WEBHOOK_SECRETS")
    return found[0]


def url_for(source: str, base: str = LOCAL_WEBHOOK_URL) -> str:
    """The route of ``source``: ``/webhooks`` for ``default``, ``/webhooks/<source>`` for the others."""
    return base if source == DEFAULT_SOURCE else f"{base.rstrip('/')}/{source}"


def _standard_webhooks(source: Source, secret: str, url: str, body: bytes, now: float) -> dict[str, str]:
    from hubsync.intake.signing.standard_webhooks import sign

    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def _hubspot(source: Source, secret: str, url: str, body: bytes, now: float) -> dict[str, str]:
    from hubsync.intake.signing.hubspot import V3_SIGNATURE, V3_TIMESTAMP, public_uri, sign_v3

    # Behind a custom domain (option publicUrl) HubSpot called, and signed, the public URL.
    signed_url = public_uri(url, source.options.get("publicUrl"))
    timestamp_ms = int(now * 1000)
    return {V3_SIGNATURE: sign_v3(secret, "POST", signed_url, body, timestamp_ms), V3_TIMESTAMP: str(timestamp_ms)}


def _hmac_sha256(source: Source, secret: str, url: str, body: bytes, now: float) -> dict[str, str]:
    options = source.options
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    encoded = base64.b64encode(digest).decode() if options.get("encoding") == "base64" else digest.hex()
    headers = {str(options["header"]).lower(): str(options.get("prefix", "")) + encoded}
    if options.get("deliveryIdHeader"):
        headers[str(options["deliveryIdHeader"]).lower()] = str(uuid.uuid4())  # GitHub's ids are GUIDs
    return headers


def _stripe(source: Source, secret: str, url: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = int(now)
    signed = f"{timestamp}.".encode() + body
    signature = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    header = str(source.options.get("header", "stripe-signature")).lower()
    return {header: f"t={timestamp},v1={signature}"}


def _unsigned(source: Source, secret: str, url: str, body: bytes, now: float) -> dict[str, str]:
    return {}


_SIGNERS: dict[str, Callable[[Source, str, str, bytes, float], dict[str, str]]] = {
    "standard-webhooks": _standard_webhooks,
    "hubspot": _hubspot,
    "hmac-sha256": _hmac_sha256,
    "stripe": _stripe,
    "none": _unsigned,
}


def signed_headers(source: Source, secret: str, url: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers a delivery of ``body`` to ``url`` carries when its sender signs it with ``secret``."""
    signer = _SIGNERS.get(source.scheme)
    if signer is None:
        raise ConfigurationError(f"cannot sign for scheme {source.scheme!r} of source {source.name!r}")
    signed = signer(source, secret, url, body, time.time() if now is None else now)
    return {"content-type": "application/json", **signed}


def send(
    source: Source, secret: str, url: str, body: bytes, extra_headers: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Posts ``body`` signed for ``source``; the answer's status and text."""
    import requests

    headers = {**signed_headers(source, secret, url, body), **(extra_headers or {})}
    response = requests.post(url, data=body, headers=headers, timeout=30)
    return response.status_code, response.text


def transform(source: Source, body: bytes, *, default_object_type: str, now_ms: int | None = None) -> dict[str, Any]:
    """What ``body`` becomes under the source's mapping, offline: the receiver's own code path, no AWS.

    ``events`` as they would be queued, ``rejected`` as the receiver's 202 lists them, ``unmapped`` (the
    reason) when the whole body could not be mapped, ``refused`` when the receiver would answer 4xx.
    ConfigurationError when the source's transform is not valid."""
    from hubsync.exceptions import BadRequestError
    from hubsync.intake.mapping import preview

    now = int(time.time() * 1000) if now_ms is None else now_ms
    document: dict[str, Any] = {"source": source.name}
    try:
        result = preview(source, body, default_object_type=default_object_type, now_ms=now)
    except BadRequestError as exc:
        refused = {"status": exc.status, "error": exc.code, "message": exc.message}
        document.update(events=[], rejected=[], refused=refused)
        return document
    document.update(events=result.events, rejected=result.rejected)
    if result.unmapped is not None:
        document["unmapped"] = result.unmapped
    return document

"""A corpus of hostile and broken requests, each with its expected answer.

After each request: nothing was queued that should not be, and every event the answer accepted is on
the queue (and every rejected one in the DLQ). The receiver runs against moto's SQS and DynamoDB
(idempotent receipt on), through the local gateway's HTTP API v2.0 conversion.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
from standardwebhooks import Webhook

from hubsync.config import Settings
from hubsync.factory import SourceVerifiers
from hubsync.intake.receipts import DeliveryLedger
from hubsync.intake.receiver import Receiver, request_from_api_gateway
from hubsync.intake.sources import parse_sources
from hubsync.secrets import SecretCache
from hubsync.sqs import QueueSender
from hubsync_local.gateway import to_http_api_event
from hubsync_local.lambda_runtime import LambdaContext
from support.aws import Queues, create_table, receive_all

SECRET = "whsec_" + base64.b64encode(b"corpus-secret-0123456789").decode()
WRONG = "whsec_" + base64.b64encode(b"another-secret-012345678").decode()
OK_EVENT = {"id": "1001", "properties": {"property_string": "ok"}}
MAX_EVENTS = 50


@dataclass
class Case:
    """A request: ``body`` is sent, ``signed_body`` (default: body) is what gets signed."""

    name: str
    body: bytes
    status: int
    queued: int = 0
    dead: int = 0
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    signed_body: bytes | None = None
    secret: str = SECRET
    skew: int = 0
    drop: tuple[str, ...] = ()
    method: str = "POST"
    path: str = "/webhooks"
    content_type: str | None = "application/json"
    tamper: Callable[[dict[str, str]], None] | None = None
    unmapped: bool = False  # the body is kept whole in the DLQ as UNMAPPED (a mapped source's)


def js(document: Any) -> bytes:
    return json.dumps(document).encode()


def event(**fields: Any) -> dict[str, Any]:
    return {**OK_EVENT, **fields}


def props(**properties: Any) -> bytes:
    return js([{"id": "1001", "properties": properties}])


def rejected(name: str, document: Any) -> Case:
    """One invalid event beside a valid one: 202, the valid one queued, the invalid one quarantined."""
    return Case(name, js([OK_EVENT, document]), 202, queued=1, dead=1)


def invalid_json(name: str, body: bytes) -> Case:
    return Case(name, body, 400)


SIGNATURES = [
    Case("no signature headers", js(OK_EVENT), 401, drop=("webhook-id", "webhook-timestamp", "webhook-signature")),
    Case("no webhook-id", js(OK_EVENT), 401, drop=("webhook-id",)),
    Case("no webhook-timestamp", js(OK_EVENT), 401, drop=("webhook-timestamp",)),
    Case("no webhook-signature", js(OK_EVENT), 401, drop=("webhook-signature",)),
    Case("tampered body", js(event(properties={"property_string": "evil"})), 401, signed_body=js(OK_EVENT)),
    Case("trailing newline added after signing", js(OK_EVENT) + b"\n", 401, signed_body=js(OK_EVENT)),
    Case("signed with another secret", js(OK_EVENT), 401, secret=WRONG),
    Case("expired timestamp", js(OK_EVENT), 401, skew=-301),
    Case("future timestamp", js(OK_EVENT), 401, skew=301),
    Case(
        "timestamp in milliseconds",
        js(OK_EVENT),
        401,
        tamper=lambda h: h.update({"webhook-timestamp": h["webhook-timestamp"] + "000"}),
    ),
    Case("timestamp not a number", js(OK_EVENT), 401, tamper=lambda h: h.update({"webhook-timestamp": "now"})),
    Case(
        "unknown signature version",
        js(OK_EVENT),
        401,
        tamper=lambda h: h.update({"webhook-signature": h["webhook-signature"].replace("v1,", "v9,")}),
    ),
    Case("signature not base64", js(OK_EVENT), 401, tamper=lambda h: h.update({"webhook-signature": "v1,@@@@"})),
    Case("empty signature entry", js(OK_EVENT), 401, tamper=lambda h: h.update({"webhook-signature": "v1,"})),
    Case("signature of another webhook-id", js(OK_EVENT), 401, tamper=lambda h: h.update({"webhook-id": "msg_other"})),
    Case(
        "two signature headers joined by the gateway",
        js(OK_EVENT),
        401,
        tamper=lambda h: h.update({"webhook-signature": h["webhook-signature"] + "," + h["webhook-signature"]}),
    ),
    Case("header names upper-case", js(OK_EVENT), 202, queued=1, tamper=lambda h: _recase(h, str.upper)),
    Case("header names mixed-case", js(OK_EVENT), 202, queued=1, tamper=lambda h: _recase(h, str.title)),
    Case(
        "a valid signature among invalid ones",
        js(OK_EVENT),
        202,
        queued=1,
        tamper=lambda h: h.update({"webhook-signature": "v1,AAAA v2,BBBB " + h["webhook-signature"]}),
    ),
]

ENVELOPE = [
    invalid_json("empty body", b""),
    invalid_json("whitespace body", b"  \n\t "),
    invalid_json("truncated JSON", js([OK_EVENT])[:-7]),
    invalid_json("invalid UTF-8", b'[{"id": "1001", "properties": {"p": "\xff\xfe"}}]'),
    invalid_json("UTF-8 byte order mark", b"\xef\xbb\xbf" + js(OK_EVENT)),
    invalid_json("deeply nested arrays (JSON bomb)", b"[" * 30_000 + b"]" * 30_000),
    invalid_json("top-level number", b"42"),
    invalid_json("top-level string", b'"hello"'),
    invalid_json("top-level null", b"null"),
    invalid_json("top-level true", b"true"),
    invalid_json("events is not a list", js({"events": {"id": "1"}})),
    invalid_json("empty array", b"[]"),
    invalid_json("empty events list", js({"events": []})),
    invalid_json("NaN literal", b'[{"id": "1001", "properties": {"p": NaN}}]'),
    invalid_json("Infinity literal", b'[{"id": "1001", "properties": {"p": -Infinity}}]'),
    invalid_json("integer with 5000 digits", b'[{"id": "1001", "properties": {"p": ' + b"9" * 5000 + b"}}]"),
    invalid_json("duplicate keys", b'[{"id": "1001", "id": "1002", "properties": {"p": "x"}}]'),
    invalid_json("duplicate property names", b'[{"id": "1001", "properties": {"p": "x", "p": "y"}}]'),
    invalid_json("trailing garbage", js(OK_EVENT) + b" {}"),
    invalid_json("comments", b'[/* hi */ {"id": "1001", "properties": {"p": "x"}}]'),
    invalid_json("single quotes", b"[{'id': '1001', 'properties': {'p': 'x'}}]"),
    invalid_json("unterminated string", b'[{"id": "1001", "properties": {"p": "x}}]'),
]

FIELDS = [
    rejected("id null", event(id=None)),
    rejected("id boolean", event(id=True)),
    rejected("id object", event(id={"n": 1})),
    rejected("id list", event(id=["1001"])),
    rejected("id float", event(id=1001.5)),
    rejected("id empty", event(id="")),
    rejected("id whitespace", event(id="   ")),
    rejected("id 10 kB long", event(id="x" * 10_000)),
    rejected("properties missing", {"id": "1001"}),
    rejected("properties null", event(properties=None)),
    rejected("properties list", event(properties=[["p", "x"]])),
    rejected("properties string", event(properties="p=x")),
    rejected("properties empty", event(properties={})),
    rejected("property value object", event(properties={"p": {"nested": 1}})),
    rejected("property value nested list", event(properties={"p": [["a"]]})),
    rejected("property value deeply nested", event(properties={"p": json.loads("[" * 60 + "]" * 60)})),
    rejected("property name with a space", event(properties={"bad name": "x"})),
    rejected("property name empty", event(properties={"": "x"})),
    rejected("property name 101 characters", event(properties={"p" * 101: "x"})),
    rejected("property name with zero-width space", event(properties={"p\u200bq": "x"})),
    rejected("idProperty a list", event(idProperty=["email"])),
    rejected("objectType a number", event(objectType=12)),
    rejected("objectType with a slash", event(objectType="../contacts")),
    rejected("occurredAt boolean", event(occurredAt=True)),
    rejected("occurredAt object", event(occurredAt={"t": 1})),
    rejected("occurredAt words", event(occurredAt="yesterday")),
    rejected("occurredAt negative", event(occurredAt=-5)),
    rejected("occurredAt in seconds", event(occurredAt=1_764_000_000)),
    rejected("occurredAt year 3000", event(occurredAt="3000-01-01T00:00:00Z")),
    rejected("eventId object", event(eventId={"id": 1})),
    rejected("an event that is a string", "1001"),
    rejected("an event that is null", None),
    rejected("an event that is a list", [OK_EVENT]),
    Case("many invalid, some valid", js([OK_EVENT, None, event(id=""), event(id="1002"), 7]), 202, queued=2, dead=3),
]

UNICODE = [
    Case(
        "unicode id and values",
        js([event(id="ñandú-東京-🚀", properties={"property_string": "Grüße 👋"})]),
        202,
        queued=1,
    ),
    Case("control characters in a value", js([event(properties={"property_string": "a\u0000b\u001f"})]), 202, queued=1),
    Case("right-to-left text", js([event(properties={"property_string": "\u202eevil"})]), 202, queued=1),
    Case(
        "escaped unpaired surrogate",
        b'[{"id": "1001", "properties": {"p": "x"}}, {"id": "1002", "properties": {"p": "\\ud800"}}]',
        202,
        queued=1,
        dead=1,
    ),
    Case("escaped unpaired surrogate in the id", b'[{"id": "\\udfff", "properties": {"p": "x"}}]', 202, dead=1),
    Case(
        "huge exponent number",
        b'[{"id": "1001", "properties": {"p": 1e999999999}}, {"id": "1002", "properties": {"p": 1}}]',
        202,
        queued=1,
        dead=1,
    ),
    Case("tiny exponent number", b'[{"id": "1001", "properties": {"p": 1e-999999999}}]', 202, dead=1),
]

LIMITS = [
    Case(
        "body over the size limit",
        b'[{"id": "1001", "properties": {"p": "' + b"x" * 70_000 + b'"}}]',
        413,
        code="body_too_large",
    ),
    Case("one event too many", js([event(id=str(n)) for n in range(MAX_EVENTS + 1)]), 413, code="too_many_events"),
    Case("exactly the event limit", js([event(id=str(n)) for n in range(MAX_EVENTS)]), 202, queued=MAX_EVENTS),
    Case("content type text/plain", js(OK_EVENT), 415, content_type="text/plain", code="unsupported_media_type"),
    Case("content type missing", js(OK_EVENT), 415, content_type=None, code="unsupported_media_type"),
    Case("content type form", js(OK_EVENT), 415, content_type="application/x-www-form-urlencoded"),
    Case("content type with charset", js(OK_EVENT), 202, queued=1, content_type="application/json; charset=utf-8"),
    Case("content type +json", js(OK_EVENT), 202, queued=1, content_type="application/cloudevents+json"),
    Case("method GET", js(OK_EVENT), 405, method="GET", code="method_not_allowed"),
    Case("method PUT", js(OK_EVENT), 405, method="PUT"),
    Case("unknown source path", js(OK_EVENT), 404, path="/webhooks/nobody", code="unknown_source"),
    Case("path traversal source", js(OK_EVENT), 404, path="/webhooks/..%2Fdefault"),
]

# Mapped sources (hubsync.intake.mapping), signed as the default source is. "erp" passes its body's "changes" on as
# the result, whatever it is, so each case picks the result's type; it may write property_* and erp_* only.
MAPPED_SOURCES = {
    "default": {},
    "erp": {"transform": "changes", "properties": ["property_*", "erp_*"]},
    "filtered": {"transform": "items[?kind == 'change'].{id: id, properties: {property_string: value}}"},
    "stamped": {"transform": "{id: id, properties: {property_string: value}, occurredAt: seconds_to_ms(created)}"},
    "crm": {"preset": "hubspot-crm"},
}


def erp(changes: Any, **case: Any) -> Case:
    return Case(case.pop("name"), js({"changes": changes}), case.pop("status", 202), path="/webhooks/erp", **case)


def nested(depth: int) -> bytes:
    return b'{"changes": ' + b"[" * depth + b"]" * depth + b"}"


MAPPINGS = [
    erp([OK_EVENT, event(id="1002")], name="mapped: an array of events", queued=2),
    erp(OK_EVENT, name="mapped: one event object", queued=1),
    erp([None, OK_EVENT, None], name="mapped: nulls in the result are skipped", queued=1),
    erp(None, name="mapped: a null result applies nothing"),
    erp([], name="mapped: an empty result applies nothing"),
    erp("text", name="mapped: a string result", dead=1, unmapped=True),
    erp(17, name="mapped: a number result", dead=1, unmapped=True),
    erp(True, name="mapped: a boolean result", dead=1, unmapped=True),
    erp([OK_EVENT, "text"], name="mapped: a string among the events", dead=1, unmapped=True),
    erp([OK_EVENT, [OK_EVENT]], name="mapped: an array among the events", dead=1, unmapped=True),
    erp([event(id=17)], name="mapped: an integer id is an id", queued=1),
    erp([OK_EVENT, event(id=17.5)], name="mapped: a fractional id", queued=1, dead=1),
    erp([OK_EVENT, event(id=True)], name="mapped: a boolean id", queued=1, dead=1),
    erp([OK_EVENT, event(id={"id": "1"})], name="mapped: an object id", queued=1, dead=1),
    erp([OK_EVENT, event(id=None)], name="mapped: a null id", queued=1, dead=1),
    Case(
        "mapped: numbers no float holds",
        b'{"changes": [{"id": "1", "properties": {"property_n": 1e999999999}}, '
        b'{"id": "2", "properties": {"property_n": 1e-999999999}}, {"id": "3", "properties": {"property_n": 2.5}}]}',
        202,
        queued=1,
        dead=2,
        path="/webhooks/erp",
    ),
    erp([OK_EVENT, event(properties={"lifecyclestage": "x"})], name="mapped: a property not allowed", queued=1, dead=1),
    erp([OK_EVENT, event(objectType="contacts")], name="mapped: an object type not allowed", queued=1, dead=1),
    erp([event(properties={"erp_stock": 3, "property_n": 1})], name="mapped: allowed prefixes", queued=1),
    erp([{}] * 10_000, name="mapped: a result of 10,000 events", status=413, code="too_many_events"),
    erp([OK_EVENT] * MAX_EVENTS, name="mapped: a result of exactly the event limit", queued=MAX_EVENTS),
    Case("mapped: a deep body", nested(20_000), 400, code="invalid_json", path="/webhooks/erp"),
    Case("mapped: a deep body JSON can read", nested(500), 202, dead=1, unmapped=True, path="/webhooks/erp"),
    Case(
        "mapped: a huge body",
        js({"changes": [event(properties={"property_string": "x" * 70_000})]}),
        413,
        code="body_too_large",
        path="/webhooks/erp",
    ),
    Case("mapped: not JSON", b"{changes: [", 400, code="invalid_json", path="/webhooks/erp"),
    Case("mapped: not UTF-8", b'{"changes": "\xff"}', 400, code="invalid_encoding", path="/webhooks/erp"),
    Case(
        "mapped: a filter yielding nothing",
        js({"items": [{"kind": "noise", "id": "1"}, {"kind": "other", "id": "2"}]}),
        202,
        path="/webhooks/filtered",
    ),
    Case(
        "mapped: a filter yielding some",
        js({"items": [{"kind": "change", "id": "1", "value": "v"}, {"kind": "other", "id": "2"}]}),
        202,
        queued=1,
        path="/webhooks/filtered",
    ),
    Case(
        "mapped: an expression that cannot evaluate the body",
        js({"id": "1", "value": "v", "created": "yesterday"}),
        202,
        dead=1,
        unmapped=True,
        path="/webhooks/stamped",
    ),
    Case("mapped: a preset given an object", js({"objectId": 1}), 202, dead=1, unmapped=True, path="/webhooks/crm"),
    Case("mapped: a preset given no events", js([]), 202, path="/webhooks/crm"),
]

CORPUS = SIGNATURES + ENVELOPE + FIELDS + UNICODE + LIMITS + MAPPINGS


def _recase(headers: dict[str, str], how: Callable[[str], str]) -> None:
    for name in list(headers):
        headers[how(name)] = headers.pop(name)


def build(case: Case) -> dict[str, Any]:
    signed = case.body if case.signed_body is None else case.signed_body
    msg_id = f"msg_{uuid.uuid4().hex}"
    at = int(time.time()) + case.skew
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": _sign(case.secret, msg_id, at, signed),
        **case.headers,
    }
    if case.content_type:
        headers["content-type"] = case.content_type
    for name in case.drop:
        headers.pop(name, None)
    if case.tamper:
        case.tamper(headers)
    source = case.path.removeprefix("/webhooks").strip("/")
    route = "POST /webhooks/{source}" if source else "POST /webhooks"
    # As API Gateway hands it over: the matched route and its path parameter, URL-decoded.
    parameters = {"source": unquote(source)} if source else {}
    return to_http_api_event(case.method, case.path, "", headers, case.body, route, parameters)


def _sign(secret: str, msg_id: str, at: int, body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # The library signs text; a sender of invalid UTF-8 signs bytes (same algorithm, our signer).
        from hubsync.intake.signing.standard_webhooks import sign

        return sign(secret, msg_id, at, body)
    return str(Webhook(secret).sign(msg_id, _dt(at), text))


def _dt(at: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at, UTC)


@pytest.fixture
def receiver(sqs_client: Any, queues: Queues, aws_env: str) -> Receiver:
    table = create_table(aws_env, "corpus", "id")
    secrets = json.dumps({name: [SECRET] for name in MAPPED_SOURCES})
    return Receiver(
        parse_sources(json.dumps(MAPPED_SOURCES)),
        SourceVerifiers(Settings(webhook_secrets=secrets), SecretCache()),
        QueueSender(sqs_client, queues.queue_url),
        QueueSender(sqs_client, queues.dlq_url),
        default_object_type="partner_services",
        ledger=DeliveryLedger(table),
        max_body_bytes=64 * 1024,
        max_events=MAX_EVENTS,
    )


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 60
    assert {c.status for c in CORPUS} >= {202, 400, 401, 404, 405, 413, 415}
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_request(case: Case, receiver: Receiver, sqs_client: Any, queues: Queues) -> None:
    response = receiver.handle(request_from_api_gateway(build(case)), LambdaContext("receiver", 10))
    answer = json.loads(response.to_api_gateway()["body"])
    assert response.status == case.status, answer
    assert response.status < 500  # never a 5xx for the sender's mistake
    if case.code:
        assert answer["error"] == case.code
    if response.status >= 400:
        assert set(answer) == {"error", "message"} and answer["message"] and "Traceback" not in answer["message"]
    queued = receive_all(sqs_client, queues.queue_url)
    dead = receive_all(sqs_client, queues.dlq_url)
    assert (len(queued), len(dead)) == (case.queued, case.dead)
    if response.status == 202:
        # Everything the answer accepted is on the queue; everything it rejected is in the DLQ, with the reason.
        assert answer["accepted"] == len(queued) and len(answer["rejected"]) == len(dead)
        categories = [json.loads(m["Body"])["error"]["category"] for m in dead]
        assert categories == (["UNMAPPED"] if case.unmapped else ["INVALID_EVENT"] * case.dead)
        if case.unmapped:
            # Kept whole: the body exactly as sent, with its source, for a replay after the mapping is fixed.
            (letter,) = [json.loads(m["Body"]) for m in dead]
            assert letter["event"] == case.body.decode() and letter["source"] == case.path.rsplit("/", 1)[1]
            assert answer["rejected"][0]["error"].startswith("the body could not be mapped")


def test_a_replayed_delivery_is_answered_again_and_queued_once(
    receiver: Receiver, sqs_client: Any, queues: Queues
) -> None:
    request = request_from_api_gateway(build(Case("replay", js([OK_EVENT, event(id="1002")]), 202)))
    first = receiver.handle(request, LambdaContext("receiver", 10))
    replayed = receiver.handle(request, LambdaContext("receiver", 10))
    assert first.status == replayed.status == 202 and first.body == replayed.body
    assert len(receive_all(sqs_client, queues.queue_url)) == 2


def test_an_unevaluable_body_is_kept_as_unmapped_and_replayed_after_the_mapping_is_fixed(
    receiver: Receiver, sqs_client: Any, queues: Queues
) -> None:
    from hubsync.deadletters.replay import Replayer

    body = js({"id": "1001", "value": "v", "created": "1700000000"})  # epoch seconds, but as a string
    request = request_from_api_gateway(build(Case("unmapped", body, 202, path="/webhooks/stamped")))
    response = receiver.handle(request, LambdaContext("receiver", 10))
    assert response.status == 202 and response.body["accepted"] == 0 and len(response.body["rejected"]) == 1

    def replay(transform: str) -> Any:
        sources = parse_sources(json.dumps({**MAPPED_SOURCES, "stamped": {"transform": transform}}))
        replayer = Replayer(sqs_client, queues.dlq_url, queues.queue_url, sources=sources, wait_seconds=0)
        return replayer.run(categories=["UNMAPPED"])

    # The same mapping still cannot map it: it stays in the DLQ, unchanged.
    unfixed = replay(MAPPED_SOURCES["stamped"]["transform"])
    assert (unfixed.matched, unfixed.moved, unfixed.refused) == (1, 0, 1)
    fixed = replay("{id: id, properties: {property_string: value}, occurredAt: seconds_to_ms(to_number(created))}")
    assert (fixed.matched, fixed.moved, fixed.refused, fixed.failed) == (1, 1, 0, 0)
    assert receive_all(sqs_client, queues.dlq_url) == []
    (queued,) = receive_all(sqs_client, queues.queue_url)
    event = json.loads(queued["Body"])
    assert event["occurredAt"] == 1_700_000_000_000 and event["properties"] == {"property_string": "v"}
    assert event["source"] == "stamped" and event["replayCount"] == 1 and event["webhookId"].startswith("msg_")
    # Not the receiver's provenance mark: the updater judges a replayed event in full.
    from hubsync import provenance

    assert provenance.ATTRIBUTE not in queued.get("MessageAttributes", {})

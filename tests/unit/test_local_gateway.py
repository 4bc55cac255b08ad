"""The local API gateway: HTTP requests as HTTP API payload-2.0 events, answers as API Gateway gives them."""

from __future__ import annotations

import base64
import json
from typing import Any

from hubsync.intake.receiver import request_from_api_gateway
from hubsync_local.gateway import LocalGateway, Route


def recording_route(path: str = "/webhooks/{source}") -> tuple[Route, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}

    return Route("POST", path, handler, "fn", 10), seen


def test_json_bodies_arrive_as_text_with_lower_case_headers_and_path_parameters() -> None:
    route, seen = recording_route()
    answer = LocalGateway([route]).invoke(
        "POST", "/webhooks/erp?x=1", {"Content-Type": "application/json", "Webhook-Id": "m"}, b'{"a": 1}'
    )
    assert (answer.status, json.loads(answer.body)) == (202, {"ok": True})
    [event] = seen
    assert event["version"] == "2.0" and event["routeKey"] == "POST /webhooks/{source}"
    assert event["rawPath"] == "/webhooks/erp" and event["rawQueryString"] == "x=1"
    assert event["pathParameters"] == {"source": "erp"}
    assert event["headers"]["webhook-id"] == "m" and event["isBase64Encoded"] is False
    assert request_from_api_gateway(event).body == b'{"a": 1}'


def test_binary_bodies_arrive_base64_encoded_and_decode_to_the_same_bytes() -> None:
    route, seen = recording_route()
    raw = b"\xff\x00binary"
    LocalGateway([route]).invoke("POST", "/webhooks/x", {"content-type": "application/octet-stream"}, raw)
    assert seen[0]["isBase64Encoded"] is True and base64.b64decode(seen[0]["body"]) == raw
    assert request_from_api_gateway(seen[0]).body == raw


def test_unknown_routes_are_404_and_a_raising_handler_is_500() -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    gateway = LocalGateway([Route("POST", "/webhooks", broken, "fn", 10)])
    assert gateway.invoke("POST", "/elsewhere", {}, b"").status == 404
    assert gateway.invoke("GET", "/webhooks", {}, b"").status == 404
    failed = gateway.invoke("POST", "/webhooks", {}, b"{}")
    assert (failed.status, json.loads(failed.body)) == (500, {"message": "Internal Server Error"})

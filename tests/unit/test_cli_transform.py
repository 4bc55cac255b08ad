"""``hubsync transform``: what each sample body becomes under its source's mapping, offline.

The expected events are written out by hand from the sample bodies and HubSpot's value rules (strings,
``"true"``/``"false"``, epoch milliseconds), not computed by hubsync.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubsync_cli.main import main as hubsync

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOURCES = str(EVENTS / "webhook-sources.json")

EXPECTED: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "hubspot": (
        "hubspot-crm-delivery.json",
        [  # the contact.creation event is ignored by the preset
            {"id": "502", "objectType": "contacts", "occurredAt": 1764320400000, "eventId": "3816279340",
             "properties": {"lifecyclestage": "opportunity"}},
            {"id": "503", "objectType": "contacts", "occurredAt": 1764320401250, "eventId": "1293847562",
             "properties": {"phone": "+44 20 7946 0958"}},
            {"id": "503", "objectType": "contacts", "occurredAt": 1764320402700, "eventId": "2011458890",
             "properties": {"firstname": "Alan Mathison"}},
        ],
    ),
    "stripe": (
        "stripe-customer-updated.json",
        [  # created is epoch seconds: 1764320520 s
            {"id": "501", "objectType": "contacts", "occurredAt": 1764320520000,
             "eventId": "evt_1QJ8Y2LkdIwHu7ix0a1b2c3d",
             "properties": {"email": "ada.lovelace@example.com", "phone": "+44 20 7946 0000"}},
        ],
    ),
    "github": (
        "github-issues-edited.json",
        [  # 2025-11-28T09:31:40Z
            {"id": "ps-1005", "idProperty": "my_unique_property_name", "objectType": "partner_services",
             "occurredAt": 1764322300000,
             "properties": {"property_string": "Data migration stuck at 80 %", "property_checkbox": "false",
                            "property_number": "4"}},
        ],
    ),
    "erp": (
        "erp-changeset.json",
        [  # SO-88420 has no crmRef: skipped
            {"id": "1007", "objectType": "partner_services", "occurredAt": 1764321545000,
                  "properties": {"property_string": "In delivery", "property_number": "12.5",
                            "property_checkbox": "true", "property_dropdown": "option_b"}},
            {"id": "1008", "objectType": "partner_services", "occurredAt": 1764321561000,
                  "properties": {"property_string": "Waiting for parts", "property_number": "3",
                            "property_checkbox": "false", "property_dropdown": "option_c"}},
        ],
    ),
}  # fmt: skip


def run(capsys: Any, *argv: str) -> tuple[int, Any]:
    code = hubsync(["transform", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def essentials(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("receivedAt", "source")}


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_each_sample_becomes_the_documented_events(source: str, capsys: Any) -> None:
    sample, expected = EXPECTED[source]
    code, result = run(capsys, "--sources", SOURCES, "--source", source, str(EVENTS / sample))
    assert code == 0 and result["rejected"] == [] and "unmapped" not in result
    assert [essentials(e) for e in result["events"]] == expected
    assert {e["source"] for e in result["events"]} == {source}


def test_sources_come_from_webhook_sources_when_no_file_is_given(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEBHOOK_SOURCES", (EVENTS / "webhook-sources.json").read_text())
    code, result = run(capsys, "--source", "erp", str(EVENTS / "erp-changeset.json"))
    assert code == 0 and [e["id"] for e in result["events"]] == ["1007", "1008"]


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_an_allow_list_violation_is_listed_with_its_reason_and_fails(tmp_path: Path, capsys: Any) -> None:
    delivery = json.loads((EVENTS / "hubspot-crm-delivery.json").read_text())
    delivery[1] = {**delivery[1], "propertyName": "hs_lead_status", "propertyValue": "OPEN"}
    code, result = run(capsys, "--sources", SOURCES, "--source", "hubspot", write(tmp_path, "d.json", delivery))
    assert code == 1
    assert [e["id"] for e in result["events"]] == ["502", "503"]
    assert [r["index"] for r in result["rejected"]] == [1]
    assert "hs_lead_status" in result["rejected"][0]["error"]


def test_a_body_the_mapping_cannot_use_is_unmapped(tmp_path: Path, capsys: Any) -> None:
    # The hubspot-crm preset takes HubSpot's array; a Stripe event object is not one.
    body = str(EVENTS / "stripe-customer-updated.json")
    code, result = run(capsys, "--sources", SOURCES, "--source", "hubspot", body)
    assert code == 1 and result["events"] == [] and result["unmapped"]


def test_a_body_that_is_not_json_is_refused(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"type": ')
    code, result = run(capsys, "--sources", SOURCES, "--source", "erp", str(path))
    assert code == 1 and result["refused"]["status"] == 400 and result["events"] == []


def test_a_bad_expression_or_unknown_source_is_a_configuration_error(tmp_path: Path, capsys: Any) -> None:
    sources = write(tmp_path, "s.json", {"erp": {"scheme": "standard-webhooks", "transform": "data.[?"}})
    assert hubsync(["transform", "--sources", sources, "--source", "erp", str(EVENTS / "erp-changeset.json")]) == 2
    assert "erp" in capsys.readouterr().err
    assert hubsync(["transform", "--sources", SOURCES, "--source", "nope", str(EVENTS / "erp-changeset.json")]) == 2
    assert "no source 'nope'" in capsys.readouterr().err

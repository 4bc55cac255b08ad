"""The worked mappings of docs/mappings.md on the sample bodies in events/.

The expected events are written out by hand from the sample bodies (what a reader of the docs should
get), not computed by hubsync. Expressions that use no hubsync function are also evaluated with the
plain ``jmespath`` library, so they are checked by an implementation of JMESPath that is not hubsync's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jmespath
import pytest

from hubsync.events import parse_event
from hubsync.intake.mapping import preview
from hubsync.intake.sources import parse_sources

EVENTS = Path(__file__).resolve().parents[2] / "events"
SOURCES: dict[str, Any] = json.loads((EVENTS / "webhook-sources.json").read_text())
NOW = 1_800_000_000_000
SAMPLES = {
    "hubspot": "hubspot-crm-delivery.json",
    "stripe": "stripe-customer-updated.json",
    "github": "github-issues-edited.json",
    "erp": "erp-changeset.json",
}

# What each sample becomes, as the mapping's result (before hubsync's normalisation).
GITHUB = [
    {
        "id": "ps-1005",
        "idProperty": "my_unique_property_name",
        "occurredAt": "2025-11-28T09:31:40Z",
        "properties": {
            "property_string": "Data migration stuck at 80 %",
            "property_checkbox": False,
            "property_number": 4,
        },
    }
]
ERP = [
    {
        "id": "1007",
        "occurredAt": 1764321545000,
        "properties": {
            "property_string": "In delivery",
            "property_number": 12.5,
            "property_checkbox": True,
            "property_dropdown": "option_b",
        },
    },
    {
        "id": "1008",
        "occurredAt": 1764321561000,
        "properties": {
            "property_string": "Waiting for parts",
            "property_number": 3,
            "property_checkbox": False,
            "property_dropdown": "option_c",
        },
    },
]


def body(source: str) -> Any:
    return json.loads((EVENTS / SAMPLES[source]).read_text())


def test_every_example_source_has_a_sample_body_and_a_mapping() -> None:
    assert set(SOURCES) == {"default", *SAMPLES}
    for name in SAMPLES:
        settings = SOURCES[name]
        assert ("transform" in settings) != ("preset" in settings), name
        assert settings.get("properties"), f"{name}: an allow-list of properties"
        body(name)  # valid JSON


@pytest.mark.parametrize(("source", "expected"), [("github", GITHUB), ("erp", ERP)])
def test_plain_jmespath_expressions_give_the_documented_events(source: str, expected: list[Any]) -> None:
    result = jmespath.search(SOURCES[source]["transform"], body(source))
    assert result == expected
    for raw in result:  # and each is an event hubsync accepts today
        parse_event(raw, default_object_type=SOURCES[source]["objectType"], now_ms=NOW)


def test_github_mapping_filters_other_actions_and_unlabelled_issues() -> None:
    expression = SOURCES["github"]["transform"]
    labelled = body("github")
    assert jmespath.search(expression, {**labelled, "action": "labeled"}) == []
    unlabelled = {**labelled, "issue": {**labelled["issue"], "labels": [{"name": "bug"}]}}
    assert jmespath.search(expression, unlabelled) == []
    closed = {**labelled, "action": "closed", "issue": {**labelled["issue"], "state": "closed"}}
    assert jmespath.search(expression, closed)[0]["properties"]["property_checkbox"] is True


def test_erp_mapping_skips_items_not_linked_to_a_record() -> None:
    items = body("erp")["data"]["changeSet"]["items"]
    assert len(items) == 3 and items[2]["key"]["crmRef"] is None
    assert [e["id"] for e in jmespath.search(SOURCES["erp"]["transform"], body("erp"))] == ["1007", "1008"]


HAND_WRITTEN_PRESET = (
    "[?ends_with(subscriptionType, '.propertyChange')].{id: to_string(objectId), occurredAt: occurredAt,"
    " eventId: to_string(eventId), properties: from_items([[propertyName, propertyValue]])}"
)


def test_the_hand_written_hubspot_mapping_of_the_docs_equals_the_preset() -> None:
    settings = {k: v for k, v in SOURCES["hubspot"].items() if k != "preset"}
    sources = parse_sources(
        json.dumps({"preset": SOURCES["hubspot"], "written": settings | {"transform": HAND_WRITTEN_PRESET}})
    )
    sample = (EVENTS / SAMPLES["hubspot"]).read_bytes()
    results = [preview(sources[n], sample, default_object_type="partner_services", now_ms=NOW) for n in sources]
    by_preset, by_hand = ([{k: v for k, v in e.items() if k != "source"} for e in r.events] for r in results)
    assert len(by_preset) == 3 and by_preset == by_hand

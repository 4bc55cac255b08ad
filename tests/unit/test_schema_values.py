"""HubSpot's value rules as hubsync applies them before sending (hubsync.delivery.schema.values), pure logic.

The same rules against the simulator's own validation, over HTTP, are in tests/integration/test_schema_checks.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hubsync.delivery.schema.definitions import DefinitionsError, parse_definitions, parse_property
from hubsync.delivery.schema.values import MS_PER_DAY, Problem, epoch_ms, rule_for


def prop(**fields: object) -> dict[str, object]:
    return {"name": "p", "label": "P", "type": "string", "fieldType": "text", "options": [], **fields}


def rule(**fields: object):  # type: ignore[no-untyped-def]
    found = rule_for(parse_property(prop(**fields)))
    assert found is not None
    return found


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


OPTIONS = [
    {"label": "Option A", "value": "option_a", "hidden": False},
    {"label": "Option B", "value": "option_b", "hidden": False},
    {"label": "Retired", "value": "old", "hidden": True},
    {"label": "Twin", "value": "twin_1", "hidden": False},
    {"label": "twin", "value": "twin_2", "hidden": False},
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15", ms(2024, 1, 15)),
        ("2024-01-15T13:45:00Z", ms(2024, 1, 15)),
        ("2024-01-15T23:30:00-05:00", ms(2024, 1, 16)),  # its UTC calendar date
        ("2024-01-15T13:45:00", ms(2024, 1, 15)),  # no offset: UTC
        (str(ms(2024, 1, 15) + 13 * 3_600_000), ms(2024, 1, 15)),
        (str(ms(2024, 1, 15)), ms(2024, 1, 15)),
        ("-1", -MS_PER_DAY),  # 1969-12-31T23:59:59.999Z: that day's midnight
    ],
)
def test_a_date_becomes_midnight_utc_of_its_utc_date(value: str, expected: int) -> None:
    result = rule(type="date", fieldType="date")(value)
    assert result == str(expected)
    assert int(result) % MS_PER_DAY == 0


def test_a_date_already_at_midnight_is_left_as_it_is() -> None:
    value = str(ms(2024, 1, 15))
    assert rule(type="date")(value) is value


@pytest.mark.parametrize("value", ["tomorrow", "15/01/2024", "2024-13-01", "1.5e12", "2024-01-15 garbage", "9" * 20])
def test_anything_else_on_a_date_is_refused_as_invalid_date(value: str) -> None:
    result = rule(type="date")(value)
    assert isinstance(result, Problem)
    assert result.code == "INVALID_DATE"
    assert repr(value) in result.message


def test_datetimes_become_epoch_milliseconds() -> None:
    check = rule(type="datetime", fieldType="date")
    assert check("2024-01-15T13:45:00.250Z") == str(ms(2024, 1, 15, 13, 45) + 250)
    assert check("1705326300000") == "1705326300000"
    refused = check("noon")
    assert isinstance(refused, Problem) and refused.code == "INVALID_DATE"


@pytest.mark.parametrize("value", ["17", "-3.25", "1e3", ".5", "0.", "12345678901234567890"])
def test_numbers_take_plain_decimals(value: str) -> None:
    assert rule(type="number")(value) is value


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1,5", "+1", " 1", "1 000", "0x10", "abc", "\u0661\u0662"])
def test_other_numbers_are_refused(value: str) -> None:
    result = rule(type="number")(value)
    assert isinstance(result, Problem) and result.code == "INVALID_DECIMAL"


def test_booleans() -> None:
    check = rule(
        type="bool",
        fieldType="booleancheckbox",
        options=[
            {"label": "Yes", "value": "true", "hidden": False},
            {"label": "No", "value": "false", "hidden": False},
        ],
    )
    assert check("true") == "true" and check("false") == "false"
    assert check("TRUE") == "true" and check("No") == "false"
    refused = check("maybe")
    assert isinstance(refused, Problem) and refused.code == "INVALID_BOOLEAN"


def test_an_enumeration_takes_option_values_and_converts_a_label_one_option_has() -> None:
    check = rule(type="enumeration", fieldType="select", options=OPTIONS)
    assert check("option_a") == "option_a"
    assert check("old") == "old"  # hidden options are still values HubSpot takes
    assert check("Option B") == "option_b"
    assert check("option b") == "option_b"  # labels case-insensitively
    assert check("retired") == "old"


def test_a_label_two_options_share_and_a_typo_are_refused_naming_the_allowed_values() -> None:
    check = rule(type="enumeration", fieldType="select", options=OPTIONS)
    for value in ("TWIN", "Option_A", "optoin_a"):
        refused = check(value)
        assert isinstance(refused, Problem), value
        assert refused.code == "INVALID_OPTION"
        assert "option_a, option_b, old" not in refused.message  # sorted, not in definition order
        assert "old, option_a, option_b, twin_1, twin_2" in refused.message


def test_multiple_checkboxes_are_checked_part_by_part() -> None:
    check = rule(type="enumeration", fieldType="checkbox", options=OPTIONS)
    assert check("option_a;option_b") == "option_a;option_b"
    assert check("Option A;option_b") == "option_a;option_b"
    assert check(";option_a") == ";option_a"  # appending
    refused = check("option_a;nope")
    assert isinstance(refused, Problem) and "'nope'" in refused.message
    # a select takes no ";" list
    assert isinstance(rule(type="enumeration", fieldType="select", options=OPTIONS)("option_a;option_b"), Problem)


def test_external_options_and_strings_are_not_checked() -> None:
    assert rule_for(parse_property(prop(type="enumeration", externalOptions=True))) is None
    assert rule_for(parse_property(prop(type="string"))) is None
    assert rule_for(parse_property(prop(type="phone_number"))) is None


def test_read_only_and_calculated_properties_are_not_writable() -> None:
    assert not parse_property(prop(modificationMetadata={"readOnlyValue": True})).writable
    assert not parse_property(prop(calculated=True)).writable
    assert parse_property(prop(modificationMetadata={"readOnlyValue": False})).writable


def test_an_answer_that_is_not_the_properties_api_is_refused_whole() -> None:
    good = {"results": [prop(name="a"), prop(name="b", type="number")]}
    assert set(parse_definitions("x", good).properties) == {"a", "b"}
    for bad in ({}, {"results": {}}, {"results": [prop(name=None)]}, {"results": [prop(options="a")]}, []):
        with pytest.raises(DefinitionsError):
            parse_definitions("x", bad)


def test_epoch_ms_range() -> None:
    assert epoch_ms("1970-01-01") == 0
    assert epoch_ms("9999-12-31T23:59:59.999Z") == 253_402_300_799_999
    assert epoch_ms("253402300800000") is None

from __future__ import annotations

import json
from typing import Any

import pytest

from hubsync.deadletters import dlq
from hubsync.delivery.hubspot import CONNECTION, TIMEOUT, HubSpotAnswer
from hubsync.delivery.outcomes import (
    AUTH,
    BAD_RESPONSE,
    DAILY_LIMIT,
    INCOMPLETE,
    LOCKED,
    RATE_LIMITED,
    REDIRECTED,
    UNPROVEN,
    interpret,
)
from hubsync.types import BatchInput

INPUTS: list[BatchInput] = [
    {"id": "1", "properties": {"a": "1"}, "objectWriteTraceId": "t0"},
    {"id": "2", "properties": {"a": "1"}, "objectWriteTraceId": "t1"},
    {"id": "3", "properties": {"a": "1"}, "objectWriteTraceId": "t2"},
]


def result(record_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": record_id, "properties": {"a": "1", "hs_object_id": record_id}, "archived": False, **extra}


def ok_body(*ids: str, **extra: Any) -> dict[str, Any]:
    """A batch answer whose results are records ``ids`` (no trace ids echoed)."""
    body = {"status": "COMPLETE", "results": [result(i) for i in ids], "startedAt": "x", "completedAt": "y"}
    return {**body, **extra}


def test_200_applies_everything_its_results_name() -> None:
    outcome = interpret(HubSpotAnswer(200, ok_body("3", "1", "2")), INPUTS)
    assert outcome.applied == {"t0", "t1", "t2"}
    assert not outcome.failed and not outcome.retry


def test_207_maps_errors_by_ids_and_trace_ids_not_position() -> None:
    body = ok_body(
        "2",
        numErrors=3,
        errors=[
            {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": ["3"]}},
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "gone",
                "context": {"objectWriteTraceId": ["t0"]},
            },
            {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "?", "context": {"ids": ["999"]}},
        ],
    )
    outcome = interpret(HubSpotAnswer(207, body), INPUTS)
    assert outcome.applied == {"t1"}
    assert set(outcome.failed) == {"t0", "t2"}
    assert outcome.failed["t2"].category == dlq.OBJECT_NOT_FOUND
    assert outcome.failed["t2"].status == 207
    assert outcome.unmatched_errors == 1


def test_207_with_an_unknown_error_category_is_retried() -> None:
    body = ok_body("3", "1", errors=[{"category": "SOMETHING_NEW", "message": "hm", "context": {"ids": ["2"]}}])
    outcome = interpret(HubSpotAnswer(207, body), INPUTS)
    assert set(outcome.retry) == {"t1"}
    assert outcome.applied == {"t0", "t2"}


@pytest.mark.parametrize(
    ("answer", "cause", "retry_now", "wait"),
    [
        (HubSpotAnswer(429, {"policyName": "TEN_SECONDLY_ROLLING"}), RATE_LIMITED, True, None),
        (HubSpotAnswer(429, {"policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "3"}), RATE_LIMITED, True, 3.0),
        (HubSpotAnswer(429, {"policyName": "DAILY"}), DAILY_LIMIT, False, None),
        (HubSpotAnswer(423, {}), LOCKED, True, 2.0),
        (HubSpotAnswer(477, {}, {"retry-after": "7"}), "SERVER_ERROR", True, 7.0),
        (HubSpotAnswer(401, {"category": "INVALID_AUTHENTICATION"}), AUTH, True, None),
        (HubSpotAnswer(403, {"category": "MISSING_SCOPES"}), AUTH, True, None),
        (HubSpotAnswer(500, None), "SERVER_ERROR", True, None),
        (HubSpotAnswer(503, None), "SERVER_ERROR", True, None),
        (HubSpotAnswer(524, None), "SERVER_ERROR", True, None),
        (HubSpotAnswer(None, transport_error=TIMEOUT), TIMEOUT, True, None),
        (HubSpotAnswer(None, transport_error=CONNECTION), CONNECTION, True, None),
        (HubSpotAnswer(200, None), BAD_RESPONSE, True, None),
        (HubSpotAnswer(200, ok_body(status="CANCELED")), INCOMPLETE, True, None),
    ],
)
def test_transient_answers_are_retried(answer: HubSpotAnswer, cause: str, retry_now: bool, wait: float | None) -> None:
    outcome = interpret(answer, INPUTS)
    assert set(outcome.retry) == {"t0", "t1", "t2"}
    assert {f.cause for f in outcome.retry.values()} == {cause}
    assert outcome.retry_now is retry_now
    assert outcome.retry_after == wait


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (400, {"category": "VALIDATION_ERROR", "message": "Property values were not valid"}, dlq.VALIDATION_ERROR),
        (400, {"category": "SOMETHING", "message": "bad"}, dlq.HUBSPOT_REJECTED),
        (404, {"category": "OBJECT_NOT_FOUND", "message": "no"}, dlq.OBJECT_NOT_FOUND),
        (404, None, dlq.HUBSPOT_REJECTED),
        (409, {"message": "conflict"}, dlq.HUBSPOT_REJECTED),
        (413, None, dlq.HUBSPOT_REJECTED),
        (414, None, dlq.HUBSPOT_REJECTED),
        (522, None, dlq.HUBSPOT_REJECTED),
    ],
)
def test_permanent_answers_fail_the_whole_batch(status: int, body: Any, category: str) -> None:
    outcome = interpret(HubSpotAnswer(status, body, detail="x"), INPUTS)
    assert set(outcome.failed) == {"t0", "t1", "t2"}
    assert {f.category for f in outcome.failed.values()} == {category}
    assert {f.status for f in outcome.failed.values()} == {status}


def test_hubspot_message_and_code_are_kept() -> None:
    body = {
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "errors": [{"message": 'Property "x" does not exist', "code": "PROPERTY_DOESNT_EXIST"}],
    }
    failure = interpret(HubSpotAnswer(400, body), INPUTS).failed["t0"]
    assert failure.message == "Property values were not valid"
    assert failure.code == "PROPERTY_DOESNT_EXIST"


def read_back(body: Any) -> Any:
    """The body as the transport hands it to ``interpret``: a 2xx batch answer is read only in part."""
    from hubsync.delivery.hubspot import _batch_body

    return _batch_body(json.dumps(body).encode())


def test_a_2xx_batch_answer_is_read_without_its_results_but_with_everything_interpret_needs() -> None:
    body = ok_body("2", "1", numErrors=1)
    body["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": ["3"]}}]
    read = read_back(body)
    assert (read["status"], read["numErrors"], read["errors"], len(read["results"])) == (
        "COMPLETE",
        1,
        body["errors"],
        2,
    )
    outcome = interpret(HubSpotAnswer(207, read), INPUTS)
    assert (outcome.applied, set(outcome.failed)) == ({"t0", "t1"}, {"t2"})


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ({"status": "COMPLETE", "results": {"not": "a list"}}, BAD_RESPONSE),  # read whole, then judged
        ({"status": 7, "results": []}, INCOMPLETE),
        ({"status": "CANCELED", "results": []}, INCOMPLETE),
        ([1, 2], BAD_RESPONSE),
    ],
)
def test_a_2xx_answer_of_another_shape_is_read_whole_and_retried(body: Any, cause: str) -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(body)), INPUTS)
    assert not outcome.applied and {failure.cause for failure in outcome.retry.values()} == {cause}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_configuration_fault_retried_not_the_events_fault(status: int) -> None:
    outcome = interpret(HubSpotAnswer(status, None, {"Location": "https://elsewhere.example"}), INPUTS)
    assert not outcome.failed and {failure.cause for failure in outcome.retry.values()} == {REDIRECTED}


# --- Proven settlement: a 2xx settles an input only when the answer accounts for it -------------------


def causes(outcome: Any) -> dict[str, str | None]:
    return {trace: failure.cause for trace, failure in outcome.retry.items()}


@pytest.mark.parametrize("body", [{}, {"message": "ok"}, {"results": []}, {"status": "COMPLETE"}, "OK", [], None])
def test_a_2xx_that_is_not_a_batch_answer_settles_nothing(body: Any) -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(body) if body is not None else None), INPUTS)
    assert not outcome.applied and not outcome.failed
    assert causes(outcome) == dict.fromkeys(("t0", "t1", "t2"), BAD_RESPONSE)


@pytest.mark.parametrize("status", [201, 202, 204, 299])
def test_another_2xx_status_is_a_bad_response_not_a_rejection(status: int) -> None:
    outcome = interpret(HubSpotAnswer(status, read_back(ok_body("1", "2", "3"))), INPUTS)
    assert not outcome.applied and not outcome.failed and set(causes(outcome).values()) == {BAD_RESPONSE}


def test_a_complete_answer_with_no_results_proves_nothing() -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(ok_body())), INPUTS)
    assert not outcome.applied and not outcome.failed
    assert causes(outcome) == dict.fromkeys(("t0", "t1", "t2"), UNPROVEN)
    assert outcome.unproven == 3


def test_a_200_naming_some_inputs_applies_only_those() -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(ok_body("2"))), INPUTS)
    assert outcome.applied == {"t1"}
    assert causes(outcome) == {"t0": UNPROVEN, "t2": UNPROVEN}


def test_results_carrying_trace_ids_prove_their_inputs_whatever_their_ids() -> None:
    body = ok_body()
    body["results"] = [result("900", objectWriteTraceId="t2"), result("901", objectWriteTraceId="t0")]
    outcome = interpret(HubSpotAnswer(200, read_back(body)), INPUTS)
    assert outcome.applied == {"t0", "t2"} and causes(outcome) == {"t1": UNPROVEN}


def test_a_result_for_a_record_not_sent_proves_nothing() -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(ok_body("1", "2", "77"))), INPUTS)
    assert outcome.applied == {"t0", "t1"} and causes(outcome) == {"t2": UNPROVEN}


def test_a_207_error_naming_no_input_leaves_every_input_without_a_result_unproven() -> None:
    error = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "context": {"propertyName": ["a"]},
    }
    outcome = interpret(HubSpotAnswer(207, read_back(ok_body("1", numErrors=1, errors=[error]))), INPUTS)
    assert outcome.applied == {"t0"} and not outcome.failed
    assert causes(outcome) == {"t1": UNPROVEN, "t2": UNPROVEN}
    assert outcome.unmatched_errors == 1


def test_errors_counted_but_not_listed_make_the_rest_unproven_even_for_id_property_inputs() -> None:
    inputs: list[BatchInput] = [
        {"id": "a@x.io", "idProperty": "email", "properties": {"a": "1"}, "objectWriteTraceId": "t0"},
        {"id": "b@x.io", "idProperty": "email", "properties": {"a": "1"}, "objectWriteTraceId": "t1"},
    ]
    body = ok_body("501", "502", numErrors=1)
    outcome = interpret(HubSpotAnswer(207, read_back(body)), inputs)
    assert not outcome.applied and causes(outcome) == {"t0": UNPROVEN, "t1": UNPROVEN}


def test_a_result_and_an_error_for_one_input_prove_neither() -> None:
    error = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "gone", "context": {"ids": ["1"]}}
    outcome = interpret(HubSpotAnswer(207, read_back(ok_body("1", "2", "3", numErrors=1, errors=[error]))), INPUTS)
    assert outcome.applied == {"t1", "t2"} and not outcome.failed and causes(outcome) == {"t0": UNPROVEN}


ID_PROPERTY_INPUTS: list[BatchInput] = [
    {"id": f"u{i}", "idProperty": "external_id", "properties": {"a": "1"}, "objectWriteTraceId": f"t{i}"}
    for i in range(3)
]


def test_id_property_inputs_are_matched_by_the_value_their_results_carry() -> None:
    body = ok_body()
    body["results"] = [
        {"id": "901", "properties": {"external_id": "u2"}},
        {"id": "900", "properties": {"external_id": "u0"}},
        {"id": "999", "properties": {"external_id": "someone-else"}},
    ]
    outcome = interpret(HubSpotAnswer(200, read_back(body)), ID_PROPERTY_INPUTS)
    # u1 is left with one unmatched result, but that result names another record: not counted as u1's.
    assert outcome.applied == {"t0", "t2"} and causes(outcome) == {"t1": UNPROVEN}


def test_id_property_inputs_without_anything_to_match_are_settled_by_count() -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(ok_body("900", "901", "902"))), ID_PROPERTY_INPUTS)
    assert outcome.applied == {"t0", "t1", "t2"} and not outcome.retry


def test_too_few_results_for_id_property_inputs_prove_none_of_them() -> None:
    outcome = interpret(HubSpotAnswer(200, read_back(ok_body("900", "901"))), ID_PROPERTY_INPUTS)
    assert not outcome.applied and set(causes(outcome).values()) == {UNPROVEN}


def test_a_batch_answer_is_read_into_lean_results_not_decoded_whole() -> None:
    from hubsync.delivery.hubspot import BatchResult

    read = read_back(ok_body("1", "2"))
    assert all(type(r) is BatchResult for r in read["results"])
    assert read["results"][0].property_value("hs_object_id") in ("1", "2")

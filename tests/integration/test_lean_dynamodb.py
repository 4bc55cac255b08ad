"""hubsync's lean DynamoDB client (hubsync.dynamodb) beside botocore's, through moto's server over HTTP.

The same requests go through both, and the answers must be the same: items, errors (code, message, the
cancellation reasons with their items), the exceptions raised for a refused request and an unreachable
endpoint. Then what botocore's hooks let a fault injector do, and the client's own retries."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from hubsync.dynamodb.client import LeanDynamoDB
from hubsync.dynamodb.sigv4 import Credentials
from hubsync_local.aws import client
from support.aws import create_table, unreachable_dynamodb

KEYS = Credentials("testing", "testing")


class Raw:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


def lean(endpoint: str, **kwargs: Any) -> LeanDynamoDB:
    return LeanDynamoDB(client("dynamodb", endpoint), KEYS, sleep=lambda _: None, **kwargs)


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture
def table(aws_env: str) -> str:
    return create_table(aws_env, "lean", "record")


def put(aws_env: str, table: str, key: str, rev: int) -> None:
    item = {"record": {"S": key}, "rev": {"N": str(rev)}, "times": {"M": {"p": {"N": "1764000000000"}}}}
    client("dynamodb", aws_env).put_item(TableName=table, Item=item)


def test_answers_are_botocores(aws_env: str, table: str) -> None:
    botocore_client, ours = client("dynamodb", aws_env), lean(aws_env)
    for n in range(3):
        put(aws_env, table, f"k{n}", n)
    request = {table: {"Keys": [{"record": {"S": f"k{n}"}} for n in range(4)], "ConsistentRead": True}}
    theirs = botocore_client.batch_get_item(RequestItems=request)
    mine = ours.batch_get_item(RequestItems=request)
    assert without_metadata(mine) == without_metadata(theirs)
    assert len(mine["Responses"][table]) == 3
    assert mine["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_cancelled_transaction_raises_botocores_error(aws_env: str, table: str) -> None:
    put(aws_env, table, "held", 7)
    items = [
        {
            "Update": {
                "TableName": table,
                "Key": {"record": {"S": key}},
                "UpdateExpression": "SET #o = :me",
                "ConditionExpression": "attribute_not_exists(#rev)",
                "ExpressionAttributeNames": {"#o": "lease_owner", "#rev": "rev"},
                "ExpressionAttributeValues": {":me": {"S": "run"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        for key in ("free", "held")
    ]
    errors = []
    for dynamodb in (client("dynamodb", aws_env), lean(aws_env)):
        with pytest.raises(ClientError) as caught:
            dynamodb.transact_write_items(TransactItems=items, ClientRequestToken="same-token")
        errors.append(caught.value)
    theirs, mine = errors
    assert mine.operation_name == theirs.operation_name == "TransactWriteItems"
    assert mine.response["Error"] == theirs.response["Error"]
    assert mine.response["Error"]["Code"] == "TransactionCanceledException"
    assert mine.response["CancellationReasons"] == theirs.response["CancellationReasons"]
    assert mine.response["CancellationReasons"][1]["Item"]["rev"] == {"N": "7"}
    assert str(mine) == str(theirs)


def test_a_missing_table_raises_as_botocore_does(aws_env: str) -> None:
    request = {"no-such-table": {"Keys": [{"record": {"S": "k"}}]}}
    codes = []
    for dynamodb in (client("dynamodb", aws_env), lean(aws_env)):
        with pytest.raises(ClientError) as caught:
            dynamodb.batch_get_item(RequestItems=request)
        codes.append(caught.value.response["Error"]["Code"])
    assert codes == ["ResourceNotFoundException"] * 2


def test_an_unreachable_endpoint_raises_botocores_connection_error() -> None:
    closed = unreachable_dynamodb()
    sleeps: list[float] = []
    ours = LeanDynamoDB(closed, KEYS, sleep=sleeps.append)
    with pytest.raises(EndpointConnectionError):
        ours.batch_get_item(RequestItems={"t": {"Keys": [{"record": {"S": "k"}}]}})
    assert len(sleeps) == 2, "three attempts, two waits"


def test_hooks_can_answer_instead_and_every_attempt_is_offered(aws_env: str, table: str) -> None:
    """A before-send hook returning a 500 stands in for DynamoDB (as tests/chaos does): retried, then raised."""
    ours = lean(aws_env)
    seen: list[bytes] = []

    def outage(request: Any, **_: Any) -> AWSResponse:
        seen.append(request.body)
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}'
        return AWSResponse(request.url, 500, {"x-amzn-requestid": "fault"}, Raw(body))

    ours.meta.events.register("before-send.dynamodb.BatchGetItem", outage)
    with pytest.raises(ClientError) as caught:
        ours.batch_get_item(RequestItems={table: {"Keys": [{"record": {"S": "k"}}]}})
    assert caught.value.response["Error"] == {"Code": "InternalServerError", "Message": "Internal server error"}
    assert len(seen) == 3 and len(set(seen)) == 1, "the same bytes each attempt"


def test_a_retry_keeps_the_client_request_token(aws_env: str, table: str) -> None:
    ours = lean(aws_env)
    bodies: list[bytes] = []
    answers = iter([500])

    def once(request: Any, **_: Any) -> AWSResponse | None:
        bodies.append(request.body)
        status = next(answers, None)
        return None if status is None else AWSResponse(request.url, status, {}, Raw(b"{}"))

    ours.meta.events.register("before-send.dynamodb.TransactWriteItems", once)
    update = {
        "Update": {
            "TableName": table,
            "Key": {"record": {"S": "k"}},
            "UpdateExpression": "SET #o = :me",
            "ExpressionAttributeNames": {"#o": "lease_owner"},
            "ExpressionAttributeValues": {":me": {"S": "run"}},
        }
    }
    ours.transact_write_items(TransactItems=[update], ClientRequestToken="token-1")
    assert len(bodies) == 2 and bodies[0] == bodies[1] and b'"ClientRequestToken":"token-1"' in bodies[0]


def test_an_after_call_hook_can_lose_the_answer(aws_env: str, table: str) -> None:
    """As a lost answer: the write took effect, then the caller sees a timeout (botocore's exception)."""
    ours = lean(aws_env)

    def lose(http_response: Any = None, **_: Any) -> None:
        assert http_response.status_code == 200
        raise ReadTimeoutError(endpoint_url="lost")

    ours.meta.events.register("after-call.dynamodb.TransactWriteItems", lose)
    write = {"Put": {"TableName": table, "Item": {"record": {"S": "written"}}}}
    with pytest.raises(ReadTimeoutError):
        ours.transact_write_items(TransactItems=[write], ClientRequestToken="lost-answer")
    stored = client("dynamodb", aws_env).get_item(TableName=table, Key={"record": {"S": "written"}})
    assert "Item" in stored


def test_a_corrupted_answer_is_retried(aws_env: str, table: str) -> None:
    ours = lean(aws_env)
    good = b'{"Responses":{"%s":[]},"UnprocessedKeys":{}}' % table.encode()
    answers = iter([(good + b" ", zlib.crc32(good)), (good, zlib.crc32(good))])
    offered = []

    def checksum(request: Any, **_: Any) -> AWSResponse:
        content, crc = next(answers)
        offered.append(content)
        return AWSResponse(request.url, 200, {"x-amz-crc32": str(crc)}, Raw(content))

    ours.meta.events.register("before-send.dynamodb.BatchGetItem", checksum)
    answer = ours.batch_get_item(RequestItems={table: {"Keys": [{"record": {"S": "k"}}]}})
    assert answer["Responses"] == {table: []} and len(offered) == 2


@pytest.mark.parametrize(("code", "retried"), [("ThrottlingException", True), ("ValidationException", False)])
def test_throttling_is_retried_and_a_refusal_is_not(aws_env: str, table: str, code: str, retried: bool) -> None:
    ours = lean(aws_env)
    calls = []

    def refuse(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"no"}' % code.encode()
        return AWSResponse(request.url, 400, {}, Raw(body))

    ours.meta.events.register("before-send.dynamodb.BatchGetItem", refuse)
    with pytest.raises(ClientError) as caught:
        ours.batch_get_item(RequestItems={table: {"Keys": [{"record": {"S": "k"}}]}})
    assert caught.value.response["Error"]["Code"] == code
    assert len(calls) == (3 if retried else 1)


def test_a_non_json_answer_is_an_error_with_its_status(aws_env: str, table: str) -> None:
    ours = lean(aws_env)
    ours.meta.events.register(
        "before-send.dynamodb.BatchGetItem",
        lambda request, **_: AWSResponse(request.url, 403, {}, Raw(b"<html>Forbidden</html>")),
    )
    with pytest.raises(ClientError) as caught:
        ours.batch_get_item(RequestItems={table: {"Keys": [{"record": {"S": "k"}}]}})
    assert caught.value.response["Error"]["Code"] == "403"
    assert "Forbidden" in caught.value.response["Error"]["Message"]

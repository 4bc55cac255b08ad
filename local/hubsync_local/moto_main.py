"""moto's server, with DynamoDB made atomic and SQS made strict: ``python -m hubsync_local.moto_main HOST PORT``.

Emulation quirks it fixes:

- moto serves requests on many threads, and its DynamoDB is not safe under them. A TransactWriteItems
  that is cancelled restores a snapshot of the whole table taken when it began, undoing what other
  requests wrote meanwhile, and concurrent transactions can fail with a 500. DynamoDB itself applies
  each request and each transaction atomically; running moto's DynamoDB requests one at a time gives
  that back. SQS stays concurrent (its long polls must not block others).
- moto's SQS accepts any character and counts sizes in characters, body only. Real SQS refuses a
  message whose body or String attribute values hold a character outside #x9 | #xA | #xD |
  #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF, and counts a message's size as its body's UTF-8 bytes
  plus each attribute's name, data type and value bytes, against the queue's MaximumMessageSize; a
  batch holds at most 10 entries with distinct ids ([A-Za-z0-9_-]{1,80}) and at most 1 MiB in all.
  ``strict_sqs`` checks every SendMessage and SendMessageBatch against those documented rules before
  moto sees it and answers as SQS does, so that any violating message the code sends fails a test.

``strict_sqs`` is the tests' model of SQS, written from SQS's documentation and apart from hubsync's
own encoder and sizing (nothing here imports hubsync): the two must agree on their own.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_DYNAMODB = threading.Lock()

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]

# SQS's documented limits (SendMessage, SendMessageBatch, quotas).
SQS_MAX_MESSAGE_BYTES = 1_048_576  # the largest MaximumMessageSize, and the cap on a whole batch
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_ATTRIBUTES = 10
# The whole text must consist of allowed characters (a positive class, matched in full).
_SQS_TEXT = re.compile("[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_BATCH_ENTRY_ID = re.compile("[A-Za-z0-9_-]{1,80}")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/sqs/")
_CHARACTERS = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"


class SqsError(Exception):
    """An error as SQS's JSON protocol answers it: ``code`` in ``__type``, ``query_code`` in the
    x-amzn-query-error header (SQS is awsQueryCompatible; botocore reports that one as Error.Code)."""

    def __init__(self, code: str, query_code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.query_code = query_code
        self.message = message


def _invalid_parameter(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", "InvalidParameterValue", message)


def _batch_error(code: str, message: str) -> SqsError:
    return SqsError(code, f"AWS.SimpleQueueService.{code}", message)


def sqs_accepts(text: str) -> bool:
    return _SQS_TEXT.fullmatch(text) is not None


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _attribute_value_bytes(name: str, attribute: dict[str, Any]) -> int:
    data_type = str(attribute.get("DataType") or "")
    if data_type.startswith("Binary"):
        try:
            return len(base64.b64decode(str(attribute.get("BinaryValue") or ""), validate=True))
        except (binascii.Error, ValueError):
            raise _invalid_parameter(f"Message (user) attribute '{name}' has an invalid binary value.") from None
    value = attribute.get("StringValue")
    if not isinstance(value, str) or not value:
        raise _invalid_parameter(f"Message (user) attribute '{name}' must contain a non-empty value of type 'String'.")
    if not sqs_accepts(value):
        # SQS answers InvalidParameterValue (not InvalidMessageContents) for an attribute value.
        raise _invalid_parameter(f"Message (user) attribute '{name}' holds invalid characters. Valid: {_CHARACTERS}")
    return _utf8(value)


def message_size(body: str, attributes: dict[str, Any] | None) -> int:
    """The size SQS counts: body UTF-8 bytes, and each attribute's name, data type and value bytes.
    Raises SqsError for an attribute SQS refuses."""
    attributes = attributes or {}
    if len(attributes) > SQS_MAX_ATTRIBUTES:
        raise _invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{SQS_MAX_ATTRIBUTES}]."
        )
    size = _utf8(body)
    for name, attribute in attributes.items():
        attribute = attribute if isinstance(attribute, dict) else {}
        size += _utf8(name) + _utf8(str(attribute.get("DataType") or "")) + _attribute_value_bytes(name, attribute)
    return size


def check_message(body: Any, attributes: dict[str, Any] | None, max_bytes: int) -> int:
    """One message (SendMessage, or one batch entry) by SQS's rules: its size, or SqsError."""
    if not isinstance(body, str) or not body:
        return 0  # a missing body is moto's to refuse (MissingParameter)
    if not sqs_accepts(body):
        # The documentation has also said SQS replaces such characters by U+FFFD instead; refusing is
        # what it says now, and either way the event would not arrive intact.
        raise SqsError(
            "InvalidMessageContents", "InvalidMessageContents", f"Invalid characters found. Valid: {_CHARACTERS}"
        )
    size = message_size(body, attributes)
    if size > max_bytes:
        raise _invalid_parameter(
            f"One or more parameters are invalid. Reason: Message must be shorter than {max_bytes} bytes."
        )
    return size


def check_batch(entries: Any, max_bytes: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A SendMessageBatch by SQS's rules: raises SqsError for what refuses the whole call; else the
    entries SQS would take, and a ``Failed`` entry for each it would refuse (SenderFault: true).

    What real SQS does per entry is assumed from its documentation ("the result of sending each message
    is reported individually") and the public emulators tested against it (LocalStack): an entry with
    characters SQS refuses, or over the queue's size, fails alone; the others are sent."""
    if not isinstance(entries, list) or not entries:
        raise _batch_error(
            "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request."
        )
    if len(entries) > SQS_MAX_BATCH_ENTRIES:
        raise _batch_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {SQS_MAX_BATCH_ENTRIES}. You have sent {len(entries)}.",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or _BATCH_ENTRY_ID.fullmatch(entry_id) is None:
            raise _batch_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.",
            )
        if entry_id in seen:
            raise _batch_error("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
        seen.add(entry_id)
    taken: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    total = 0
    for entry in entries:
        body = entry.get("MessageBody")
        try:
            total += check_message(body, entry.get("MessageAttributes"), max_bytes)
        except SqsError as exc:
            total += _utf8(body) if isinstance(body, str) else 0  # it still counts towards the batch
            failed.append({"Id": entry["Id"], "SenderFault": True, "Code": exc.code, "Message": exc.message})
            continue
        taken.append(entry)
    if total > SQS_MAX_MESSAGE_BYTES:
        raise _batch_error(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {SQS_MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes.",
        )
    return taken, failed


def _queue_max_bytes(queue_url: Any, environ: dict[str, Any]) -> int:
    """The queue's MaximumMessageSize, read from moto's own state; SQS's largest if it cannot be."""
    try:
        from moto.sqs.models import sqs_backends

        account, name = urlparse(str(queue_url)).path.strip("/").split("/")[-2:]
        found = _CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = found.group(1) if found else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return int(sqs_backends[account][region].get_queue(name).maximum_message_size)  # type: ignore[attr-defined]
    except Exception:  # no such queue (moto answers for that), an odd URL: the service-wide limit
        return SQS_MAX_MESSAGE_BYTES


def _answer(start_response: Any, status: str, document: dict[str, Any], extra: list[tuple[str, str]]) -> list[bytes]:
    body = json.dumps(document).encode("utf-8")
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("Content-Length", str(len(body))),
        *extra,
    ]
    start_response(status, headers)
    return [body]


def _refuse(start_response: Any, error: SqsError) -> list[bytes]:
    document = {"__type": f"com.amazonaws.sqs#{error.code}", "message": error.message}
    return _answer(start_response, "400 Bad Request", document, [("x-amzn-query-error", f"{error.query_code};Sender")])


def _with_body(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _send_batch(app: WsgiApp, environ: dict[str, Any], start_response: Any, request: dict[str, Any]) -> Iterable[bytes]:
    taken, failed = check_batch(request.get("Entries"), _queue_max_bytes(request.get("QueueUrl"), environ))
    if not failed:
        return app(environ, start_response)
    answer: dict[str, Any] = {"Successful": [], "Failed": []}
    if taken:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return lambda _: None

        raw = b"".join(app(_with_body(environ, json.dumps({**request, "Entries": taken}).encode()), capture))
        if not str(captured.get("status", "")).startswith("200"):
            start_response(captured["status"], captured["headers"])  # moto refused the rest: its answer stands
            return [raw]
        answer = {"Successful": [], "Failed": [], **json.loads(raw)}
    answer["Failed"] = [*answer.get("Failed", []), *failed]
    return _answer(start_response, "200 OK", answer, [])


def strict_sqs(app: WsgiApp) -> WsgiApp:
    """Checks SendMessage and SendMessageBatch (the JSON protocol, which is the only one botocore 1.44
    speaks to SQS) by SQS's rules before moto sees them; see the module docstring."""

    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target not in ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch"):
            if _is_query_send(environ):
                # Not modelled: refused rather than let an unchecked message through.
                error = SqsError(
                    "InvalidAction", "InvalidAction", "the strict emulator models SQS's JSON protocol only"
                )
                return _refuse(start_response, error)
            return app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ = _with_body(environ, body)
        try:
            request = json.loads(body)
        except ValueError:
            return app(environ, start_response)  # moto answers for a malformed request
        if not isinstance(request, dict):
            return app(environ, start_response)
        try:
            if target == "AmazonSQS.SendMessage":
                max_bytes = _queue_max_bytes(request.get("QueueUrl"), environ)
                check_message(request.get("MessageBody"), request.get("MessageAttributes"), max_bytes)
                return app(environ, start_response)
            return _send_batch(app, environ, start_response, request)
        except SqsError as error:
            return _refuse(start_response, error)

    return serve


def _is_query_send(environ: dict[str, Any]) -> bool:
    if "Action=SendMessage" in environ.get("QUERY_STRING", ""):
        return True
    if "application/x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", "") or not environ.get("CONTENT_LENGTH"):
        return False
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    return b"Action=SendMessage" in body


def atomic_dynamodb(app: Any) -> WsgiApp:
    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _DYNAMODB:
                return list(app(environ, start_response))  # the whole answer, made under the lock
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return serve


def one_table_copy_per_transaction() -> None:
    """moto backs up a table before a TransactWriteItems in case it must roll back, but once per item: a
    transaction of 100 items over a table of 2,000 records deep-copies the table 100 times (seconds). The
    same backup, taken once per table per transaction: the same semantics (every item of a transaction on
    one table restored the same), a hundredth of the work. Only an emulator's speed; DynamoDB's own rules
    (and this wrapper's atomicity) are unchanged."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    class _Copies:
        cache: dict[int, Any] | None = None

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            if self.cache is not None and isinstance(value, Table):
                if id(value) not in self.cache:
                    self.cache[id(value)] = copy.deepcopy(value)
                return self.cache[id(value)]
            return copy.deepcopy(value, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

    copies = _Copies()
    setattr(models, "copy", copies)  # noqa: B010 (moto reads its module-level copy)
    transact = models.DynamoDBBackend.transact_write_items

    def once(self: Any, transact_items: Any) -> Any:
        copies.cache = {}  # requests are served one at a time (atomic_dynamodb)
        try:
            return transact(self, transact_items)
        finally:
            copies.cache = None

    models.DynamoDBBackend.transact_write_items = once  # type: ignore[method-assign]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    one_table_copy_per_transaction()
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, strict_sqs(atomic_dynamodb(app)), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

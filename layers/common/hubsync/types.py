"""Wire shapes (TypedDicts) of HubSpot's batch API and of SQS Lambda events."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class BatchInput(TypedDict):
    """One input of ``BatchInputSimplePublicObjectBatchInput``."""

    id: str
    properties: dict[str, str]
    idProperty: NotRequired[str]
    objectWriteTraceId: NotRequired[str]


class SqsRecord(TypedDict, total=False):
    """One record of an SQS event as Lambda's event source mapping delivers it."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, dict[str, str]]
    md5OfBody: str
    eventSource: str
    eventSourceARN: str
    awsRegion: str

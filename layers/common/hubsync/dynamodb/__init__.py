"""A lean DynamoDB client for the few JSON operations hubsync's hot path makes, signed with SigV4.

botocore walks every nested attribute value against the service model to serialise a request, and again
to parse the answer, and resolves the endpoint rules per call: for a 100-item TransactWriteItems that was
about 6 ms of CPU a call, most of the record state's cost. This client sends the same JSON (DynamoDB's
wire format is already what hubsync builds: attribute values as ``{"S": ...}``), over http.client,
with msgspec. It is a drop-in for the botocore client's methods it has: same keyword arguments,
same answers, ``botocore.exceptions.ClientError`` with botocore's error shape, botocore's exceptions for
transport failures, and the ``before-send`` and ``after-call`` hooks of the botocore client it was made from.

- ``sigv4``: Signature Version 4 for one request (checked against botocore's signer by the tests).
- ``transport``: POSTs over a pool of kept-alive http.client connections, botocore's exceptions on failure.
- ``client``: ``LeanDynamoDB``: the operations, retries, errors, hooks.
"""

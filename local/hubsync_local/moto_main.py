"""moto's server, with DynamoDB made atomic: ``python -m hubsync_local.moto_main HOST PORT``.

Emulation quirk it fixes: moto serves requests on many threads, and its DynamoDB is not safe under
them. A TransactWriteItems that is cancelled restores a snapshot of the whole table taken when it
began, undoing what other requests wrote meanwhile, and concurrent transactions can fail with a 500.
DynamoDB itself applies each request and each transaction atomically; running moto's DynamoDB
requests one at a time gives that back. SQS stays concurrent (its long polls must not block others).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_DYNAMODB = threading.Lock()


def atomic_dynamodb(app: Any) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    def serve(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _DYNAMODB:
                return list(app(environ, start_response))  # the whole answer, made under the lock
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return serve


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, atomic_dynamodb(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

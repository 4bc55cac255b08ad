"""``hubsync``: the operator's command (installed by the set-up).

- ``hubsync run``: the local stack (what ``make run`` does).
- ``hubsync send FILE``: signs a body with Standard Webhooks and posts it to the webhook.
- ``hubsync replay``: moves DLQ messages back to the queue (deployed stack or local).
Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any


def _replay(args: argparse.Namespace) -> int:
    import boto3

    from hubsync.replay import Replayer

    queue_url, dlq_url = args.queue_url, args.dlq_url
    if args.stack_name:
        outputs = _stack_outputs(args.stack_name)
        queue_url = queue_url or outputs.get("QueueUrl")
        dlq_url = dlq_url or outputs.get("DeadLetterQueueUrl")
    queue_url = queue_url or os.environ.get("QUEUE_URL")
    dlq_url = dlq_url or os.environ.get("DLQ_URL")
    if not queue_url or not dlq_url:
        print("error: give --stack-name, or --queue-url and --dlq-url (or QUEUE_URL and DLQ_URL)", file=sys.stderr)
        return 2
    replayer = Replayer(boto3.client("sqs"), dlq_url, queue_url, max_replays=args.max_replays)
    report = replayer.run(dry_run=args.dry_run, limit=args.limit, categories=args.category or [])
    print(json.dumps(report.as_dict(), indent=2))
    return 1 if report.failed else 0


def _stack_outputs(stack_name: str) -> dict[str, str]:
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def _send(args: argparse.Namespace) -> int:
    import requests

    from hubsync.signing.standard_webhooks import sign

    secret = args.secret or (os.environ.get("WEBHOOK_SECRETS", "").replace(",", " ").split() or [""])[0]
    if not secret:
        print("error: give --secret or set WEBHOOK_SECRETS", file=sys.stderr)
        return 2
    with sys.stdin.buffer if args.file == "-" else open(args.file, "rb") as handle:
        body = handle.read()
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
    response = requests.post(args.url, data=body, headers=headers, timeout=30)
    print(response.status_code, response.text)
    return 0 if response.status_code < 300 else 1


def _run(args: argparse.Namespace) -> int:
    from hubsync_local.__main__ import main as run_main

    return run_main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubsync", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole service locally")
    run.set_defaults(func=_run)

    send = commands.add_parser("send", help="sign a webhook body and post it")
    send.add_argument("file", help="the JSON body to send, or - for standard input")
    send.add_argument("--url", default="http://127.0.0.1:3000/webhooks")
    send.add_argument("--secret", help="a whsec_... secret (default: the first of WEBHOOK_SECRETS)")
    send.set_defaults(func=_send)

    replay = commands.add_parser("replay", help="move DLQ messages back to the queue")
    replay.add_argument("--stack-name", help="a deployed stack: its outputs give the queue URLs")
    replay.add_argument("--queue-url")
    replay.add_argument("--dlq-url")
    replay.add_argument("--category", action="append", help="only this DLQ category (repeatable)")
    replay.add_argument("--limit", type=int)
    replay.add_argument("--dry-run", action="store_true", help="count what would move; move nothing")
    replay.add_argument("--max-replays", type=int, default=5, help="leave events replayed this often already")
    replay.set_defaults(func=_replay)

    args: Any = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

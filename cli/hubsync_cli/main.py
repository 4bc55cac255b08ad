"""``hubsync``: the operator's command. It installs alone (``pipx install <repository path>``; the dev set-up
installs it too) and works against a deployed stack or ``make run``'s local one alike.

- ``hubsync send [--source NAME] FILE``: signs a body as that source's sender does and posts it to the webhook.
- ``hubsync transform --source NAME FILE``: the events a body becomes and each rejection, offline (no AWS).
- ``hubsync replay``: moves DLQ messages back to the queue, filtered, at a rate (deployed stack or local).
- ``hubsync replay --from-archive [--prefix DAY]``: the same from the archive bucket (objects leave it once queued).
- ``hubsync archive [--older-than SECONDS]``: what the scheduled archiver does (DLQ -> archive bucket), now.
- ``hubsync dlq stats|ls|show``, ``hubsync pause|resume|status``, ``hubsync doctor``.
Against the local stack: AWS_ENDPOINT_URL=<printed by make run> hubsync ... --stack-name hubsync-local.
Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def _target(args: argparse.Namespace) -> Any:
    from hubsync_cli.targets import resolve

    return resolve(
        args.stack_name,
        queue_url=getattr(args, "queue_url", None),
        dlq_url=getattr(args, "dlq_url", None),
        mapping_id=getattr(args, "mapping_id", None),
        archive_bucket=getattr(args, "bucket", None),
    )


def _filter(args: argparse.Namespace) -> Any:
    from hubsync.deadletters.replay import ReplayFilter

    return ReplayFilter.from_request(
        {
            "categories": args.category or [],
            "statuses": args.status or [],
            "objectTypes": args.object_type or [],
            "recordIds": args.record_id or [],
            "errorText": args.error_text,
            "since": args.since,
            "until": args.until,
        }
    )


def _print(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _replay(args: argparse.Namespace) -> int:
    from hubsync_cli import replay

    if args.from_archive:
        result = replay.run_from_archive(
            _target(args),
            _filter(args),
            prefix=args.prefix,
            dry_run=args.dry_run,
            limit=args.limit,
            max_replays=args.max_replays,
            allow_stale=args.allow_stale,
        )
        _print(result)
        return 1 if result.get("failed") else 0
    result = replay.run(
        _target(args),
        _filter(args),
        dry_run=args.dry_run,
        limit=args.limit,
        rate=args.rate,
        max_replays=args.max_replays,
        native=not args.no_redrive,
        sources=replay.load_sources(args.sources),
    )
    _print(result)
    return 1 if result.get("failed") else 0


def _archive(args: argparse.Namespace) -> int:
    from hubsync_cli import archive

    result = archive.run(_target(args), args.older_than)
    _print(result)
    return 1 if result.get("failed") else 0


def _dlq(args: argparse.Namespace) -> int:
    from hubsync_cli import dlq

    target = _target(args)
    if args.dlq_command == "stats":
        _print(dlq.stats(target))
    elif args.dlq_command == "ls":
        for line in dlq.ls(target, _filter(args), args.limit):
            print(line)
    else:
        found = dlq.show(target, args.message_id)
        if found is None:
            print(f"no message {args.message_id} in the DLQ", file=sys.stderr)
            return 1
        _print(found)
    return 0


def _control(args: argparse.Namespace) -> int:
    from hubsync_cli import control

    target = _target(args)
    if args.command == "status":
        _print(control.status(target))
    else:
        _print(control.set_enabled(target, enabled=args.command == "resume"))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from hubsync_cli.doctor import Doctor

    checks = Doctor(_target(args), args.object_type or [], args.hubspot_url).run()
    for check in checks:
        print(check.line())
    return 1 if any(not c.ok for c in checks) else 0


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack-name", help="a deployed stack (or hubsync-local with AWS_ENDPOINT_URL)")
    parser.add_argument("--queue-url")
    parser.add_argument("--dlq-url")


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", action="append", help="DLQ category (repeatable)")
    parser.add_argument("--status", action="append", type=int, help="HTTP status (repeatable)")
    parser.add_argument("--object-type", action="append", help="object type (repeatable)")
    parser.add_argument("--record-id", action="append", help="record id (repeatable)")
    parser.add_argument("--error-text", help="a part of the error message (any case)")
    parser.add_argument("--since", help="failed at or after (ISO 8601 or epoch ms)")
    parser.add_argument("--until", help="failed at or before (ISO 8601 or epoch ms)")


def _read_body(path: str) -> bytes:
    with sys.stdin.buffer if path == "-" else open(path, "rb") as handle:
        return handle.read()


def _extra_headers(values: list[str] | None) -> dict[str, str]:
    headers = {}
    for value in values or []:
        name, separator, text = value.partition(":")
        if not separator or not name.strip():
            raise SystemExit(f"error: --header takes NAME:VALUE, not {value!r}")
        headers[name.strip().lower()] = text.strip()
    return headers


def _send(args: argparse.Namespace) -> int:
    from hubsync.exceptions import ConfigurationError
    from hubsync_cli import webhooks

    try:
        source = webhooks.pick(webhooks.load_sources(args.sources), args.source)
        secret = "" if source.scheme == "none" else webhooks.secret_for(source.name, args.secret)
        url = args.url or webhooks.url_for(source.name)
        status, text = webhooks.send(source, secret, url, _read_body(args.file), _extra_headers(args.header))
    except ConfigurationError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(status, text)
    return 0 if status < 300 else 1


def _transform(args: argparse.Namespace) -> int:
    from hubsync.exceptions import ConfigurationError
    from hubsync_cli import webhooks

    try:
        source = webhooks.pick(webhooks.load_sources(args.sources), args.source)
        default_object_type = args.object_type or os.environ.get("OBJECT_TYPE") or "partner_services"
        result = webhooks.transform(source, _read_body(args.file), default_object_type=default_object_type)
    except ConfigurationError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    _print(result)
    # Non-zero when anything would not be queued, so a mapping can be checked in a script or CI.
    return 1 if result["rejected"] or "unmapped" in result or "refused" in result else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubsync", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    send = commands.add_parser("send", help="sign a webhook body as the source's sender does and post it")
    send.add_argument("file", help="the JSON body to send, or - for standard input")
    send.add_argument("--source", default="default", help="the source to send as (default: default)")
    send.add_argument("--sources", help="a WEBHOOK_SOURCES document (default: the WEBHOOK_SOURCES variable)")
    send.add_argument("--url", help="default: http://127.0.0.1:3000/webhooks[/SOURCE], make run's webhook")
    send.add_argument("--secret", help="the source's signing secret (default: its first in WEBHOOK_SECRETS)")
    send.add_argument("--header", action="append", help="an extra header NAME:VALUE (repeatable)")
    send.set_defaults(func=_send)

    transform = commands.add_parser("transform", help="what a body becomes under a source's mapping (offline)")
    transform.add_argument("file", help="the JSON body, or - for standard input")
    transform.add_argument("--source", required=True, help="the source whose mapping applies")
    transform.add_argument("--sources", help="a WEBHOOK_SOURCES document (default: the WEBHOOK_SOURCES variable)")
    transform.add_argument("--object-type", help="the default object type (default: OBJECT_TYPE, partner_services)")
    transform.set_defaults(func=_transform)

    replay = commands.add_parser("replay", help="move DLQ messages back to the queue")
    _target_options(replay)
    _filter_options(replay)
    replay.add_argument("--limit", type=int, help="move at most this many")
    replay.add_argument("--rate", type=float, help="messages per second at most (HubSpot's limit is shared)")
    replay.add_argument("--dry-run", action="store_true", help="list and count what would move; move nothing")
    replay.add_argument("--max-replays", type=int, default=5, help="leave events replayed this often already")
    replay.add_argument("--no-redrive", action="store_true", help="never use SQS's StartMessageMoveTask")
    replay.add_argument(
        "--sources",
        metavar="FILE",
        help="WEBHOOK_SOURCES JSON: UNMAPPED bodies are mapped again with it (default: $WEBHOOK_SOURCES)",
    )
    replay.add_argument("--from-archive", action="store_true", help="from the archive bucket instead of the DLQ")
    replay.add_argument("--prefix", help="with --from-archive: the day it was first queued (2025-01-31, 2025-01)")
    replay.add_argument("--bucket", help="with --from-archive: the archive bucket (default: from the stack)")
    replay.add_argument(
        "--allow-stale",
        action="store_true",
        help="with --from-archive: also events older than the record state keeps applied times (30 days)",
    )
    replay.set_defaults(func=_replay)

    archive = commands.add_parser("archive", help="copy old DLQ messages to the archive bucket now")
    _target_options(archive)
    archive.add_argument("--bucket", help="the archive bucket (default: from the stack)")
    archive.add_argument(
        "--older-than",
        type=float,
        default=12 * 86_400,
        help="seconds since the message was first queued (default 12 days, the template's; 0 archives all)",
    )
    archive.set_defaults(func=_archive)

    dlq = commands.add_parser("dlq", help="what is in the DLQ: stats, ls, show")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (("stats", "counts by category, status, object type, cause and age"), ("ls", "one line each")):
        sub = dlq_commands.add_parser(name, help=text)
        _target_options(sub)
        if name == "ls":
            _filter_options(sub)
            sub.add_argument("--limit", type=int, default=50)
        sub.set_defaults(func=_dlq)
    show = dlq_commands.add_parser("show", help="one message whole")
    _target_options(show)
    show.add_argument("message_id")
    show.set_defaults(func=_dlq)

    for name, text in (
        ("pause", "stop delivery to HubSpot (the webhook keeps accepting)"),
        ("resume", "restart delivery to HubSpot"),
        ("status", "queue depths, oldest message age and its expiry, mapping state"),
    ):
        sub = commands.add_parser(name, help=text)
        _target_options(sub)
        sub.add_argument("--mapping-id", help="the updater's event source mapping (default: from the stack)")
        sub.set_defaults(func=_control)

    doctor = commands.add_parser("doctor", help="check token, scopes, object types, queues, secrets, mapping")
    _target_options(doctor)
    doctor.add_argument("--object-type", action="append", help="object type to check (default: the updater's)")
    doctor.add_argument("--hubspot-url", help="default: the updater's HUBSPOT_BASE_URL")
    doctor.set_defaults(func=_doctor)

    args: Any = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

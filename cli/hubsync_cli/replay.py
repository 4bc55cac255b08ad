"""``hubsync replay``: move dead letters back to the queue, filtered, at a pace HubSpot accepts (from the DLQ,
or with --from-archive from the archive bucket: ``run_from_archive``).

Unfiltered (and not a dry run), SQS's own redrive (StartMessageMoveTask) moves everything where the
service offers it; the updater reads the envelopes it moves back (and counts the replay). That move
knows nothing of the replay cap nor of mappings, so it is used only when a scan of the DLQ finds no message
at or past ``--max-replays`` and no UNMAPPED body (those are mapped again through their source's current
mapping: ``--sources FILE``, else ``WEBHOOK_SOURCES``); otherwise, and where it is not available (the local
emulator lacks it), hubsync's own replayer moves the messages one batch at a time and leaves the capped ones.
The one window: a message dead-lettered between the scan and the end of the move task is moved unchecked,
so an event can be replayed once past the cap (the next replay counts it and stops it).
Ctrl-C stops at the next safe point: what was sent and deleted stays moved, the rest stays in the DLQ.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubsync.deadletters.replay import Replayer, ReplayFilter, ReplayReport
from hubsync.intake.sources import Source
from hubsync_cli.dlq import summary_line
from hubsync_cli.targets import Target, client


def _progress(report: ReplayReport) -> None:
    verb, count = ("would move", report.matched) if report.dry_run else ("moved", report.moved)
    line = f"\rscanned {report.scanned}  matched {report.matched}  {verb} {count}"
    sys.stderr.write(line + (f"  failed {report.failed}" if report.failed else "") + "   ")
    sys.stderr.flush()


def _native_redrive(target: Target, rate: float | None) -> dict[str, Any] | None:
    """StartMessageMoveTask back to the queue, or None where SQS (or the emulator) does not offer it."""
    sqs = client("sqs")
    try:
        arns = [
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for url in (target.dlq_url, target.queue_url)
        ]
        options: dict[str, Any] = {"SourceArn": arns[0], "DestinationArn": arns[1]}
        if rate:
            options["MaxNumberOfMessagesPerSecond"] = int(rate)
        task = sqs.start_message_move_task(**options)
    except Exception as exc:  # not implemented by the emulator, or not allowed: fall back
        sys.stderr.write(f"SQS redrive not available ({type(exc).__name__}); replaying message by message\n")
        return None
    return {"redrive": "StartMessageMoveTask", "taskHandle": task.get("TaskHandle")}


def load_sources(path: str | None) -> Mapping[str, Source] | None:
    """The webhook sources from FILE (a WEBHOOK_SOURCES JSON document), else from WEBHOOK_SOURCES; None when
    neither is given (then UNMAPPED bodies stay in the DLQ)."""
    from hubsync.config import Settings
    from hubsync.intake.sources import parse_sources

    text = Path(path).read_text(encoding="utf-8") if path else os.environ.get("WEBHOOK_SOURCES")
    if not text or not text.strip():
        return None
    return parse_sources(text, Settings.from_env().signature_tolerance_seconds)


def run(
    target: Target,
    where: ReplayFilter,
    *,
    dry_run: bool,
    limit: int | None,
    rate: float | None,
    max_replays: int,
    native: bool = True,
    sources: Mapping[str, Source] | None = None,
) -> dict[str, Any]:
    from hubsync.config import Settings

    target.need("queue_url", "dlq_url")
    settings = Settings.from_env()
    options: dict[str, Any] = {
        "max_replays": max_replays,
        "sources": sources,
        "default_object_type": settings.object_type,
        "max_events": settings.max_events_per_request,
    }
    unfiltered = where == ReplayFilter() and limit is None and not dry_run
    if native and unfiltered:
        held_back = Replayer(client("sqs"), str(target.dlq_url), str(target.queue_url), **options).needs_own_moves()
        if held_back:
            sys.stderr.write(
                f"{held_back} messages reached the replay limit or are UNMAPPED; replaying message by message\n"
            )
        else:
            started = _native_redrive(target, rate)
            if started is not None:
                return started
    stop = threading.Event()
    # Ctrl-C asks the loop to stop at its next safe point instead of interrupting a send or a delete.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if main else None
    try:
        sqs = client("sqs")
        replayer = Replayer(sqs, str(target.dlq_url), str(target.queue_url), wait_seconds=1, **options)
        report = replayer.run(
            dry_run=dry_run,
            limit=limit,
            where=where,
            rate=rate,
            keep_going=lambda: not stop.is_set(),
            on_match=(lambda message, dead: print(summary_line(message, dead))) if dry_run else None,
            on_progress=_progress,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        sys.stderr.write("\n")
    result = report.as_dict()
    result["interrupted"] = stop.is_set()
    return result


def run_from_archive(
    target: Target,
    where: ReplayFilter,
    *,
    prefix: str | None,
    dry_run: bool,
    limit: int | None,
    max_replays: int,
    allow_stale: bool = False,
) -> dict[str, Any]:
    """Archived dead letters (under ``prefix``, a day such as 2025-01-31 or a part of one) back to the queue.

    An object is deleted from the archive once SQS took its event, so running it twice does not queue
    anything twice. Ctrl-C stops before the next object."""
    from hubsync.deadletters.archive.reader import day_prefix
    from hubsync.deadletters.archive.replayer import ArchiveReplayer

    target.need("queue_url", "archive_bucket")
    stop = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if main else None
    try:
        replayer = ArchiveReplayer(
            client("s3"), str(target.archive_bucket), client("sqs"), str(target.queue_url), max_replays=max_replays
        )
        report = replayer.run(
            prefix=day_prefix(prefix),
            where=where,
            dry_run=dry_run,
            limit=limit,
            allow_stale=allow_stale,
            keep_going=lambda: not stop.is_set(),
            on_match=(lambda letter: print(f"{letter.key}  {letter.dead.category}")) if dry_run else None,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    result = report.as_dict()
    result["interrupted"] = stop.is_set()
    return result

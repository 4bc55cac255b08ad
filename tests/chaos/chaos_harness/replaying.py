"""The replay of the whole DLQ after the drain, as an operator does it, and the books after it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hubsync.deadletters.replay import Replayer
from hubsync_local.aws import client
from hubsync_local.stack import LocalStack

from .books import Books, check_refused, check_reports, check_state, read_dlq
from .pipeline import PipelineLog
from .scenario import INVALID, MISSING, OBJECT, POISON, SEED_VALUES, VALID, Scenario
from .waiting import wait_quiet


@dataclass
class ReplayLog:
    """The replay after the drain, and its books."""

    dlq_messages: int = 0  # in the DLQ when it began
    first_report: int = 0  # the first updater report after it began
    created: list[str] = field(default_factory=list)  # records created for the OBJECT_NOT_FOUND events
    report: Any = None  # hubsync.deadletters.replay.ReplayReport
    started: float = 0.0
    seconds: float = 0.0
    stuck: str = ""
    books: Books | None = None


def _set_mapping(stack: LocalStack, enabled: bool) -> None:
    """``hubsync pause`` / ``resume``: the updater's event source mapping off or on."""
    assert stack.aws_endpoint_url is not None
    client("lambda", stack.aws_endpoint_url).update_event_source_mapping(UUID=stack.mapping_id, Enabled=enabled)


def replay_dead_letters(stack: LocalStack, scenario: Scenario, pipeline: PipelineLog, before: Books) -> ReplayLog:
    """What an operator does once the pipeline is quiet: fix what can be fixed (create the records that were not
    found), pause the updater, replay the whole DLQ (every category present: no filter), resume, let it drain.

    Paused, so that the letters the replay itself causes (events refused again) cannot be picked up by the same
    scan and replayed a second time."""
    resources, poller = stack.resources, stack.poller
    assert resources is not None and poller is not None
    started = time.monotonic()
    log = ReplayLog(dlq_messages=sum(before.dlq_messages.values()), first_report=len(pipeline.reports))
    for record in scenario.missing:
        stack.simulator.add_record(OBJECT, dict(SEED_VALUES), record_id=record)
        log.created.append(record)
    _set_mapping(stack, enabled=False)
    seen = poller.paused_checks
    deadline = time.monotonic() + 30
    while (poller.paused_checks <= seen or poller.busy.is_set()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert poller.paused_checks > seen, "the poller never saw its mapping disabled"
    log.started = time.monotonic()
    log.report = Replayer(stack.sqs, resources.dlq_url, resources.queue_url).run()
    _set_mapping(stack, enabled=True)
    try:
        wait_quiet(stack, 60.0 + log.dlq_messages / 5)
    except AssertionError as exc:  # the books are still read and reported
        log.stuck = str(exc)
    log.seconds = time.monotonic() - started
    return log


def account_after_replay(
    stack: LocalStack, scenario: Scenario, before: Books, pipeline: PipelineLog, replay: ReplayLog
) -> Books:
    """The books once the replayed events settled: what could apply did (not found: the records exist now),
    what was refused is refused again and in the DLQ once more (invalid events by the updater's strict path),
    nothing else entered the DLQ, and HubSpot's state is last-write-wins over every applied event."""
    books = Books(sent=before.sent, accepted=before.accepted, rejected=before.rejected)
    report = replay.report
    moved_all = report is not None and report.moved == replay.dlq_messages and not report.refused
    books.check(moved_all and not report.failed, f"replayed {report and report.as_dict()} of {replay.dlq_messages}")
    read_dlq(stack, scenario, books)
    dead, dead_before = set(books.dead), set(before.dead)
    books.check(dead <= dead_before, f"dead-lettered after the replay only: {sorted(dead - dead_before)[:10]}")
    books.check(not books.replay_counts[0], f"{books.replay_counts[0]} DLQ messages were never replayed")
    by_category: dict[str, set[str]] = {}
    for event_id, category in books.dead.items():
        by_category.setdefault(category, set()).add(event_id)
    invalid, poison = scenario.ids_of(INVALID), scenario.ids_of(POISON)
    got_invalid = by_category.get("INVALID_EVENT", set())
    books.check(got_invalid == invalid, f"INVALID_EVENT after the replay: {sorted(got_invalid ^ invalid)[:10]} differ")
    not_found = by_category.get("OBJECT_NOT_FOUND", set())
    books.check(not not_found, f"OBJECT_NOT_FOUND after the records were created: {sorted(not_found)[:10]}")
    validation = by_category.get("VALIDATION_ERROR", set())
    books.check(poison <= validation, f"poison events applied by the replay: {sorted(poison - validation)[:10]}")
    books.check(validation <= set(before.dead), "VALIDATION_ERROR for events that were not dead-lettered before")
    books.casualties = validation - poison
    accepted_ids = scenario.ids_of(VALID, POISON, MISSING)
    books.applied = accepted_ids - dead
    dead_accepted = len(accepted_ids & dead)
    books.check(
        books.accepted == len(books.applied) + dead_accepted,
        f"after the replay: accepted {books.accepted} != {len(books.applied)} + {dead_accepted}",
    )
    check_state(stack, scenario, books, [*scenario.records, *replay.created])
    check_refused(stack, scenario, books)
    check_reports(pipeline.reports, books, first=replay.first_report)
    return books

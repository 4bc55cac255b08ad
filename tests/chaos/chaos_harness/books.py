"""The books after the drain: the receiver's answers, the DLQ, HubSpot's state against last-write-wins."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hubsync.deadletters.dlq import unwrap
from hubsync_local.stack import LocalStack
from support.aws import receive_all

from .pipeline import PipelineLog
from .scenario import (
    ALLOWED_DLQ_CATEGORIES,
    INVALID,
    MISSING,
    OBJECT,
    POISON,
    SEED_VALUES,
    TRACKED,
    VALID,
    Scenario,
    text_of,
)
from .sending import SendLog


@dataclass
class Books:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    applied: set[str] = field(default_factory=set)
    dead: dict[str, str] = field(default_factory=dict)  # eventId -> DLQ category
    dlq_messages: Counter[str] = field(default_factory=Counter)  # by category, duplicates included
    dlq_events: Counter[str] = field(default_factory=Counter)  # by category, distinct events
    casualties: set[str] = field(default_factory=set)  # valid events dead-lettered with a poison one
    reflected_dead: set[str] = field(default_factory=set)  # dead-lettered, yet HubSpot shows their value
    replay_counts: Counter[int] = field(default_factory=Counter)  # DLQ messages by their event's replayCount
    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)


def _check_answers(scenario: Scenario, log: SendLog, books: Books) -> None:
    for delivery in scenario.deliveries:
        answers = log.answers.get(delivery.msg_id, [])
        books.check(bool(answers), f"{delivery.msg_id}: no answer")
        if not answers:
            continue
        status, body = answers[0]
        books.check(status == 202, f"{delivery.msg_id}: answered {status} {body}")
        books.check(all(a == answers[0] for a in answers), f"{delivery.msg_id}: duplicates answered differently")
        if status != 202:
            continue
        # Counted once per webhook-id, however often it was delivered.
        books.accepted += int(body["accepted"])
        books.rejected += len(body["rejected"])
        books.check(body["accepted"] == delivery.valid, f"{delivery.msg_id}: accepted {body['accepted']}")
        rejected = sorted(item["index"] for item in body["rejected"])
        books.check(rejected == delivery.invalid_indexes, f"{delivery.msg_id}: rejected {rejected}")
    books.sent = len(scenario.events)


def read_dlq(stack: LocalStack, scenario: Scenario, books: Books) -> None:
    resources = stack.resources
    assert resources is not None
    for message in receive_all(stack.sqs, resources.dlq_url, delete=False):
        letter = unwrap(message["Body"])
        category = letter.category
        document = letter.document or {}
        event = letter.event if isinstance(letter.event, dict) else {}
        event_id = str(document.get("eventId") or event.get("eventId") or "?")
        books.dlq_messages[category] += 1
        count = event.get("replayCount", 0)
        books.replay_counts[count if isinstance(count, int) else -1] += 1
        if category not in ALLOWED_DLQ_CATEGORIES:
            cause = letter.error.get("cause")
            books.problems.append(f"DLQ {category} ({cause}) for {event_id}: {letter.error.get('message')}")
        previous = books.dead.setdefault(event_id, category)
        books.check(previous == category, f"{event_id} is in the DLQ as {previous} and as {category}")
    books.dlq_events.update(books.dead.values())


def _check_dlq(scenario: Scenario, books: Books) -> None:
    dead = books.dead
    by_category: dict[str, set[str]] = {}
    for event_id, category in dead.items():
        by_category.setdefault(category, set()).add(event_id)
    unknown = set(dead) - set(scenario.events)
    books.check(not unknown, f"DLQ entries for events never sent: {sorted(unknown)[:10]}")
    invalid, missing, poison = scenario.ids_of(INVALID), scenario.ids_of(MISSING), scenario.ids_of(POISON)
    got_invalid = by_category.get("INVALID_EVENT", set())
    books.check(got_invalid == invalid, f"INVALID_EVENT: {len(got_invalid)} in the DLQ, {len(invalid)} sent")
    got_missing = by_category.get("OBJECT_NOT_FOUND", set())
    books.check(got_missing == missing, f"OBJECT_NOT_FOUND: {sorted(got_missing ^ missing)[:10]} differ")
    validation = by_category.get("VALIDATION_ERROR", set())
    books.check(poison <= validation, f"poison events not in the DLQ: {sorted(poison - validation)[:10]}")
    # The documented cost of a poison value: the events merged into its record's input go with it.
    outsiders = {e for e in validation if scenario.events[e].get("id") not in scenario.poison_records}
    books.check(not outsiders, f"VALIDATION_ERROR for records without poison: {sorted(outsiders)[:10]}")
    books.casualties = validation - poison - outsiders


def _expected_state(scenario: Scenario, applied: set[str], records: list[str]) -> dict[str, dict[str, tuple[int, str]]]:
    """Last-write-wins by occurredAt, per property, over the applied events; the seed where none wrote.

    Order-free, so it holds for replayed events too: one older than what is stored is dropped as superseded,
    one newer is applied, and either way the newest applied value is the one HubSpot must show."""
    state = {record: {name: (-1, value) for name, value in SEED_VALUES.items()} for record in records}
    for event_id in applied:
        event = scenario.events[event_id]
        current = state[event["id"]]
        for name, value in event["properties"].items():
            if event["occurredAt"] > current[name][0]:
                current[name] = (event["occurredAt"], text_of(value))
    return state


def check_state(stack: LocalStack, scenario: Scenario, books: Books, records: list[str]) -> None:
    expected = _expected_state(scenario, books.applied, records)
    stored = stack.simulator.records(OBJECT)
    for record in records:
        actual = stored[record]["properties"]
        for name in TRACKED:
            at, want = expected[record][name]
            if actual.get(name) == want:
                continue
            # At-least-once: a casualty's value may have reached HubSpot before it was dead-lettered (a write
            # that timed out on the client; a batch applied, then the updater crashed and the retry merged it
            # with a poison event). Only such an event, newer than the expected winner, explains a difference.
            witnesses = {
                e
                for e in books.casualties
                if scenario.events[e]["id"] == record
                and scenario.events[e]["occurredAt"] > at
                and text_of(scenario.events[e]["properties"].get(name, object())) == actual.get(name)
            }
            books.reflected_dead |= witnesses
            books.check(bool(witnesses), f"record {record} {name}: HubSpot has {actual.get(name)!r}, LWW {want!r}")


def check_refused(stack: LocalStack, scenario: Scenario, books: Books) -> None:
    """No refused event was ever applied: HubSpot holds none of an invalid or poison event's (unique) values."""
    stored = stack.simulator.records(OBJECT)
    for event_id in sorted(scenario.ids_of(INVALID, POISON)):
        event = scenario.events[event_id]
        record = stored.get(str(event.get("id")))
        properties = event.get("properties")
        if record is None or not isinstance(properties, dict):
            continue
        for name, value in properties.items():
            applied = isinstance(value, str) and record["properties"].get(name) == value
            books.check(not applied, f"refused event {event_id} was applied: {event['id']} {name} = {value!r}")


def check_reports(reports: list[Any], books: Books, first: int = 0) -> None:
    """Each invocation's own books: every message applied, superseded, dead-lettered, re-queued or failed."""
    for n, report in enumerate(reports[first:], start=first):
        settled = (
            report.applied_events
            + report.superseded_events
            + sum(report.dead_lettered.values())
            + report.requeued
            + len(report.failed_message_ids)
        )
        books.check(settled == report.messages, f"invocation {n}: {report.messages} messages, {settled} settled")


def account(stack: LocalStack, scenario: Scenario, send_log: SendLog, pipeline: PipelineLog) -> Books:
    books = Books()
    _check_answers(scenario, send_log, books)
    read_dlq(stack, scenario, books)
    _check_dlq(scenario, books)
    accepted_ids = scenario.ids_of(VALID, POISON, MISSING)
    books.applied = accepted_ids - set(books.dead)
    dead = len(accepted_ids & set(books.dead))
    books.check(books.accepted == len(accepted_ids), f"accepted {books.accepted}, {len(accepted_ids)} valid sent")
    books.check(
        books.accepted == len(books.applied) + dead, f"accepted {books.accepted} != {len(books.applied)} + {dead}"
    )
    books.check(books.rejected == books.dlq_events["INVALID_EVENT"], "rejected events != INVALID_EVENT entries")
    books.check(set(books.replay_counts) <= {0}, f"replayed events in the DLQ before any replay: {books.replay_counts}")
    check_state(stack, scenario, books, scenario.records)
    check_refused(stack, scenario, books)
    check_reports(pipeline.reports, books)
    return books

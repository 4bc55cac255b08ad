"""The report table, the faults counted where they happened, the functions' warnings, the debug timeline."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hubsync_local.simulator.lies import LIE_MODES
from hubsync_local.stack import LocalStack

from .books import Books
from .pipeline import PipelineLog
from .program import FaultProgram
from .replaying import ReplayLog
from .scenario import INVALID, MISSING, POISON, Scenario, Size
from .sending import SendLog
from .state_faults import LOST_ANSWER, OUTAGE, Probes, StateFaults

PHASE_429_POLICY = {
    "429 storm (scripted TEN_SECONDLY_ROLLING)": "ten",
    "429 storm (simulator limiter, window taken)": "ten",
    "429 storm (scripted DAILY)": "daily",
    "429 storm (daily limit spent)": "daily",
}


@dataclass
class RunLogs:
    """Everything a run recorded, for the report."""

    size: Size
    scenario: Scenario
    send_log: SendLog
    program: FaultProgram
    pipeline: PipelineLog
    timings: dict[str, float] = field(default_factory=dict)
    function_warnings: Counter[str] = field(default_factory=Counter)  # the functions' WARNING+ log messages
    stuck: str = ""  # why the pipeline never quieted down, if it did not
    state_faults: StateFaults | None = None
    probes: Probes | None = None
    replay: ReplayLog | None = None


def batch_calls(stack: LocalStack) -> Counter[int]:
    """HubSpot's batch/update answers by status (0: connection reset)."""
    return Counter(call.status for call in stack.simulator.calls if call.path.endswith("/batch/update"))


def faults_injected(stack: LocalStack, logs: RunLogs) -> dict[str, int]:
    """Faults by kind, counted where they happened: the simulator's call log, the updater's reports, the wrappers."""
    statuses = batch_calls(stack)
    every = stack.simulator.calls
    by_policy: Counter[str] = Counter()
    for phase in logs.program.log:
        policy = PHASE_429_POLICY.get(phase.name)
        if policy:
            by_policy[policy] += sum(call.status == 429 for call in every[phase.first_call : phase.end_call])
    # The Delivery's own counts: an invocation that crashed returned no report, but its calls were counted.
    transport = logs.pipeline.updater.delivery.stats.by_status["transport"]
    jobs = logs.scenario.jobs
    drawn = logs.program.drawn
    state = logs.state_faults
    lies = {f"lying 2xx answer: {mode}": drawn[f"lie:{mode}"] for mode in LIE_MODES}
    return {
        "HubSpot 5xx answers": sum(n for status, n in statuses.items() if 500 <= status <= 599),
        "HubSpot 477 (Retry-After)": statuses[477],
        # Outside the storms a 429 can only come from the simulator's own (ten-secondly) limiter.
        "HubSpot 429 TEN_SECONDLY_ROLLING": statuses[429] - by_policy["daily"],
        "HubSpot 429 DAILY": by_policy["daily"],
        "connection resets": statuses[0],
        # A late request is a timeout too (its answer comes after the client gave up): counted on its own below.
        "timeouts (answers slower than the 1 s read timeout)": transport - statuses[0] - drawn["late"],
        "207 partial answers (records not found)": statuses[207],
        "400 whole-batch rejections (poison values)": statuses[400],
        "updater crashes after HubSpot applied, before the record state": logs.pipeline.early_crashes,
        "updater crashes after the handler, before answering SQS": logs.pipeline.crashes,
        "duplicate SQS deliveries (copies sent)": logs.pipeline.duplicate_copies,
        "duplicate webhook deliveries, later": sum(job.repeat for job in jobs),
        "duplicate webhook deliveries, concurrent": sum(job.concurrent_twin for job in jobs),
        **lies,
        "late answers (applied after the client timed out)": drawn["late"],
        "DynamoDB outage right after HubSpot applied (commits failed)": state.after_applied[OUTAGE] if state else 0,
        "DynamoDB commit took effect, answer lost (commits failed)": state.after_applied[LOST_ANSWER] if state else 0,
        "older events sent after a failed commit (probes)": logs.probes.sent if logs.probes else 0,
    }


def _event_rows(scenario: Scenario, books: Books, send_log: SendLog) -> list[tuple[str, Any]]:
    dead_accepted = len(set(books.dead) - scenario.ids_of(INVALID))
    poison, missing = len(scenario.ids_of(POISON)), len(scenario.ids_of(MISSING))
    return [
        ("sent (deliveries / posts)", f"{books.sent} ({len(scenario.deliveries)} / {send_log.posts})"),
        ("receiver answers 409 delivery_in_progress / 503", f"{send_log.conflicts} / {send_log.unavailable}"),
        ("rejected at receipt (INVALID_EVENT)", books.rejected),
        ("accepted", books.accepted),
        ("applied", len(books.applied)),
        ("dead-lettered (accepted events)", dead_accepted),
        ("  poison / not found / merged with poison", f"{poison} / {missing} / {len(books.casualties)}"),
        ("  dead-lettered, yet HubSpot shows their value", len(books.reflected_dead)),
        ("accepted = applied + dead-lettered", f"{books.accepted} = {len(books.applied)} + {dead_accepted}"),
    ]


def _pipeline_rows(stack: LocalStack, logs: RunLogs) -> list[tuple[str, Any]]:
    statuses = batch_calls(stack)
    reports = logs.pipeline.reports
    stats = logs.pipeline.updater.delivery.stats
    counts = logs.pipeline.receive_counts
    return [
        ("## HubSpot calls (batch/update)", ""),
        ("total", sum(statuses.values())),
        ("200 / 207 / 400", f"{statuses[200]} / {statuses[207]} / {statuses[400]}"),
        ("isolation calls (bisection)", stats.isolation_calls),
        ("## retries", ""),
        ("retries within an invocation", stats.retries),
        ("redeliveries (batchItemFailures; crashes aside)", sum(r.retried_later for r in reports)),
        ("re-queued, delayed (daily limit)", sum(r.requeued for r in reports)),
        ("updater invocations", logs.pipeline.invocations),
        ("most receives of one message", max(counts, default=0)),
        ("superseded values (older than applied ones)", sum(r.superseded_values for r in reports)),
        ("inputs a 2xx answer did not prove (retried)", stats.unproven),
        ("records held in doubt, deferred (LEASED)", sum(r.deferred_records for r in reports)),
    ]


def _replay_rows(logs: RunLogs, books: Books) -> list[tuple[str, Any]]:
    replay = logs.replay
    if replay is None or replay.books is None or replay.report is None:
        return [("## the replay", ""), ("not run", replay.stuck if replay else "")]
    after, report = replay.books, replay.report
    dead_accepted = len(set(after.dead) - logs.scenario.ids_of(INVALID))
    return [
        ("## the replay (every DLQ category, after the drain)", ""),
        ("records created (for OBJECT_NOT_FOUND)", len(replay.created)),
        ("DLQ messages moved / refused / failed", f"{report.moved} / {report.refused} / {report.failed}"),
        *[(f"  {category}", n) for category, n in sorted(report.by_category.items())],
        ("events applied by the replay", len(after.applied - books.applied)),
        ("refused again (events / messages)", f"{len(after.dead)} / {sum(after.dlq_messages.values())}"),
        *[
            (f"  {name}", f"{after.dlq_events[name]} / {after.dlq_messages[name]}")
            for name in sorted(after.dlq_messages)
        ],
        ("accepted = applied + dead-lettered", f"{after.accepted} = {len(after.applied)} + {dead_accepted}"),
        ("  dead-lettered, yet HubSpot shows their value", len(after.reflected_dead)),
        ("replay until quiet", f"{replay.seconds:.1f} s"),
    ]


def report_table(stack: LocalStack, books: Books, logs: RunLogs) -> str:
    size, program = logs.size, logs.program
    phase_seconds: Counter[str] = Counter()
    for phase in program.log:
        phase_seconds[phase.name] += phase.seconds
    rows: list[tuple[str, Any]] = [
        ("## run", ""),
        ("events / records (seed)", f"{size.events} / {size.records} ({size.seed})"),
        ("fault phases run (kinds)", f"{len(program.log)} ({len(phase_seconds)})"),
        ("## faults injected", ""),
        *faults_injected(stack, logs).items(),
        ("## events", ""),
        *_event_rows(logs.scenario, books, logs.send_log),
        ("## DLQ by category (events / messages)", ""),
        *[(name, f"{books.dlq_events[name]} / {books.dlq_messages[name]}") for name in sorted(books.dlq_messages)],
        *_pipeline_rows(stack, logs),
        *_replay_rows(logs, books),
        ("## time", ""),
        *[(name, f"{seconds:.1f} s") for name, seconds in logs.timings.items()],
        ("## fault phases (seconds on, in total)", ""),
        *[(name, f"{seconds:.1f} s") for name, seconds in phase_seconds.items()],
    ]
    width = max(len(name) for name, _ in rows) + 2
    rule = "=" * (width + 22)
    lines = ["", rule, "chaos run: the books", rule]
    for name, value in rows:
        lines.append(f"-- {name[3:]}" if name.startswith("## ") else f"{name:<{width}}{value}")
    if logs.function_warnings:
        lines.append("-- the functions' warnings and errors (count: message)")
        lines += [f"{n:>5}: {message[:110]}" for message, n in logs.function_warnings.most_common(12)]
    lines.append(rule)
    return "\n".join(lines)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.found[f"{record.levelname} {record.name}: {record.getMessage()}"] += 1


@contextlib.contextmanager
def collect_warnings(level: str = "WARNING") -> Iterator[Counter[str]]:
    """The functions' warnings and errors (the ``hubsync`` loggers, the functions' Powertools logger), by message.

    Meanwhile the ``hubsync`` logger logs at ``level`` (not a line per request and per batch); its level is
    restored after, as the logger is shared by every test in the session."""
    collector = _Collector()
    logger = logging.getLogger("hubsync")
    saved = logger.level
    logger.setLevel(level)
    logger.addHandler(collector)
    try:
        yield collector.found
    finally:
        logger.removeHandler(collector)
        logger.setLevel(saved)


def timeline(logs: RunLogs) -> str:
    """Phases and updater invocations in time order (``CHAOS_DEBUG=1``): which fault cost which receives."""
    rows = [(phase.started, f"phase {phase.name} ({phase.seconds:.1f} s)") for phase in logs.program.log]
    rows += [
        (at, f"    {messages} messages, most receives {receives}: {what}")
        for at, messages, receives, what in logs.pipeline.timeline
    ]
    rows += logs.send_log.timeline
    if logs.replay is not None and logs.replay.report is not None:
        rows.append((logs.replay.started, f"replay of the DLQ: {logs.replay.report.as_dict()}"))
    first = min((at for at, _ in rows), default=0.0)
    return "\n".join(f"{at - first:7.1f} {text}" for at, text in sorted(rows))

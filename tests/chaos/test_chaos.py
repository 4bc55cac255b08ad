"""Chaos through the local stack: thousands of events while HubSpot, SQS and the updater fail, then the books.

Size: ``CHAOS_EVENTS`` / ``CHAOS_RECORDS`` (600 over 80 by default, as in ``make test``; ``make chaos`` runs
4,000 over 300), and ``CHAOS_SEED``. ``CHAOS_LOG_LEVEL`` (default WARNING) is the functions' log level during the run;
``CHAOS_DEBUG=1`` adds the timeline of fault phases and updater invocations to the report. The report table
is printed to the terminal with ``-s`` (``make chaos``), and is part of the output of a failure otherwise.

What must hold when the pipeline is quiet again (see chaos_harness for the faults):

- every delivery answered 202, duplicates with the first answer; accepted counted once per webhook-id;
- accepted = applied + dead-lettered, and rejected = INVALID_EVENT entries;
- the DLQ holds only INVALID_EVENT, OBJECT_NOT_FOUND and VALIDATION_ERROR: nothing for a transient fault;
  every not-found and every poison event is there, and VALIDATION_ERROR only for records with a poison value
  (the events merged with it go with it, as documented);
- HubSpot's state equals last-write-wins (per property, by occurredAt) over the applied events, and the seed
  where none wrote;
- no refused event (invalid, poison) ever reached HubSpot;
- every updater invocation settled each of its messages exactly once (its own report);
- every kind of fault was injected at least once (HubSpot's, SQS's, the updater's crashes, every lying mode, a
  late answer, both DynamoDB faults, and the older events sent after them).

Then the whole DLQ is replayed (every category present), the missing records created first, and once the
pipeline is quiet again:

- every DLQ message was moved; INVALID_EVENT holds exactly the invalid events again, each refused anew by the
  updater's strict path (none applied: the one dated years ahead included); OBJECT_NOT_FOUND is empty (those
  events applied, or were superseded by newer ones of the same record); VALIDATION_ERROR holds every poison
  event again, and nothing entered the DLQ that was not there before;
- accepted = applied + dead-lettered, and HubSpot's state is last-write-wins over every applied event, the
  replayed ones included (one older than the stored value is superseded: LWW is order-free, so the same
  expectation holds);
- every updater invocation of the replay settled each of its messages exactly once.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator

import pytest
from chaos_harness import (
    FUNCTION_ENVIRONMENT,
    SIMULATOR_LIMIT,
    FaultProgram,
    PipelineFaults,
    Probes,
    ReplayLog,
    RunLogs,
    Sender,
    SendLog,
    Size,
    account,
    account_after_replay,
    build_scenario,
    collect_warnings,
    faults_injected,
    replay_dead_letters,
    report_table,
    settled,
    timeline,
    wait_quiet,
)

from hubsync_local.aws import MotoServer
from hubsync_local.stack import LocalStack
from support.stack import stack_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def chaos_stack(moto_server: MotoServer) -> Iterator[LocalStack]:
    config = stack_config(
        moto_server.url,
        "chaos",
        visibility_timeout=2,  # a crashed batch comes back after 2 s
        window_seconds=0.5,
        extra_environment=FUNCTION_ENVIRONMENT,
        start_poller=False,
    )
    with LocalStack(config) as local:
        local.simulator.set_rate_limit(*SIMULATOR_LIMIT)
        yield local


def run_chaos(stack: LocalStack, size: Size) -> RunLogs:
    started = time.monotonic()
    scenario = build_scenario(stack, size, random.Random(size.seed))
    pipeline = PipelineFaults(stack, random.Random(size.seed + 1), max_crashes=max(4, size.events // 200))
    pipeline.install()
    assert stack.poller is not None
    stack.poller.start()
    state_faults = pipeline.state_faults
    assert state_faults is not None
    program = FaultProgram(stack, size.cycles, settled_since=settled(stack, pipeline.log), state_faults=state_faults)
    logs = RunLogs(size, scenario, SendLog(), program, pipeline.log, state_faults=state_faults)
    sender = Sender(stack, logs.send_log)
    logs.probes = Probes(scenario, sender, state_faults)
    program.start()
    sender.run(scenario.jobs, size.send_seconds, gate=program.wait_for)
    program.join(timeout=120)
    logs.timings["set-up, sending and faults"] = sent = time.monotonic() - started
    try:
        wait_quiet(stack, size.drain_seconds)
    except AssertionError as exc:  # the books are still read and reported
        logs.stuck = str(exc)
    logs.timings["then until quiet"] = time.monotonic() - started - sent
    logs.timings["total"] = time.monotonic() - started
    return logs


# capsys after the stack: the functions' Powertools logger keeps the stream it first saw for the whole session,
# and capsys's is closed when this test ends.
def test_chaos_books_balance(
    chaos_stack: LocalStack, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    size = Size.from_env()
    with collect_warnings(os.environ.get("CHAOS_LOG_LEVEL", "WARNING")) as warnings:
        logs = run_chaos(chaos_stack, size)
        books = account(chaos_stack, logs.scenario, logs.send_log, logs.pipeline)
        if not logs.stuck:
            try:
                logs.replay = replay = replay_dead_letters(chaos_stack, logs.scenario, logs.pipeline, books)
                replay.books = account_after_replay(chaos_stack, logs.scenario, books, logs.pipeline, replay)
            except Exception as exc:  # reported below, with the table
                logs.replay = ReplayLog(stuck=f"the replay failed: {exc!r}")
    logs.function_warnings = warnings
    capsys.readouterr()  # the functions' EMF metrics on stdout: noise here (their warnings are collected)
    table = report_table(chaos_stack, books, logs)
    if os.environ.get("CHAOS_DEBUG"):
        table = timeline(logs) + "\n" + table
    if request.config.getoption("capture") == "no":
        with capsys.disabled():
            print(table)
    else:
        print(table)  # shown with a failure
    assert not logs.stuck, logs.stuck
    assert not books.problems, "the books do not balance:\n" + "\n".join(books.problems[:40])
    assert logs.replay is not None
    assert not logs.replay.stuck, f"after the replay: {logs.replay.stuck}"
    assert logs.replay.books is not None
    after = logs.replay.books.problems
    assert not after, "the books do not balance after the replay:\n" + "\n".join(after[:40])
    missing = [name for name, count in faults_injected(chaos_stack, logs).items() if not count]
    assert not missing, f"faults never injected: {missing}"

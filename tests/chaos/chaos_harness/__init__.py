"""The chaos run: many events through the local stack while HubSpot, SQS and the updater misbehave.

Pieces (the random choices come from generators seeded with ``CHAOS_SEED``; the timing is the machine's):

- ``scenario``: ``Scenario``: records (seeded in the simulator), records that do not exist (207 OBJECT_NOT_FOUND),
  records that receive poison values (whole-batch 400, bisection), the events (distinct occurredAt times, shuffled
  against the send order; the invalid ones include one dated years ahead, shaped as the receiver queues events), the
  webhook deliveries, and which of them are delivered twice.
- ``sending``: ``Sender``: signs and posts the deliveries, paced over the run, some twice with the same webhook-id
  (later, or concurrently: the receiver answers 409 to one of the two until the first is recorded).
- ``program``: ``FaultProgram``: phases of faults, one at a time with calm gaps. At the simulator: 5xx bursts, 429
  storms of both policies (scripted answers, the simulator's own ten-secondly limiter, a spent daily limit),
  connection resets, slow answers past the updater's read timeout, a scripted mix with ``Retry-After``, lying 2xx
  answers (every mode of simulator/lies.py, scripted, then at random), a late answer (the write lands after the
  client gave up). At DynamoDB (``state_faults.StateFaults``, on the updater's own client): an outage of the
  record-state commit right after HubSpot applied, and a commit that took effect whose answer was lost; after each,
  ``state_faults.Probes`` sends older events for the records concerned, which would win were the applied events
  acknowledged.
- ``pipeline``: ``PipelineFaults``: wraps the poller's handler and the updater's record-state commit: the updater
  may die (raise: the poller then fails the whole batch) right after HubSpot's answer, before the applied times are
  stored, the DLQ written and SQS answered; or after the real handler returned, before the poller answers SQS. It
  also sends copies of processed messages to the queue again (at-least-once delivery).
- ``books``: ``account``: when the pipeline is quiet, reads the DLQ and HubSpot's state and balances the books.
- ``replaying``: ``replay_dead_letters`` / ``account_after_replay``: then, as an operator would, creates the records
  that were not found, replays the whole DLQ (hubsync.deadletters.replay.Replayer, the updater paused meanwhile),
  lets it drain, and balances the books again: what can apply now did, what was refused is refused again, LWW still
  holds.
- ``waiting``: until the pipeline is quiet; ``report``: the table printed with the books.
"""

from .books import account
from .pipeline import PipelineFaults
from .program import FUNCTION_ENVIRONMENT, SIMULATOR_LIMIT, FaultProgram
from .replaying import ReplayLog, account_after_replay, replay_dead_letters
from .report import RunLogs, collect_warnings, faults_injected, report_table, timeline
from .scenario import Size, build_scenario
from .sending import Sender, SendLog
from .state_faults import Probes
from .waiting import settled, wait_quiet

__all__ = [
    "FUNCTION_ENVIRONMENT",
    "SIMULATOR_LIMIT",
    "FaultProgram",
    "PipelineFaults",
    "Probes",
    "ReplayLog",
    "RunLogs",
    "SendLog",
    "Sender",
    "Size",
    "account",
    "account_after_replay",
    "build_scenario",
    "collect_warnings",
    "faults_injected",
    "replay_dead_letters",
    "report_table",
    "settled",
    "timeline",
    "wait_quiet",
]

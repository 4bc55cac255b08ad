"""Load: the webhook front under concurrent signed deliveries, and the updater draining a 100,000-event backlog.

1. Webhook. The local stack runs as ``make run`` runs it (``python -m hubsync_local``: a child process, with
   moto's server as its own child), on free ports, with a known webhook secret. The updater's event source
   mapping is paused (``hubsync pause``) so that the updater does not share the receiver's process. Consumer
   threads in this process take its place: they receive and delete. moto's SQS slows down as a queue fills,
   so the queue has to be kept short. The load generator is a second child process
   (``bench._load_worker client``). It runs CONCURRENCY client threads, each with one keep-alive session,
   sending signed Standard Webhooks deliveries of EVENTS_PER_REQUEST events back to back, each with a unique
   ``webhook-id``. A run stops after REQUESTS requests or SECONDS, whichever comes first. One warm-up run
   comes before the measured runs. The client measures latency, from sending a request to reading the whole
   answer. CPU of the front (gateway + receiver) and of moto comes from /proc. The baseline is the same load
   against the local gateway's own HTTP server answering 202 at once (``bench._load_worker bare``), the
   transport ceiling of this machine. Errors (a status other than 202, an answer that does not accept every
   event, an exception) must be 0. Every accepted event must have been queued, and the DLQ must be empty.
2. Updater drain. DRAIN_EVENTS events over DRAIN_RECORDS records, with fixed seeds: every record once, the
   rest Zipf-like (the k-th record drawn with weight 1/k), shuffled. The bodies are exactly as the receiver
   queues them. They go to the updater's own handler (``load_handler``) as SQS events of the template's
   BatchSize, one after another. The local queue emulator is not what is measured. HubSpot is the
   simulator's CLI in a child process (no latency, a limit too high to pace anything). The DLQ is moto's
   server, also a child. The big drain has no record state table (moto's transactions over a 10,000-record
   table are too slow for it); a smaller one (STATE_DRAIN_EVENTS over STATE_DRAIN_RECORDS) runs twice in the
   same run, with the record state (as deployed: moto's DynamoDB made atomic) and without. Reported:
   events/s (wall time of the handler calls); CPU per event (``time.process_time()`` of this process, the
   updater's threads included); HubSpot calls against the lower bound, the sum over batches of ceil(distinct
   records in the batch / 100); the handler's own EventsApplied metric; and the simulator's final state of
   every record.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._support import (
    FIRST_RECORD_ID,
    OBJECT,
    ROOT,
    Headline,
    SimulatorProcess,
    environment,
    event_body,
    now_ms,
    record_ids,
    sqs_event,
    table,
    updater_environment,
)
from hubsync_local.aws import MotoServer, client, free_port
from hubsync_local.lambda_runtime import LambdaContext, load_handler
from hubsync_local.processes import stop_process
from hubsync_local.stack import new_webhook_secret
from hubsync_local.template import Template

# 1. webhook
CONCURRENCY = (1, 4)  # client threads of the load generator, one measured run each
EVENTS_PER_REQUEST = 10
REQUESTS = 2_000  # per run, or
SECONDS = 10.0  # whichever ends first
WARMUP_REQUESTS = 40  # before the measured runs: the receiver's first-request set-up (secrets, clients)
WEBHOOK_RECORDS = 10_000
# 2. updater drain
DRAIN_EVENTS = 100_000
DRAIN_RECORDS = 10_000
STATE_DRAIN_EVENTS = 20_000
STATE_DRAIN_RECORDS = 2_000
SEED = 20_251_128
HEADERS_ONLY_LIMIT = ("--rate-limit", "1000000", "--interval-ms", "10000")
START_TIMEOUT = 90.0


# -- child processes ---------------------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc), None when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# How the local stack starts moto (hubsync_local.aws.MotoServer), to find its process in /proc.
MOTO_COMMAND = "hubsync_local.moto_main"


def _children(pid: int, needle: str) -> list[int]:
    """Processes whose parent is ``pid`` and whose command line contains ``needle``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            command = entry.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and needle in command:
            found.append(int(entry.name))
    return found


def _is_running(pid: int, needle: str) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return needle in command and state != "Z"


def _end_orphan(pid: int, needle: str) -> None:
    """Ends a grandchild (moto under the stack) left behind if the stack could not stop it itself."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _is_running(pid, needle):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _is_running(pid, needle):
            time.sleep(0.1)


class _Stack:
    """``python -m hubsync_local`` in a child process, on free ports, with a known webhook secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.process: subprocess.Popen[bytes] | None = None
        self.moto_pid: int | None = None
        self.info: dict[str, str] = {}
        self._log = tempfile.NamedTemporaryFile(prefix="hubsync-bench-stack-", suffix=".log")  # noqa: SIM115

    def start(self) -> None:
        env = {
            **os.environ,
            "LOCAL_GATEWAY_PORT": str(free_port()),
            "LOCAL_SIMULATOR_PORT": str(free_port()),
            "WEBHOOK_SECRETS": self.secret,
        }
        for name in ("WEBHOOK_SOURCES", "HUBSPOT_BASE_URL", "HUBSPOT_ACCESS_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hubsync_local"], stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = Path(self._log.name).read_text(errors="replace")
            if "Send a signed sample event" in text:  # the banner is printed in one write
                self.info = _banner(text)
                break
            if self.process.poll() is not None:
                raise RuntimeError(f"the local stack exited with {self.process.returncode}: {text[-2000:]}")
            time.sleep(0.2)
        else:
            raise RuntimeError("the local stack did not print its banner in time")
        moto = _children(self.process.pid, MOTO_COMMAND)
        self.moto_pid = moto[0] if moto else None

    def stop(self) -> None:
        if self.process is not None:
            if self.moto_pid is None:  # stopped before the banner: find moto now, in case it outlives the stack
                self.moto_pid = next(iter(_children(self.process.pid, MOTO_COMMAND)), None)
            stop_process(self.process, timeout_seconds=30)
            self.process = None
        if self.moto_pid is not None:
            _end_orphan(self.moto_pid, MOTO_COMMAND)
        self._log.close()


def _banner(text: str) -> dict[str, str]:
    """The URLs ``make run`` prints: webhook, AWS emulator, queue, DLQ."""
    labels = {"webhook": "webhook", "AWS emulator": "aws", "queue": "queue", "DLQ": "dlq"}
    info = {}
    for line in text.splitlines():
        for label, key in labels.items():
            words = line.strip().split()
            if line.startswith(f"  {label} ") and key not in info:
                info[key] = next(word for word in words if word.startswith("http://"))
    if set(info) != set(labels.values()):
        raise RuntimeError(f"the banner lacks a URL: {info}")
    return info


@contextlib.contextmanager
def _bare_server() -> Iterator[tuple[str, int]]:
    command = [sys.executable, "-m", "bench._load_worker", "bare", str(EVENTS_PER_REQUEST)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"the bare server did not start: {line!r}")
        yield line.rsplit("listening on ", 1)[1].strip(), process.pid
    finally:
        stop_process(process, timeout_seconds=30)
        if process.stdout is not None:
            process.stdout.close()


def _load(url: str, secret: str, clients: int, requests: int, seconds: float) -> dict[str, Any]:
    """One run of the load generator (its own process), ended within ``seconds`` + a margin."""
    config = {
        "url": url,
        "secret": secret,
        "clients": clients,
        "requests": requests,
        "seconds": seconds,
        "events": EVENTS_PER_REQUEST,
        "records": WEBHOOK_RECORDS,
        "first_record": FIRST_RECORD_ID,
    }
    command = [sys.executable, "-m", "bench._load_worker", "client", json.dumps(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    try:
        out, _ = process.communicate(timeout=seconds + 90)
    finally:
        stop_process(process, timeout_seconds=30)
    if process.returncode != 0:
        raise RuntimeError(f"the load client exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# -- 1. webhook --------------------------------------------------------------------------------------------
def _runs(
    url: str, secret: str, pids: dict[str, int | None], consumers: _Consumers | None = None
) -> dict[str | int, Any]:
    """A warm-up run, then one measured run per concurrency, each with the CPU the server processes used."""
    if consumers is not None:
        consumers.grow(1)
    warm = _load(url, secret, 1, WARMUP_REQUESTS, SECONDS)
    results: dict[str | int, Any] = {
        "warmup_events": warm["events_accepted"],
        "warmup_errors": sum(warm["errors"].values()),
    }
    for clients in CONCURRENCY:
        if consumers is not None:
            consumers.grow(clients)
        before = {name: _cpu_seconds(pid) if pid else None for name, pid in pids.items()}
        result = _load(url, secret, clients, REQUESTS, SECONDS)
        for name, pid in pids.items():
            after, start = (_cpu_seconds(pid) if pid else None), before[name]
            result[f"cpu_{name}"] = None if after is None or start is None else after - start
        results[clients] = result
    return results


def _pause_updater(aws_url: str) -> None:
    """``hubsync pause``: disable the updater's event source mapping, then let the poller notice."""
    lam = client("lambda", aws_url)
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    if len(mappings) != 1:
        raise RuntimeError(f"expected one event source mapping, found {len(mappings)}")
    lam.update_event_source_mapping(UUID=mappings[0]["UUID"], Enabled=False)
    time.sleep(2.0)  # the poller checks the mapping before each poll; an empty poll waits 1 s


def _depth(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


class _Consumers:
    """Stand in for the paused updater's pollers: threads that receive and delete, 10 messages a call.

    moto's SQS goes over every message a queue holds on each send and receive, so a queue left to fill makes
    each send slower than the last, and one consumer behind four senders falls further behind. So there are as
    many consumer threads as client threads (as Lambda adds pollers), each taking 10 at a time and waiting 0.1 s
    when fewer were there: the queue stays short, as running updaters would keep it. Every message taken is
    noted, to check that every accepted event was queued.
    """

    def __init__(self, aws_url: str, queue_url: str) -> None:
        self._aws_url = aws_url
        self._url = queue_url
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.keys: set[str] = set()  # webhook-id + event: what the sender sent
        self.message_ids: set[str] = set()  # SQS's message ids: what the receiver queued
        self.taken = 0
        self.errors = 0

    def grow(self, count: int) -> None:
        while len(self._threads) < count:
            thread = threading.Thread(target=self._run, name=f"load-consumer-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        sqs = client("sqs", self._aws_url)
        while True:
            try:
                messages = sqs.receive_message(
                    QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=300
                ).get("Messages", [])
                if messages:
                    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                    sqs.delete_message_batch(QueueUrl=self._url, Entries=entries)
            except Exception:  # counted; the final depth check shows anything left behind
                with self._lock:
                    self.errors += 1
                messages = []
            documents = [json.loads(message["Body"]) for message in messages]
            with self._lock:
                self.taken += len(documents)
                self.message_ids.update(message["MessageId"] for message in messages)
                self.keys.update(f"{d.get('webhookId')}|{d['properties'].get('property_string')}" for d in documents)
            if len(messages) < 10:
                if self._stopping.is_set() and not messages:
                    return  # the load is over and the queue is empty
                time.sleep(0.1)

    def finish(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)


def run_webhook() -> dict[str, Any]:
    secret = new_webhook_secret()
    with _bare_server() as (bare_url, bare_pid):
        bare = _runs(f"{bare_url}/webhooks", secret, {"front": bare_pid})
    stack = _Stack(secret)
    consumers: _Consumers | None = None
    try:
        stack.start()
        assert stack.process is not None
        _pause_updater(stack.info["aws"])
        consumers = _Consumers(stack.info["aws"], stack.info["queue"])
        pids = {"front": stack.process.pid, "moto": stack.moto_pid}
        receiver = _runs(stack.info["webhook"], secret, pids, consumers)
        consumers.finish()
        sqs = client("sqs", stack.info["aws"])
        queue = {
            "left": _depth(sqs, stack.info["queue"]),
            "dlq": _depth(sqs, stack.info["dlq"]),
            "taken": consumers.taken,
            "distinct": len(consumers.keys),
            "messages": len(consumers.message_ids),
            "consumer_errors": consumers.errors,
        }
    finally:
        if consumers is not None:
            consumers.finish()
        stack.stop()
    return {"bare": bare, "receiver": receiver, "queue": queue}


def _per_request_ms(run: dict[str, Any], key: str) -> str:
    value = run.get(key)
    return "-" if value is None or not run["answered"] else f"{value / run['answered'] * 1000:.2f}"


def report_webhook(result: dict[str, Any]) -> list[Headline]:
    bare, receiver, queue = result["bare"], result["receiver"], result["queue"]
    print(
        f"signed deliveries of {EVENTS_PER_REQUEST} events, {REQUESTS:,} requests or {SECONDS:g} s per run, each "
        "client thread with one keep-alive connection (the load generator is its own process); latency measured "
        "by the client; CPU ms per request from /proc (moto's includes the stand-in consumers' receives and deletes)"
    )
    rows = []
    for name, runs in (
        ("bare HTTP (gateway server, 202 at once)", bare),
        ("receiver (make run stack, moto)", receiver),
    ):
        for clients in CONCURRENCY:
            run = runs[clients]
            rows.append(
                (
                    name,
                    clients,
                    run["sent"],
                    run["answered"] / run["seconds"],
                    run["events_accepted"] / run["seconds"],
                    run["p50_ms"],
                    run["p99_ms"],
                    run["max_ms"],
                    sum(run["errors"].values()),
                    _per_request_ms(run, "cpu_front"),
                    _per_request_ms(run, "cpu_moto"),
                    _per_request_ms(run, "client_cpu_seconds"),
                )
            )
    table(
        (
            "case",
            "clients",
            "requests",
            "req/s",
            "events/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
            "CPU front",
            "CPU moto",
            "CPU client",
        ),
        rows,
    )
    errors = receiver["warmup_errors"] + sum(sum(receiver[c]["errors"].values()) for c in CONCURRENCY)
    bare_errors = bare["warmup_errors"] + sum(sum(bare[c]["errors"].values()) for c in CONCURRENCY)
    if errors or bare_errors:
        print(
            "errors:",
            {c: receiver[c]["errors"] for c in CONCURRENCY},
            "bare:",
            {c: bare[c]["errors"] for c in CONCURRENCY},
        )
    expected = receiver["warmup_events"] + sum(receiver[c]["events_accepted"] for c in CONCURRENCY)
    queued = queue["distinct"] + queue["left"]
    complete = queued == expected and queue["dlq"] == 0
    print(
        f"queue: {expected:,} events accepted (warm-up included); the stand-in consumers took {queue['taken']:,} "
        f"messages: {queue['messages']:,} distinct SQS messages holding {queue['distinct']:,} distinct events "
        f"({queue['taken'] - queue['messages']} taken twice by concurrent receives, "
        f"{queue['messages'] - queue['distinct']} events queued twice), {queue['consumer_errors']} failed calls, "
        f"{queue['left']} left; DLQ: {queue['dlq']}"
    )
    ratios, headlines = [], []
    for clients in CONCURRENCY:
        mine, base = receiver[clients], bare[clients]
        throughput = (mine["answered"] / mine["seconds"]) / (base["answered"] / base["seconds"])
        latency = mine["p50_ms"] / base["p50_ms"]
        label = f"{clients} client{'s' if clients > 1 else ''}"
        ratios += [
            (f"receiver req/s / bare HTTP req/s, {label}", throughput),
            (f"receiver p50 / bare HTTP p50, {label}", latency),
            (f"receiver p99 / bare HTTP p99, {label}", mine["p99_ms"] / base["p99_ms"]),
        ]
        headlines += [
            Headline("load", f"webhook req/s receiver / bare HTTP, {label}", throughput, "-", None),
            Headline("load", f"webhook p50 latency receiver / bare HTTP, {label}", latency, "-", None),
        ]
    queued_ratio = queued / expected if expected else 0.0
    ratios.append(("distinct events queued / events accepted", queued_ratio))
    table(("ratio", "measured"), ratios)
    return [
        Headline("load", "webhook errors (non-202, exceptions)", errors, "0", errors == 0),
        Headline("load", "webhook events queued / accepted", queued_ratio, "1.00", complete),
        *headlines,
    ]


# -- 2. updater drain --------------------------------------------------------------------------------------
def drain_targets(events: int = DRAIN_EVENTS, records: int = DRAIN_RECORDS) -> list[str]:
    """Which record each event touches: every record once, the rest Zipf-like (weight 1/k), shuffled."""
    ids = record_ids(records)
    rng = random.Random(SEED)
    targets = ids + rng.choices(ids, weights=[1 / (k + 1) for k in range(len(ids))], k=events - len(ids))
    rng.shuffle(targets)
    return targets


def _emf_sum(text: str, metric: str) -> int:
    """The sum of one metric over the EMF documents the handler printed."""
    total = 0
    for line in text.splitlines():
        if not line.startswith("{") or f'"{metric}"' not in line:
            continue
        value = json.loads(line).get(metric)
        total += int(sum(value) if isinstance(value, list) else value or 0)
    return total


def drain(
    sim: SimulatorProcess, targets: list[str], batches: int, batch_size: int, timeout: int, records: int = DRAIN_RECORDS
) -> dict[str, Any]:
    """The updater's handler over ``batches`` SQS events of ``batch_size``; the caller sets the env (DLQ, token)."""
    start = now_ms() - len(targets)
    os.environ["HUBSPOT_BASE_URL"] = sim.url
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):  # Powertools binds its log stream when the module loads
        handler = load_handler("updater")
        # The first invocation builds the service (clients, limiter): a warm-up on a record outside the drain.
        warm = event_body(str(FIRST_RECORD_ID + records), start - 1, property_string="warm-up")
        handler(sqs_event([warm], -1), LambdaContext("updater", timeout))
    sim.reset_calls()
    sink = io.StringIO()
    cpu = wall = 0.0
    lower_bound = 0
    failures = 0
    for batch in range(batches):
        first = batch * batch_size
        chunk = targets[first : first + batch_size]
        bodies = [
            event_body(rid, start + first + i, property_string=f"e{first + i}", property_number=str(first + i))
            for i, rid in enumerate(chunk)
        ]
        event = sqs_event(bodies, first)
        lower_bound += math.ceil(len(set(chunk)) / 100)
        context = LambdaContext("updater", timeout)
        with contextlib.redirect_stdout(sink):  # logs and metrics (EMF) are printed
            began_cpu, began_wall = time.process_time(), time.perf_counter()
            answer = handler(event, context)
            cpu += time.process_time() - began_cpu
            wall += time.perf_counter() - began_wall
        failures += len(answer["batchItemFailures"])
    calls = [call for call in sim.calls() if call["path"].endswith("/batch/update")]
    events = min(len(targets), batches * batch_size)
    expected: dict[str, int] = {}
    for i, rid in enumerate(targets[:events]):
        expected[rid] = i  # the last event of each record wins
    stored = sim.admin("GET", f"records/{OBJECT}")["records"]
    wrong = sum(
        1
        for rid, i in expected.items()
        if stored[rid]["properties"].get("property_string") != f"e{i}"
        or str(stored[rid]["properties"].get("property_number")) != str(i)
    )
    return {
        "events": events,
        "records": len(expected),
        "cpu": cpu,
        "wall": wall,
        "calls": len(calls),
        "bad_calls": sum(1 for call in calls if call["status"] != 200),
        "lower_bound": lower_bound,
        "applied": _emf_sum(sink.getvalue(), "EventsApplied"),
        "failures": failures,
        "wrong_records": wrong,
    }


def run_drain() -> dict[str, Any]:
    return _drain_in_stack(drain_targets(), DRAIN_RECORDS, state=False)


def run_state_drain() -> dict[str, dict[str, Any]]:
    """The smaller drain, the same events twice: without the record state, then with it (as deployed)."""
    targets = drain_targets(STATE_DRAIN_EVENTS, STATE_DRAIN_RECORDS)
    return {case: _drain_in_stack(targets, STATE_DRAIN_RECORDS, state=case == "with") for case in ("without", "with")}


def _drain_in_stack(targets: list[str], records: int, state: bool) -> dict[str, Any]:
    """One drain with moto and the simulator of its own; with the record state table (as deployed) or none."""
    from bench.overhead import create_state_table

    template = Template.load(stack_name="hubsync-bench")
    batch_size = int(template.sqs_event("UpdaterFunction")["BatchSize"])
    timeout = template.function_timeout("UpdaterFunction")
    batches = math.ceil(len(targets) / batch_size)
    with (
        MotoServer() as moto,
        SimulatorProcess(record_ids(records + 1), *HEADERS_ONLY_LIMIT) as sim,
    ):
        sqs = client("sqs", moto.url)
        dlq_url = sqs.create_queue(QueueName="bench-load-dlq")["QueueUrl"]
        # A service name of its own, so the logs go to this run's sink (not one an earlier benchmark closed).
        settings = updater_environment(moto.url, dlq_url, f"updater-load-{uuid.uuid4().hex[:8]}")
        removed = ["QUEUE_URL", "POWERTOOLS_METRICS_DISABLED"]
        if state:
            settings["RECORD_STATE_TABLE"] = create_state_table(client("dynamodb", moto.url))
        else:
            removed.append("RECORD_STATE_TABLE")
        with environment(settings, remove=tuple(removed)):
            result = drain(sim, targets, batches, batch_size, timeout, records)
        result["dlq"] = _depth(sqs, dlq_url)
    return {**result, "batch_size": batch_size, "batches": batches}


def report_state_drain(results: dict[str, dict[str, Any]]) -> list[Headline]:
    without, with_state = results["without"], results["with"]
    print(
        f"the same {with_state['events']:,} events over {with_state['records']:,} records, "
        f"{with_state['batches']} SQS events of {with_state['batch_size']:,}, without and with the record state "
        "(moto's DynamoDB, atomic, one request at a time: its latency is not AWS's, so wall time is moto's)"
    )
    rows = []
    for name, result in (("without the record state", without), ("with the record state", with_state)):
        unapplied = result["failures"] + result["dlq"] + result["bad_calls"] + result["wrong_records"]
        rows.append(
            (
                name,
                f"{result['events'] / result['wall']:,.0f}",
                f"{result['cpu'] / result['events'] * 1e6:.1f}",
                f"{result['calls']} / {result['lower_bound']}",
                unapplied,
            )
        )
    table(("drain", "events/s", "CPU µs / event", "calls / lower bound", "not applied or wrong"), rows)
    ratio = (with_state["cpu"] / with_state["events"]) / (without["cpu"] / without["events"])
    print(f"CPU per event with the record state / without: {ratio:.2f}")
    complete = all(
        r["applied"] == r["events"] and r["failures"] + r["dlq"] + r["bad_calls"] + r["wrong_records"] == 0
        for r in (without, with_state)
    )
    calls_ratio = with_state["calls"] / with_state["lower_bound"]
    return [
        Headline("load", "drain with record state: CPU/event with / without", ratio, "-", None),
        Headline("load", "drain with record state: calls / lower bound", calls_ratio, "1.00", calls_ratio == 1.0),
        Headline("load", "drain with record state: every event applied", 1.0 if complete else 0.0, "1.00", complete),
    ]


def report_drain(result: dict[str, Any]) -> list[Headline]:
    print(
        f"{result['events']:,} events over {result['records']:,} records (Zipf-like, shuffled) in "
        f"{result['batches']} SQS events of {result['batch_size']:,} (the template's BatchSize), handed to the "
        "updater's handler one after another; no record state table; HubSpot (simulator) and moto are child "
        "processes; CPU of this process (the updater's threads included)"
    )
    ratio = result["calls"] / result["lower_bound"]
    applied = result["applied"] / result["events"]
    unapplied = result["failures"] + result["dlq"] + result["bad_calls"]
    table(
        ("measure", "measured"),
        [
            ("events/s (wall time of the handler calls)", result["events"] / result["wall"]),
            ("CPU µs / event", result["cpu"] / result["events"] * 1e6),
            ("wall s / CPU s of this process", f"{result['wall']:.2f} / {result['cpu']:.2f}"),
            ("HubSpot calls", result["calls"]),
            ("lower bound: sum of ceil(distinct records in batch / 100)", result["lower_bound"]),
            ("calls / lower bound", ratio),
            (
                "(one call per 100 events would be; one per event)",
                f"{-(-result['events'] // 100):,}; {result['events']:,}",
            ),
            ("events applied (the handler's EventsApplied metric)", f"{result['applied']:,}"),
            ("batch item failures + DLQ messages + non-200 calls", unapplied),
            (
                "records holding their last event's values (simulator)",
                f"{result['records'] - result['wrong_records']:,} / {result['records']:,}",
            ),
        ],
    )
    complete = applied == 1.0 and unapplied == 0 and result["wrong_records"] == 0
    return [
        Headline("load", "drain calls / lower bound", ratio, "1.00", ratio == 1.0),
        Headline("load", "drain events applied / events", applied, "1.00", complete),
    ]


def main() -> list[Headline]:
    began = time.perf_counter()
    headlines = report_webhook(run_webhook())
    print(f"(webhook: {time.perf_counter() - began:.1f} s)")
    began = time.perf_counter()
    headlines += report_drain(run_drain())
    print(f"(drain: {time.perf_counter() - began:.1f} s)")
    began = time.perf_counter()
    headlines += report_state_drain(run_state_drain())
    print(f"(drain with and without the record state: {time.perf_counter() - began:.1f} s)")
    return headlines


if __name__ == "__main__":
    main()

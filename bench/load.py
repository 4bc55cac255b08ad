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
2. Updater drain: bench/drain.py (run here after the webhook, or alone: ``python -m bench.drain``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench import drain
from bench._load_stack import StackProcess, cpu_seconds
from bench._support import (
    FIRST_RECORD_ID,
    ROOT,
    Headline,
    queue_depth,
    table,
)
from hubsync_local.aws import client
from hubsync_local.processes import stop_process
from hubsync_local.stack import new_webhook_secret

# 1. webhook
CONCURRENCY = (1, 4)  # client threads of the load generator, one measured run each
EVENTS_PER_REQUEST = 10
REQUESTS = 2_000  # per run, or
SECONDS = 10.0  # whichever ends first
WARMUP_REQUESTS = 40  # before the measured runs: the receiver's first-request set-up (secrets, clients)
WEBHOOK_RECORDS = 10_000


# -- child processes ---------------------------------------------------------------------------------------
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
        before = {name: cpu_seconds(pid) if pid else None for name, pid in pids.items()}
        result = _load(url, secret, clients, REQUESTS, SECONDS)
        for name, pid in pids.items():
            after, start = (cpu_seconds(pid) if pid else None), before[name]
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
    stack = StackProcess(secret)
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
            "left": queue_depth(sqs, stack.info["queue"]),
            "dlq": queue_depth(sqs, stack.info["dlq"]),
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


def main() -> list[Headline]:
    began = time.perf_counter()
    headlines = report_webhook(run_webhook())
    print(f"(webhook: {time.perf_counter() - began:.1f} s)")
    return headlines + drain.main()  # the updater's drains, as bench.drain runs them alone


if __name__ == "__main__":
    main()

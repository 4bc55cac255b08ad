"""Goodput under HubSpot's rate limit, scaled down: 20 requests per 1,000 ms instead of 100 per 10 s.

The simulator runs in a child process with that limit and 20 ms of latency on every answer; each updater
instance is its own process (``bench._goodput_worker``) with its own RateLimiter (limit=20, interval 1 s,
``instances`` = how many run; it also learns Max and Interval from the headers), 4 requests in flight, and
back-to-back batches of one event per record (100 inputs per request). Instances start together.

Goodput = updates HubSpot applied per second / (limit x 100 / interval). It is counted by the simulator over
whole intervals from the first request's arrival, so a perfect client scores 1.00 and no burst can score
more. Also reported: 429 answers / calls over the whole run, DLQ writes (must be 0), and messages left to
SQS redelivery ("not applied"). A baseline instance without hubsync's RateLimiter (429s retried with
backoff) runs against the same simulator, to show the limit is enforced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench._support import ROOT, Headline, SimulatorProcess, record_ids, table

LIMIT = 20
INTERVAL_MS = 1_000
LATENCY_MS = 20
INPUTS_PER_REQUEST = 100
WINDOW_INTERVALS = 8  # goodput is counted over this many whole intervals
RUN_SECONDS = WINDOW_INTERVALS * INTERVAL_MS / 1000 + 0.5  # each instance runs a little past the window
RECORDS_PER_INSTANCE = 2_000  # one batch = 20 requests of 100 inputs
# (name, instances, with hubsync's RateLimiter): the last is a baseline showing what the limit does without it.
CASES = (
    ("one instance", 1, True),
    ("two instances sharing the limit", 2, True),
    ("baseline: one instance, no limiter", 1, False),
)


def _config(url: str, index: int, instances: int, limiter: bool, start_at: float) -> dict[str, Any]:
    return {
        "url": url,
        "index": index,
        "limiter": limiter,
        "instances": instances,
        "limit": LIMIT,
        "interval_seconds": INTERVAL_MS / 1000,
        "max_in_flight": 4,
        "records": record_ids(RECORDS_PER_INSTANCE, start=100_001 + index * RECORDS_PER_INSTANCE),
        "start_at": start_at,
        "seconds": RUN_SECONDS,
    }


def _run_workers(url: str, instances: int, limiter: bool) -> list[dict[str, Any]]:
    """Each instance in its own process, started together; every process is ended before this returns."""
    start_at = time.time() + 1.5  # time for each interpreter to import hubsync
    workers: list[subprocess.Popen[str]] = []
    try:
        for index in range(instances):
            config = _config(url, index, instances, limiter, start_at)
            command = [sys.executable, "-m", "bench._goodput_worker", json.dumps(config)]
            workers.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ)))
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=RUN_SECONDS + 60)
            if worker.returncode != 0:
                raise RuntimeError(f"a goodput worker exited with {worker.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def run_case(instances: int, limiter: bool) -> dict[str, Any]:
    ids = record_ids(RECORDS_PER_INSTANCE * instances)
    flags = ("--rate-limit", str(LIMIT), "--interval-ms", str(INTERVAL_MS), "--latency-ms", str(LATENCY_MS))
    with SimulatorProcess(ids, *flags) as sim:
        results = _run_workers(sim.url, instances, limiter)
        calls = [call for call in sim.calls() if call["path"].endswith("/batch/update")]
    first = min(call["at"] for call in calls)
    window = WINDOW_INTERVALS * INTERVAL_MS / 1000
    applied = sum(call["inputs"] for call in calls if call["status"] in (200, 207) and call["at"] < first + window)
    ceiling = LIMIT * INPUTS_PER_REQUEST / (INTERVAL_MS / 1000)
    return {
        "goodput": applied / window / ceiling,
        "applied_per_second": applied / window,
        "ceiling": ceiling,
        "calls": len(calls),
        "rate_limited": sum(1 for call in calls if call["status"] == 429),
        "dlq": sum(result["dlq_messages"] for result in results),
        "not_applied": sum(result["not_applied"] for result in results),
        "per_instance": [result["applied"] for result in results],
    }


def main() -> list[Headline]:
    rows, headlines = [], []
    for name, instances, limiter in CASES:
        result = run_case(instances, limiter)
        share_429 = result["rate_limited"] / result["calls"]
        split = "/".join(str(n) for n in result["per_instance"])
        rows.append(
            (
                name,
                result["goodput"],
                f"{result['applied_per_second']:.0f} / {result['ceiling']:.0f}",
                f"{100 * share_429:.2f}%",
                result["calls"],
                result["dlq"],
                result["not_applied"],
                split,
            )
        )
        if not limiter:  # the baseline has no target: it shows the simulator's limit biting
            headlines.append(Headline("goodput", f"goodput, {name}", result["goodput"], "-", None))
            headlines.append(Headline("goodput", f"429s / calls, {name}", share_429, "-", None))
            continue
        headlines.append(
            Headline("goodput", f"goodput, {name}", result["goodput"], ">= 0.95", result["goodput"] >= 0.95)
        )
        headlines.append(Headline("goodput", f"429s / calls, {name}", share_429, "<= 0.01", share_429 <= 0.01))
        headlines.append(Headline("goodput", f"DLQ writes, {name}", result["dlq"], "0", result["dlq"] == 0))
    print(
        f"limit {LIMIT} per {INTERVAL_MS} ms, {LATENCY_MS} ms latency, {INPUTS_PER_REQUEST} inputs a request, "
        f"4 in flight per instance; goodput over {WINDOW_INTERVALS} whole intervals (instances are processes)"
    )
    table(
        (
            "case",
            "goodput",
            "updates/s / ceiling",
            "429s",
            "calls",
            "DLQ",
            "not applied",
            "applied per instance, whole run",
        ),
        rows,
    )
    return headlines


if __name__ == "__main__":
    main()

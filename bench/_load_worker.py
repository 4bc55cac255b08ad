"""The load benchmark's child processes: ``python -m bench._load_worker client JSON`` or ``... bare EVENTS``.

- ``client``: the load generator. ``clients`` threads, each with its own keep-alive ``requests.Session``, send
  signed Standard Webhooks deliveries (a unique ``webhook-id`` each, ``events`` events in the body) until
  ``requests`` have been sent or ``seconds`` have passed, whichever comes first. Prints one JSON line: counts,
  errors by kind (a status other than 202, an answer not accepting every event, an exception), wall time and
  latency percentiles, and the client's own CPU.
- ``bare``: the baseline front. The local gateway's own HTTP server (``GatewayServer``, the same code as the
  stack's webhook front) with a handler that answers 202 at once, without reading the event. It prints
  ``listening on URL`` and serves until SIGTERM.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

OBJECT = "partner_services"


def body(index: int, events: int, records: int, first_record: int) -> bytes:
    """A delivery of ``events`` events to consecutive records, as a sender would write them."""
    at = int(time.time() * 1000)
    documents = [
        {
            "id": str(first_record + (index * events + k) % records),
            "objectType": OBJECT,
            "occurredAt": at,
            "eventId": f"evt-{index}-{k}",
            "properties": {"property_string": f"load {index}.{k}", "property_number": index},
        }
        for k in range(events)
    ]
    return json.dumps(documents, separators=(",", ":")).encode()


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * share // 1))  # ceil(n * share), at least 1
    return sorted_values[int(rank) - 1]


def client(config: dict[str, Any]) -> dict[str, Any]:
    import requests

    from hubsync.intake.signing.standard_webhooks import sign

    url, secret = config["url"], config["secret"]
    clients, limit, seconds, events = config["clients"], config["requests"], config["seconds"], config["events"]
    run = uuid.uuid4().hex[:12]
    counter = itertools.count()
    lock = threading.Lock()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    accepted: list[int] = []
    ends: list[float] = []
    window: dict[str, float] = {}

    def begin() -> None:  # the barrier's action: every session exists, the clock starts now
        window["start"] = time.perf_counter()
        window["deadline"] = window["start"] + seconds

    barrier = threading.Barrier(clients, action=begin)

    def worker() -> None:
        session = requests.Session()
        mine: list[float] = []
        events_accepted = 0
        found: Counter[str] = Counter()
        barrier.wait()
        while True:
            index = next(counter)
            if index >= limit or time.perf_counter() >= window["deadline"]:
                break
            data = body(index, events, config["records"], config["first_record"])
            msg_id, timestamp = f"msg_load_{run}_{index}", int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, msg_id, timestamp, data),
            }
            began = time.perf_counter()
            try:
                response = session.post(url, data=data, headers=headers, timeout=30)
                content = response.content
            except requests.RequestException as exc:
                found[type(exc).__name__] += 1
                continue
            mine.append(time.perf_counter() - began)
            if response.status_code != 202:
                found[f"HTTP {response.status_code}"] += 1
            elif json.loads(content).get("accepted") != events:
                found["202 without every event accepted"] += 1
            else:
                events_accepted += events
        session.close()
        with lock:
            latencies.extend(mine)
            accepted.append(events_accepted)
            errors.update(found)
            ends.append(time.perf_counter())

    cpu = time.process_time()
    threads = [threading.Thread(target=worker, name=f"load-{k}") for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    elapsed = max(ends) - window["start"]
    sent = min(next(counter) - clients, limit)  # every worker drew one index past the end
    return {
        "sent": sent,
        "answered": len(latencies),
        "events_accepted": sum(accepted),
        "errors": dict(errors),
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "mean_ms": (sum(latencies) / len(latencies) if latencies else float("nan")) * 1000,
        "client_cpu_seconds": time.process_time() - cpu,
    }


def serve_bare(events: int) -> None:
    from hubsync_local.gateway import GatewayServer, LocalGateway, Route

    answer = {
        "statusCode": 202,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"accepted": events, "rejected": []}),
    }

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return answer

    server = GatewayServer(LocalGateway([Route("POST", "/webhooks", handler, "bare", 30)]), port=0)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    server.start()
    print(f"listening on {server.url}", flush=True)
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        print(json.dumps(client(json.loads(sys.argv[2]))), flush=True)
    elif sys.argv[1] == "bare":
        serve_bare(int(sys.argv[2]))
    else:
        raise SystemExit(f"unknown role {sys.argv[1]!r}: client or bare")

"""The webhook sender: signs and posts the deliveries, paced over the run, some twice with the same webhook-id."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook

from hubsync_local.stack import LocalStack

from .scenario import Delivery, Job


@dataclass
class SendLog:
    answers: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)  # msg_id -> final answers
    conflicts: int = 0  # 409 delivery_in_progress (a concurrent duplicate), retried
    unavailable: int = 0  # 503 or no answer, retried
    posts: int = 0
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (at, what): each post's answer
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender:
    def __init__(self, stack: LocalStack, log: SendLog) -> None:
        self._url = stack.webhook_url
        self._webhook = Webhook(stack.webhook_secrets[0])
        self._log = log

    def deliver(self, delivery: Delivery) -> None:
        """Posts until a final answer (not 409/503), re-signing each time with the same webhook-id."""
        for _ in range(60):
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self._webhook.sign(delivery.msg_id, now, delivery.body),
            }
            with self._log.lock:
                self._log.posts += 1
            posted = time.monotonic()
            try:
                answer = requests.post(self._url, data=delivery.body.encode(), headers=headers, timeout=30)
            except requests.RequestException:
                self._count("unavailable")
                time.sleep(0.5)
                continue
            with self._log.lock:
                what = f"  post {delivery.msg_id}: {answer.status_code} ({time.monotonic() - posted:.1f} s)"
                self._log.timeline.append((posted, what))
            if answer.status_code in (409, 503):
                self._count("conflicts" if answer.status_code == 409 else "unavailable")
                time.sleep(min(1.0, float(answer.headers.get("retry-after", "0.5"))))
                continue
            with self._log.lock:
                self._log.answers.setdefault(delivery.msg_id, []).append((answer.status_code, answer.json()))
            return
        raise AssertionError(f"delivery {delivery.msg_id} never got a final answer")

    def _count(self, name: str) -> None:
        with self._log.lock:
            setattr(self._log, name, getattr(self._log, name) + 1)

    def run(self, jobs: list[Job], seconds: float, gate: Callable[[float], None], workers: int = 2) -> None:
        """Sends the jobs in order, spread over ``seconds`` at least, ``workers`` at a time; ``gate(fraction)``
        holds each job back until the fault program is that far (see FaultProgram)."""
        work: queue.Queue[Job | None] = queue.Queue(maxsize=workers)
        errors: list[BaseException] = []

        def worker() -> None:
            while (job := work.get()) is not None:
                try:
                    self._send_job(job)
                except BaseException as exc:  # surfaced after the join
                    errors.append(exc)

        threads = [threading.Thread(target=worker, name=f"chaos-sender-{n}", daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        interval = seconds / max(1, len(jobs))
        for index, job in enumerate(jobs):
            if errors:
                break
            gate(index / len(jobs))
            time.sleep(max(0.0, started + index * interval - time.monotonic()))
            work.put(job)
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _send_job(self, job: Job) -> None:
        if not job.concurrent_twin:
            self.deliver(job.delivery)
            return
        failures: list[BaseException] = []

        def twin_delivery() -> None:
            try:
                self.deliver(job.delivery)
            except BaseException as exc:  # raised below, in the sender's thread
                failures.append(exc)

        twin = threading.Thread(target=twin_delivery, daemon=True)
        twin.start()
        self.deliver(job.delivery)
        twin.join()
        if failures:
            raise failures[0]

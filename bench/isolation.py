"""Poison isolation: a batch of 100 inputs with k bad ones (an option HubSpot does not know) is answered with a
whole-batch 400; the updater bisects it. Extra calls (beyond the first) are compared with k·log2(100).

Bisection sends both halves of every rejected batch, so one bad input costs about 2·log2(n) calls; k of them
share the upper levels. Where the bad inputs sit matters, so each k is run over several placements (fixed
seeds) and the mean and the worst are shown. Every run is checked: the 100-k good inputs applied (HubSpot
holds their values), the k bad ones in the DLQ as VALIDATION_ERROR, each under its own record id.
"""

from __future__ import annotations

import math
import random
import statistics

from bench._support import OBJECT, TOKEN, Headline, RecordingSqs, event_body, now_ms, record_ids, seed, table
from hubsync.delivery import Delivery
from hubsync.hubspot import HubSpotClient
from hubsync.retry import RetryPolicy
from hubsync.sqs import QueueSender
from hubsync.updater import Updater
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator

BATCH = 100
BAD_COUNTS = (1, 3, 10)
PLACEMENTS = 5  # random positions of the bad inputs per k (seeds 0..4)
BAD_VALUE = "nope"  # not an option of property_dropdown


def run_once(sim: HubSpotSimulator, ids: list[str], bad: set[str], tag: str) -> int:
    """One batch through a fresh updater; returns the extra calls (beyond the first) after checking the outcome."""
    at = now_ms()
    messages = [
        sqs_record(
            f"m{i}",
            event_body(rid, at, property_dropdown=BAD_VALUE if rid in bad else "option_a", property_string=tag),
        )
        for i, rid in enumerate(ids)
    ]
    dlq = RecordingSqs()
    delivery = Delivery(
        HubSpotClient(sim.url, TOKEN, timeout_seconds=10), None, RetryPolicy(), call_seconds=11, reserve_seconds=1
    )
    updater = Updater(delivery, QueueSender(dlq, "dlq"), default_object_type=OBJECT, max_receive_count=5)
    sim.reset_calls()
    report = updater.process(messages, lambda: 900.0)
    calls = [call for call in sim.calls if call.path.endswith("/batch/update")]
    held = {rid: record["properties"].get("property_string") for rid, record in sim.records(OBJECT).items()}
    applied_good = sum(1 for rid in ids if rid not in bad and held[rid] == tag)
    dead = {document["recordId"] for document in dlq.documents()}
    if (
        applied_good != BATCH - len(bad)
        or report.applied_events != BATCH - len(bad)
        or report.dead_lettered != {"VALIDATION_ERROR": len(bad)}
        or dead != bad
        or any(held[rid] == tag for rid in bad)
        or report.calls != len(calls)
    ):
        raise AssertionError(f"k={len(bad)}: {applied_good} good applied, DLQ {dict(report.dead_lettered)}")
    return len(calls) - 1


def main() -> list[Headline]:
    ids = record_ids(BATCH)
    rows, headlines = [], []
    with HubSpotSimulator(port=0, token=TOKEN, seed=seed(ids)) as sim:
        for k in BAD_COUNTS:
            extras = [
                run_once(sim, ids, set(random.Random(placement).sample(ids, k)), f"k{k}-p{placement}")
                for placement in range(PLACEMENTS)
            ]
            bound = k * math.log2(BATCH)
            mean = statistics.mean(extras)
            rows.append((f"k={k}", f"{mean:.1f}", max(extras), f"{bound:.1f}", mean / bound, max(extras) / bound))
            headlines.append(Headline("isolation", f"extra calls / k·log2(100), k={k} (mean)", mean / bound, "-", None))
    print(f"batch of {BATCH}, k bad inputs at {PLACEMENTS} random placements each; all good applied, k in the DLQ")
    table(("bad inputs", "extra calls (mean)", "worst", "k·log2(100)", "ratio (mean)", "ratio (worst)"), rows)
    levels = math.ceil(math.log2(BATCH))
    print(f"(each split sends both halves: one bad input costs 2 calls a level, 2·{levels} = {2 * levels} extra)")
    return headlines


if __name__ == "__main__":
    main()

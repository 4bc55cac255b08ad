"""Refused values: what a batch of 100 inputs with k bad values costs in HubSpot calls, today's way (no
property definitions, blind bisection of every whole-batch 400) against hubsync's (values checked against
HubSpot's definitions before sending, and what only HubSpot can tell split as its error names it), in the
same run, against the same simulator.

Two families of bad values:
- those the definitions can tell (an unknown option, a date that is no date, a number that is none, a
  boolean that is neither, an unknown property, a calculated one): hubsync refuses them before sending, so
  the batch costs its one call (extra calls: 0);
- one only HubSpot can tell: the simulator refuses a value its definitions allow (an admin's validation
  rule): hubsync sends the batch, HubSpot answers 400 naming the property and the value, and the inputs
  carrying it are sent alone while the rest goes at once. Shown too: the same with a message that does not
  quote the value ("Enter only letters", as HubSpot's changelog shows one) on a property every input
  carries, where halving is all that is left.

Extra calls are the batch calls beyond the one a clean batch costs; the definitions are read once per
container (the updater is kept across runs, as a Lambda container is) and shown apart. Every run is
checked: the 100-k good inputs applied (HubSpot holds their values), the k bad ones in the DLQ as
VALIDATION_ERROR under their own record ids.
"""

from __future__ import annotations

import random
import statistics

from bench._support import OBJECT, TOKEN, Headline, RecordingSqs, event_body, now_ms, record_ids, seed, table
from hubsync.delivery.hubspot import HubSpotClient
from hubsync.delivery.retry import RetryPolicy
from hubsync.delivery.schema.cache import DefinitionCache
from hubsync.delivery.schema.checks import SchemaChecks
from hubsync.delivery.sender import Delivery
from hubsync.delivery.updater import Updater
from hubsync.sqs import QueueSender
from hubsync_local.lambda_runtime import sqs_record
from hubsync_local.simulator import HubSpotSimulator

BATCH = 100
BAD_COUNTS = (1, 3, 10)
PLACEMENTS = 3  # random positions of the bad inputs per k (seeds 0..2)
# (property, a value HubSpot refuses) the definitions can tell, by the code HubSpot would answer.
TOLD_BY_DEFINITIONS = {
    "INVALID_OPTION": ("property_dropdown", "nope"),
    "INVALID_DATE": ("property_date", "next tuesday"),
    "INVALID_DECIMAL": ("property_number", "ten"),
    "INVALID_BOOLEAN": ("property_checkbox", "maybe"),
    "PROPERTY_DOESNT_EXIST": ("property_nonexistent", "x"),
    "READ_ONLY_VALUE": ("property_calculated", "3"),
}
RULE_PROPERTY, RULE_VALUE = "property_string", "forbidden"  # refused by the simulator's validation rule
# The same, with the message HubSpot's changelog shows for a "letters only" rule: it does not quote the value,
# and every input carries the property, so nothing narrows the search but halving.
UNQUOTED_PROPERTY, UNQUOTED_VALUE = "property_dropdown", "option_c"
QUOTED, UNQUOTED = "rule, value quoted", "rule, value not quoted"
TOLD_BY_HUBSPOT = {QUOTED: (RULE_PROPERTY, RULE_VALUE), UNQUOTED: (UNQUOTED_PROPERTY, UNQUOTED_VALUE)}


class Way:
    """One way of sending: an updater kept across runs (a container), checks on or off."""

    def __init__(self, sim: HubSpotSimulator, checked: bool) -> None:
        self.checked = checked
        self.schema = SchemaChecks(DefinitionCache()) if checked else None
        self.delivery = Delivery(
            HubSpotClient(sim.url, TOKEN, timeout_seconds=10),
            None,
            RetryPolicy(),
            call_seconds=11,
            reserve_seconds=1,
            on_refused_values=self.schema.cache.suspect if self.schema else None,
            guided_isolation=checked,
        )
        self.dlq = RecordingSqs()
        self.updater = Updater(
            self.delivery,
            QueueSender(self.dlq, "dlq"),
            default_object_type=OBJECT,
            max_receive_count=5,
            schema=self.schema,
        )


def run_once(sim: HubSpotSimulator, way: Way, ids: list[str], bad: set[str], prop: str, value: str, tag: str) -> int:
    """One batch; the extra batch calls (beyond the first) after checking the outcome."""
    at = now_ms()
    messages = []
    for i, rid in enumerate(ids):
        values = {"property_dropdown": "option_a", "property_string": tag}
        if rid in bad:
            values[prop] = value
        messages.append(sqs_record(f"m{i}", event_body(rid, at, **values)))
    way.dlq.bodies.clear()
    sim.reset_calls()
    report = way.updater.process(messages, lambda: 900.0)
    calls = [call for call in sim.calls if "/batch/" in call.path]
    held = {rid: record["properties"].get("property_string") for rid, record in sim.records(OBJECT).items()}
    applied_good = sum(1 for rid in ids if rid not in bad and held[rid] == tag)
    dead = {document["recordId"] for document in way.dlq.documents()}
    if (
        applied_good != BATCH - len(bad)
        or report.applied_events != BATCH - len(bad)
        or report.dead_lettered != {"VALIDATION_ERROR": len(bad)}
        or dead != bad
        or any(held[rid] == tag for rid in bad)
        or report.calls != len(calls)
    ):
        raise AssertionError(
            f"{prop}={value!r} k={len(bad)}: {applied_good} good applied, {dict(report.dead_lettered)}"
        )
    return len(calls) - 1


def main() -> list[Headline]:
    ids = record_ids(BATCH)
    rows: list[tuple[object, ...]] = []
    worst_told: dict[bool, int] = {False: 0, True: 0}
    per_bad: dict[bool, list[float]] = {False: [], True: []}
    unquoted: list[float] = []
    today_k1 = 0.0
    with HubSpotSimulator(port=0, token=TOKEN, seed=seed(ids)) as sim:
        sim.set_validation_rule(OBJECT, RULE_PROPERTY, [RULE_VALUE])
        sim.set_validation_rule(OBJECT, UNQUOTED_PROPERTY, [UNQUOTED_VALUE], "INVALID_ALPHA", "Enter only letters")
        ways = {checked: Way(sim, checked) for checked in (False, True)}
        for family, kinds in (("definitions", TOLD_BY_DEFINITIONS), ("HubSpot only", TOLD_BY_HUBSPOT)):
            for kind, (prop, value) in kinds.items():
                for k in BAD_COUNTS:
                    extras: dict[bool, list[int]] = {False: [], True: []}
                    for placement in range(PLACEMENTS):
                        bad = set(random.Random(placement).sample(ids, k))
                        for checked, way in ways.items():
                            tag = f"{kind}-{k}-{placement}-{int(checked)}"
                            extras[checked].append(run_once(sim, way, ids, bad, prop, value, tag))
                    for checked in (False, True):
                        if family == "definitions":
                            worst_told[checked] = max(worst_told[checked], *extras[checked])
                        elif kind == QUOTED:
                            per_bad[checked].append(max(extras[checked]) / k)
                        elif checked:
                            unquoted.append(max(extras[checked]) / k)
                    if family == "definitions" and k == 1:
                        today_k1 = max(today_k1, statistics.mean(extras[False]))
                    rows.append(
                        (
                            family,
                            kind,
                            k,
                            f"{statistics.mean(extras[False]):.1f}",
                            f"{statistics.mean(extras[True]):.1f}",
                            max(extras[True]),
                            f"{max(extras[True]) / k:.2f}",
                        )
                    )
        reads = ways[True].delivery.stats.property_reads
    print(
        f"batch of {BATCH}, k bad values at {PLACEMENTS} placements each; all good applied, k in the DLQ, "
        f"checked every run. Property definitions read {reads} time(s) by hubsync in the whole run."
    )
    table(
        ("told by", "kind", "k", "today: extra calls", "hubsync: extra calls", "hubsync worst", "worst per bad input"),
        rows,
    )
    return [
        Headline(
            "isolation",
            "extra calls, values the definitions tell (worst)",
            worst_told[True],
            "= 0",
            worst_told[True] == 0,
        ),
        Headline("isolation", "today's extra calls for k=1 (mean, worst kind)", today_k1, "-", None),
        Headline(
            "isolation",
            "extra calls per bad input, HubSpot-only refusal (worst)",
            max(per_bad[True]),
            "<= 3",
            max(per_bad[True]) <= 3,
        ),
        Headline("isolation", "  today's (blind bisection, worst)", max(per_bad[False]), "-", None),
        Headline("isolation", "  when HubSpot's message does not quote the value (worst)", max(unquoted), "-", None),
    ]


if __name__ == "__main__":
    main()

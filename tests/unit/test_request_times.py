"""When the updater sends a batch's requests several at a time, and when one after another."""

from __future__ import annotations

from hubsync.delivery.report import RequestTimes


def test_unknown_times_assume_hubspots_usual_latency() -> None:
    assert RequestTimes().overlap_pays


def test_the_median_of_the_last_five_decides_so_one_stray_request_changes_nothing() -> None:
    times = RequestTimes(overlap_from_seconds=0.010)
    for _ in range(5):
        times.add(0.001)
    assert not times.overlap_pays
    times.add(0.5)  # one stall
    times.add(0.5)
    assert not times.overlap_pays
    times.add(0.2)  # the third slow one of the last five: HubSpot is slow now
    assert times.overlap_pays
    times.add(0.001)
    times.add(0.001)
    assert times.overlap_pays
    times.add(0.001)
    assert not times.overlap_pays

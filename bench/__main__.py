"""``make bench``: every benchmark, each reporting ratios measured in the same run, then a summary of them.

Each benchmark is also runnable alone: ``python -m bench.calls`` (cold_start, calls, isolation, goodput,
overhead, mapping, load, costs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import calls, cold_start, costs, goodput, isolation, load, mapping, overhead
from bench._support import Headline, table

BENCHMARKS: tuple[tuple[str, Callable[[], list[Headline]]], ...] = (
    ("cold start", cold_start.main),
    ("calls", calls.main),
    ("isolation", isolation.main),
    ("goodput", goodput.main),
    ("overhead", overhead.main),
    ("mapping", mapping.main),
    ("load", load.main),
    ("costs", costs.main),
)


def _value(headline: Headline) -> str:
    if isinstance(headline.value, int):  # a count (DLQ writes), not a ratio
        return str(headline.value)
    return f"{headline.value:.3f}" if headline.value < 10 else f"{headline.value:.1f}"


def main() -> None:
    headlines: list[Headline] = []
    started = time.perf_counter()
    for name, run in BENCHMARKS:
        print(f"\n== {name} ==", flush=True)
        began = time.perf_counter()
        headlines.extend(run())
        print(f"({time.perf_counter() - began:.1f} s)", flush=True)
    print(f"\n== summary (ratios measured in this run, {time.perf_counter() - started:.0f} s) ==")
    table(
        ("benchmark", "measured", "target", "met"),
        [(f"{h.benchmark}: {h.metric}", _value(h), h.target, h.verdict()) for h in headlines],
    )


if __name__ == "__main__":
    main()

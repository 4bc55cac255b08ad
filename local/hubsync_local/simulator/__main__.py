"""Run the simulator: `python -m hubsync_local.simulator --port 3001 [--seed FILE] [--rate-limit N] ...`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .simulator import HubSpotSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hubsync_local.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001, help="0 picks a free port")
    parser.add_argument("--seed", help="seed JSON file (default: the bundled demo data)")
    parser.add_argument("--token", default="sim-token", help="the accepted Bearer token")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a token")
    parser.add_argument("--rate-limit", type=int, help="requests per interval (off by default)")
    parser.add_argument("--interval-ms", type=int, default=10_000)
    parser.add_argument("--daily-limit", type=int, help="requests per day (off by default)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 5xx, 0..1")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share of connections dropped, 0..1")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API answer")
    parser.add_argument("--random-seed", type=int, help="seed for fault dice and correlation ids")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sim = HubSpotSimulator(
        host=args.host,
        port=args.port,
        token=None if args.no_auth else args.token,
        rate_limit=args.rate_limit,
        interval_ms=args.interval_ms,
        daily_limit=args.daily_limit,
        seed=args.seed,
        random_seed=args.random_seed,
    )
    sim.faults.error_rate = args.error_rate
    sim.faults.reset_rate = args.reset_rate
    sim.faults.latency_ms = args.latency_ms
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    sim.start()
    print(f"HubSpot simulator listening on {sim.url}", flush=True)
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

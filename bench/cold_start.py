"""Cold-start import cost of each handler, against baselines measured in the same run.

Each figure is the median wall time of importing a module in a fresh interpreter (what a Lambda cold
start pays before the first event), minus the interpreter's own start-up.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._support import Headline

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7

HANDLER = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('app', {path!r}); "
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)"
)
# The first invocation also builds the service (boto3 clients, the idempotency layer): no network.
SETUP = (
    "import os; os.environ.update(AWS_DEFAULT_REGION='us-east-1', AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x', "
    "QUEUE_URL='https://q', DLQ_URL='https://d', WEBHOOK_SECRETS='[]', IDEMPOTENCY_TABLE='t', "
    "HUBSPOT_ACCESS_TOKEN='t', RECORD_STATE_TABLE='t'); "
)
CASES = {
    "receiver handler": HANDLER.format(path=str(ROOT / "functions/receiver/app.py")),
    "receiver handler + first-request set-up": SETUP
    + HANDLER.format(path=str(ROOT / "functions/receiver/app.py"))
    + "; module._service()",
    "updater handler + first-request set-up": SETUP
    + HANDLER.format(path=str(ROOT / "functions/updater/app.py"))
    + "; module._service()",
    "updater handler": HANDLER.format(path=str(ROOT / "functions/updater/app.py")),
    "replayer handler": HANDLER.format(path=str(ROOT / "functions/replayer/app.py")),
    "baseline: boto3": "import boto3",
    "baseline: HubSpot's official client": "import hubspot",
    "baseline: Powertools (logger, metrics, tracer-free utilities)": (
        "import aws_lambda_powertools.logging, aws_lambda_powertools.metrics, "
        "aws_lambda_powertools.utilities.batch, aws_lambda_powertools.utilities.idempotency, "
        "aws_lambda_powertools.event_handler"
    ),
}


def _seconds(code: str) -> float:
    start = time.perf_counter()
    # The handlers' set-up logs a warning line to stdout; the timing does not need it on the console.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure() -> dict[str, float]:
    empty = statistics.median(_seconds("pass") for _ in range(RUNS))
    return {
        name: max(0.0, statistics.median(_seconds(code) for _ in range(RUNS)) - empty) for name, code in CASES.items()
    }


def main() -> list[Headline]:
    results = measure()
    official = results["baseline: HubSpot's official client"]
    print(f"{'import (fresh interpreter, median of ' + str(RUNS) + ')':<64} {'ms':>8} {'x official client':>18}")
    for name, seconds in results.items():
        print(f"{name:<64} {seconds * 1000:>8.1f} {seconds / official:>18.2f}")
    return [
        Headline("cold start", f"{name} / official client import", results[name] / official, "-", None)
        for name in ("updater handler", "updater handler + first-request set-up")
    ]


if __name__ == "__main__":
    main()

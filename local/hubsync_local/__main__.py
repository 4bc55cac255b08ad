"""``make run``: the whole service locally. Ctrl-C stops everything it started."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from hubsync.intake.sources import parse_sources
from hubsync_local import examples
from hubsync_local.stack import LocalStack, StackConfig
from hubsync_local.template import REPO_ROOT


def _banner(stack: LocalStack) -> str:
    assert stack.resources and stack.poller
    venv_bin = Path(sys.executable).parent
    hubsync = venv_bin / "hubsync"
    generated = stack.config.generated_secrets
    given = "default" not in generated
    secret_arg = f" --secret {generated['default']}" if "default" in generated else ""
    hubspot = stack.simulator.url if stack.simulator else os.environ.get("HUBSPOT_BASE_URL", "")
    lines = [
        "hubsync is running locally (Ctrl-C stops everything)",
        f"  webhook        POST {stack.webhook_url}   (also /webhooks/{{source}})",
        f"  HubSpot        {hubspot}"
        + (
            "   (simulator; records: GET /_simulator/records/partner_services)"
            if stack.simulator
            else "   (real HubSpot)"
        ),
        f"  AWS emulator   {stack.aws_endpoint_url}   (moto: queues, DLQ, secrets, tables, archive bucket)",
        f"  queue          {stack.resources.queue_url}",
        f"  DLQ            {stack.resources.dlq_url}",
        f"  archive        s3://{stack.resources.archive_bucket}   (hubsync archive --stack-name"
        f" {stack.config.stack_name} --older-than 0, then hubsync replay --from-archive)",
        f"  updater        batch size {stack.poller.batch_size}, window {stack.poller.window_seconds:g}s",
        "  webhook secret "
        + ("from WEBHOOK_SECRETS" if given else "generated for this run (set WEBHOOK_SECRETS to fix one)"),
        "  sources        "
        + (
            f"the worked examples of {examples.SOURCES_FILE} (docs/mappings.md; set WEBHOOK_SOURCES for others)"
            if stack.config.example_sources
            else "from WEBHOOK_SOURCES"
        ),
        "",
        "Send a signed sample event:",
        f"  {hubsync} send{secret_arg} {REPO_ROOT / 'events' / 'webhook-body.json'}",
        *_source_lines(stack, hubsync),
        "Replay the DLQ (dry run first):",
        f"  AWS_ENDPOINT_URL={stack.aws_endpoint_url} AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing"
        f" AWS_SECRET_ACCESS_KEY=testing {hubsync} replay --queue-url {stack.resources.queue_url}"
        f" --dlq-url {stack.resources.dlq_url} --dry-run",
    ]
    return "\n".join(lines)


def _source_lines(stack: LocalStack, hubsync: Path) -> list[str]:
    """How to send each configured source's sample (or a body of yours) signed as its sender signs it."""
    names = [name for name in parse_sources(stack.config.extra_environment.get("WEBHOOK_SOURCES")) if name != "default"]
    if not names:
        return []
    sources_arg = f" --sources {examples.SOURCES_FILE}" if stack.config.example_sources else ""
    lines = ["Send each source's sample as its sender signs it:"]
    for name in names:
        secret = stack.config.generated_secrets.get(name)
        secret_arg = f" --secret {secret}" if secret else ""
        headers = "".join(f" --header {k}:{v}" for k, v in examples.SENDER_HEADERS.get(name, {}).items())
        sample = examples.SAMPLES.get(name) if stack.config.example_sources else None
        lines.append(
            f"  {hubsync} send --source {name}{sources_arg}{secret_arg} --url {stack.webhook_url}/{name}{headers}"
            f" {sample or 'BODY.json'}"
        )
    first = names[0]
    sample = examples.SAMPLES.get(first) if stack.config.example_sources else None
    lines += [
        "See what a body becomes under its source's mapping, offline (no AWS, nothing sent):",
        f"  {hubsync} transform --source {first}{sources_arg} {sample or 'BODY.json'}",
    ]
    return lines


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = LocalStack(StackConfig.from_env())
    stack.start()
    try:
        print(_banner(stack), flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

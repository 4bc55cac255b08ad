"""The whole service on one machine: emulated AWS, simulated HubSpot, the webhook front and the poller.

``make run`` starts it through ``python -m hubsync_local``; the end-to-end tests start it in-process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from hubsync_local.aws import MotoServer, StackResources, aws_environment, client, create_stack_resources
from hubsync_local.gateway import GatewayServer, LocalGateway, Route
from hubsync_local.lambda_runtime import load_handler
from hubsync_local.poller import SqsPoller
from hubsync_local.template import Template

DEFAULT_SIMULATOR_TOKEN = "hubsync-local-token"  # HUBSPOT_SIMULATOR_TOKEN when unset (documented)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass
class StackConfig:
    """How to run the local stack. ``None`` ports are chosen free; ``hubspot_base_url`` None = simulator."""

    stack_name: str = "hubsync-local"
    gateway_port: int | None = 3000
    simulator_port: int | None = 3001
    aws_port: int | None = None
    aws_endpoint_url: str | None = None  # an emulator already running (tests share one)
    hubspot_base_url: str | None = None
    hubspot_token: str | None = None
    webhook_secrets: list[str] = field(default_factory=list)
    webhook_secret_document: str | None = None  # the webhook secret's whole value (per-source JSON object)
    simulator_seed: Any = None
    simulator_rate_limit: int | None = None
    # Template values by default; tests shorten the visibility timeout and the batching window.
    visibility_timeout: int | None = None
    batch_size: int | None = None
    window_seconds: float | None = None
    extra_environment: dict[str, str] = field(default_factory=dict)
    start_poller: bool = True  # False: tests fill the queue first, then call stack.poller.start()

    # Set by from_env (make run): the secrets generated for sources the operator gave none (printed), and
    # whether the sources are the worked examples of events/webhook-sources.json.
    generated_secrets: dict[str, str] = field(default_factory=dict)
    example_sources: bool = False

    @classmethod
    def from_env(cls) -> StackConfig:
        """make run's configuration: WEBHOOK_SOURCES, else the worked examples (docs/mappings.md); the secrets
        of WEBHOOK_SECRETS (a list for ``default`` or a per-source object), one generated for every other source."""
        from hubsync.intake.sources import parse_source_secrets, parse_sources
        from hubsync_local import examples

        given_sources = os.environ.get("WEBHOOK_SOURCES", "").strip()
        extra = {name: os.environ[name] for name in ("LOG_LEVEL",) if os.environ.get(name)}
        extra["WEBHOOK_SOURCES"] = given_sources or examples.sources_text()
        secrets_by_source, generated = examples.fill_secrets(
            parse_sources(extra["WEBHOOK_SOURCES"]), parse_source_secrets(os.environ.get("WEBHOOK_SECRETS", ""))
        )
        return cls(
            webhook_secrets=secrets_by_source.get("default", []),
            webhook_secret_document=json.dumps(secrets_by_source),
            generated_secrets=generated,
            example_sources=not given_sources,
            extra_environment=extra,
            **_local_settings(),
        )


def _local_settings() -> dict[str, Any]:
    return dict(
        gateway_port=_int_env("LOCAL_GATEWAY_PORT") or 3000,
        simulator_port=_int_env("LOCAL_SIMULATOR_PORT") or 3001,
        hubspot_base_url=os.environ.get("HUBSPOT_BASE_URL") or None,
        hubspot_token=os.environ.get("HUBSPOT_ACCESS_TOKEN") or None,
        visibility_timeout=_int_env("LOCAL_VISIBILITY_TIMEOUT"),
        window_seconds=_int_env("LOCAL_BATCHING_WINDOW_SECONDS"),
    )


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.template = Template.load(stack_name=self.config.stack_name)
        self.moto: MotoServer | None = None
        self.simulator: Any = None
        self.gateway: GatewayServer | None = None
        self.poller: SqsPoller | None = None
        self.resources: StackResources | None = None
        self.webhook_secrets: list[str] = list(self.config.webhook_secrets) or (
            [] if self.config.webhook_secret_document else [new_webhook_secret()]
        )
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle
    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        endpoint = self.config.aws_endpoint_url
        if endpoint is None:
            self.moto = MotoServer(port=self.config.aws_port)
            self.moto.start()
            endpoint = self.moto.url
        self.aws_endpoint_url = endpoint
        self._set_env(aws_environment(endpoint))
        hubspot_url, token = self._start_hubspot()
        self.sqs = client("sqs", endpoint)
        overrides = {"VisibilityTimeout": str(self.config.visibility_timeout)} if self.config.visibility_timeout else {}
        self.resources = create_stack_resources(
            self.template,
            self.sqs,
            client("secretsmanager", endpoint),
            client("dynamodb", endpoint),
            hubspot_token=token,
            s3=client("s3", endpoint),
            webhook_secret=self.config.webhook_secret_document or json.dumps(self.webhook_secrets),
            queue_overrides=overrides,
        )
        self.template.parameters["HubSpotBaseUrl"] = hubspot_url
        # Every function sees the variables template.yaml gives it; in one process they share os.environ.
        environment: dict[str, str] = {}
        for function_id in ("ReceiverFunction", "UpdaterFunction", "ReplayerFunction", "ArchiverFunction"):
            environment.update(self.template.function_environment(function_id))
        environment.update(self.config.extra_environment)
        self._set_env(environment)
        from hubsync_local.registry import mapping_enabled, register

        lam = client("lambda", endpoint)
        self.mapping_id = register(
            self.template,
            self.resources,
            {
                "iam": client("iam", endpoint),
                "lambda": lam,
                "sqs": self.sqs,
                "cloudformation": client("cloudformation", endpoint),
            },
        )
        self._mapping_enabled = lambda: mapping_enabled(lam, self.mapping_id)
        self._start_gateway()
        self._start_poller()

    def _start_hubspot(self) -> tuple[str, str]:
        if self.config.hubspot_base_url:
            if not self.config.hubspot_token:
                raise SystemExit("HUBSPOT_BASE_URL is set: set HUBSPOT_ACCESS_TOKEN to the private-app token too")
            return self.config.hubspot_base_url, self.config.hubspot_token
        from hubsync_local.simulator import HubSpotSimulator

        token = os.environ.get("HUBSPOT_SIMULATOR_TOKEN") or DEFAULT_SIMULATOR_TOKEN
        self.simulator = HubSpotSimulator(
            port=self.config.simulator_port or 0,
            token=token,
            seed=self.config.simulator_seed,
            rate_limit=self.config.simulator_rate_limit,
        )
        self.simulator.start()
        return str(self.simulator.url), token

    def _start_gateway(self) -> None:
        receiver = load_handler("receiver")
        timeout = self.template.function_timeout("ReceiverFunction")
        name = f"{self.config.stack_name}-receiver"
        routes = [
            Route("POST", "/webhooks", receiver, name, timeout),
            Route("POST", "/webhooks/{source}", receiver, name, timeout),
        ]
        self.gateway = GatewayServer(LocalGateway(routes), port=self.config.gateway_port or 0)
        self.gateway.start()

    def _start_poller(self) -> None:
        assert self.resources
        event = self.template.sqs_event("UpdaterFunction")
        self.poller = SqsPoller(
            self.sqs,
            self.resources.queue_url,
            self.resources.queue_arn,
            load_handler("updater"),
            function_name=f"{self.config.stack_name}-updater",
            timeout_seconds=self.template.function_timeout("UpdaterFunction"),
            batch_size=self.config.batch_size or int(event["BatchSize"]),
            window_seconds=(
                self.config.window_seconds
                if self.config.window_seconds is not None
                else float(event["MaximumBatchingWindowInSeconds"])
            ),
            enabled=self._mapping_enabled,
        )
        if self.config.start_poller:
            self.poller.start()

    def stop(self) -> None:
        for part in (self.poller, self.gateway, self.simulator):
            if part is not None:
                with contextlib.suppress(Exception):  # stop the rest regardless
                    part.stop()
        if self.moto:
            self.moto.stop()
        self._restore_env()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- environment (the functions read it, as in Lambda)
    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- conveniences
    @property
    def webhook_url(self) -> str:
        assert self.gateway
        return f"{self.gateway.url}/webhooks"

    def queue_depths(self) -> dict[str, int]:
        assert self.resources
        depths = {}
        for name, url in (("queue", self.resources.queue_url), ("dlq", self.resources.dlq_url)):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[name] = int(attributes["ApproximateNumberOfMessages"])
            depths[f"{name}_in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])
        return depths

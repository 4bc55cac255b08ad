"""ReceiverFunction: API Gateway HTTP API (payload 2.0) -> verified, validated events on SQS."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from hubsync.config import Settings
from hubsync.exceptions import ConfigurationError
from hubsync.factory import build_receiver
from hubsync.intake.receiver import Receiver, error, request_from_api_gateway

logger = Logger()
metrics = Metrics(namespace="hubsync")
copy_config_to_registered_loggers(source_logger=logger, include={"hubsync"})
_receiver: Receiver | None = None


def _service() -> Receiver:
    # Built on the first request, then kept for the container's life (clients, cached secrets).
    global _receiver
    if _receiver is None:
        _receiver = build_receiver(Settings.from_env())
    return _receiver


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="WebhookRequests", unit=MetricUnit.Count, value=1)
    try:
        service = _service()
    except ConfigurationError as exc:
        # One clear line naming the variable; the sender gets a 503 and delivers again once it is fixed.
        logger.error(f"configuration error: {exc.message}")
        metrics.add_metric(name="ReceiverUnavailable", unit=MetricUnit.Count, value=1)
        return error(503, "not_ready", "the receiver is not configured yet; retry later").to_api_gateway()
    response = service.handle(request_from_api_gateway(event), context)
    if response.status == 202:
        metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=response.body["accepted"])
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(response.body["rejected"]))
    elif response.status >= 500:
        metrics.add_metric(name="ReceiverUnavailable", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    return response.to_api_gateway()

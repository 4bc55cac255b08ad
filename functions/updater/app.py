"""UpdaterFunction: SQS batches -> merged HubSpot batch updates, answered as a partial batch response."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hubsync.config import Settings
from hubsync.delivery.report import UpdateReport
from hubsync.delivery.updater import Updater
from hubsync.exceptions import ConfigurationError
from hubsync.factory import build_updater

logger = Logger()
metrics = Metrics(namespace="hubsync")
copy_config_to_registered_loggers(source_logger=logger, include={"hubsync"})
_updater: Updater | None = None
_daily_limit_reported = False


def _service() -> Updater:
    global _updater
    if _updater is None:
        try:
            _updater = build_updater(Settings.from_env())
        except ConfigurationError as exc:
            # One clear line naming the variable; the batch then fails whole and SQS keeps the events.
            logger.error(f"configuration error: {exc.message}")
            raise
    return _updater


def _record(report: UpdateReport) -> None:
    global _daily_limit_reported
    counts = {
        "EventsReceived": report.messages,
        "InputsMerged": report.events_merged,
        "HubSpotCalls": report.calls,
        "IsolationCalls": report.isolation_calls,
        "RateLimited": report.rate_limited,
        "HubSpotAuthFailures": report.auth_failures,
        "UnprovenInputs": report.unproven_inputs,
        "DeadLettered": sum(report.dead_lettered.values()),
        "EventsApplied": report.applied_events,
        "SupersededValues": report.superseded_values,
        "RetriedLater": report.retried_later,
        "Requeued": report.requeued,
        "ValuesConverted": report.values_converted,
        "RefusedBeforeSending": sum(report.refused_before_sending.values()),
        "PropertyReads": report.property_reads,
        "PropertyDefinitionsUnavailable": len(report.definitions_unavailable),
        "GuidedSplits": report.guided_splits,
    }
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    # Per category and per HTTP status: one EMF document each, with its dimension.
    for dimension, by_value, metric_name in (
        ("Category", report.dead_lettered, "DeadLettered"),
        ("Status", report.calls_by_status, "HubSpotCalls"),
        ("Code", report.refused_before_sending, "RefusedBeforeSending"),
    ):
        for key, count in by_value.items():
            with single_metric(name=metric_name, unit=MetricUnit.Count, value=count, namespace="hubsync") as metric:
                metric.add_dimension(name=dimension, value=str(key))
    if report.max_lag_ms is not None:
        metrics.add_metric(name="EndToEndLag", unit=MetricUnit.Milliseconds, value=report.max_lag_ms)
    if report.daily_limit_hit and not _daily_limit_reported:
        # Once per container: the alarm needs one data point, the logs need one line.
        _daily_limit_reported = True
        metrics.add_metric(name="DailyLimitHit", unit=MetricUnit.Count, value=1)
        logger.error("HubSpot's daily limit is reached: events are re-queued until it resets")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = _service().process(event.get("Records", []), lambda: context.get_remaining_time_in_millis() / 1000)
    _record(report)
    logger.info(
        "batch done",
        extra={
            "messages": report.messages,
            "inputs": report.inputs,
            "calls": report.calls,
            "applied_events": report.applied_events,
            "superseded_events": report.superseded_events,
            "retried_later": report.retried_later,
            "requeued": report.requeued,
            "dead_lettered": dict(report.dead_lettered),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_message_ids]}

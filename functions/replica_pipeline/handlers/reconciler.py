"""Reconciler Lambda: run on an EventBridge schedule; heals lost callbacks and stale items."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from replica_pipeline import runtime
from replica_pipeline.config import load_settings
from replica_pipeline.observability import (
    HALF_PAIRS_REJECTED,
    METRICS_NAMESPACE,
    RECONCILE_ADOPTED,
    RECONCILE_HEALED,
    RECONCILE_OUT_OF_TIME,
    RECONCILE_UNKNOWN_REPLICAS,
    STATUS_EVENTS_REPUBLISHED,
    STUCK_TRAININGS,
    TAVUS_SUSPECT,
    traced,
)
from replica_pipeline.services.reconcile import ReconcileDependencies, reconcile

# Left after the last item: writing the cursor, logging and metrics.
WRAP_UP_SECONDS = 5.0

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


@runtime.per_container
def dependencies() -> ReconcileDependencies:
    return ReconcileDependencies(
        store=runtime.replica_store(),
        tavus=runtime.tavus_client,
        settings=load_settings().reconcile,
    )


def for_this_run(context: LambdaContext) -> ReconcileDependencies:
    """The dependencies, with this invocation's deadline and hold on the reconciler."""
    time_left = context.get_remaining_time_in_millis() / 1000
    # Room after the deadline for one Tavus request at its slowest, and the wrap-up.
    room = load_settings().tavus.slowest_attempt_seconds + WRAP_UP_SECONDS
    return replace(
        dependencies(),
        deadline=time.monotonic() + max(0.0, time_left - room),
        run_lease_seconds=time_left,
    )


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = reconcile(for_this_run(context))
    # Emitted every run, zeros included, so the stuck-training alarm has data.
    metrics.add_metric(name=STUCK_TRAININGS, unit=MetricUnit.Count, value=report.stuck_trainings)
    metrics.add_metric(name=RECONCILE_HEALED, unit=MetricUnit.Count, value=report.healed)
    metrics.add_metric(name=RECONCILE_ADOPTED, unit=MetricUnit.Count, value=report.adopted)
    metrics.add_metric(
        name=HALF_PAIRS_REJECTED, unit=MetricUnit.Count, value=report.half_pairs_rejected
    )
    metrics.add_metric(name=RECONCILE_UNKNOWN_REPLICAS, unit=MetricUnit.Count, value=report.unknown)
    # Emitted every run, zeros included: the alarm on a Tavus that forgot many replicas.
    metrics.add_metric(name=TAVUS_SUSPECT, unit=MetricUnit.Count, value=int(report.tavus_suspect))
    metrics.add_metric(
        name=RECONCILE_OUT_OF_TIME, unit=MetricUnit.Count, value=int(report.out_of_time)
    )
    metrics.add_metric(
        name=STATUS_EVENTS_REPUBLISHED, unit=MetricUnit.Count, value=report.events_republished
    )
    logger.info("reconciled", extra=report.as_dict())
    return report.as_dict()

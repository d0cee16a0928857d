"""Reconciler Lambda: run on an EventBridge schedule; heals lost callbacks and stale items."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from replica_pipeline import runtime
from replica_pipeline.config import load_settings
from replica_pipeline.observability import METRICS_NAMESPACE, STUCK_TRAININGS, traced
from replica_pipeline.reconcile import ReconcileDependencies, reconcile

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)


@cache
def dependencies() -> ReconcileDependencies:
    return ReconcileDependencies(
        store=runtime.replica_store(),
        tavus=runtime.tavus_client,
        settings=load_settings().reconcile,
    )


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = reconcile(dependencies())
    # Emitted every run, zeros included, so the stuck-training alarm has data.
    metrics.add_metric(name=STUCK_TRAININGS, unit=MetricUnit.Count, value=report.stuck_trainings)
    metrics.add_metric(name="ReconcileHealed", unit=MetricUnit.Count, value=report.healed)
    metrics.add_metric(name="ReconcileAdopted", unit=MetricUnit.Count, value=report.adopted)
    metrics.add_metric(
        name="HalfPairsRejected", unit=MetricUnit.Count, value=report.half_pairs_rejected
    )
    logger.info("reconciled", extra=report.as_dict())
    return report.as_dict()

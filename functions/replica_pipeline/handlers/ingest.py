"""Ingest Lambda: S3 ObjectCreated notifications, delivered through SQS, become Tavus replicas.

Partial batch responses: a record that fails transiently goes back to the
queue alone (and to the DLQ after the queue's max receive count). A record
that only has to wait (rate limited, busy, no time left in this invocation)
is queued again with a delay, which uses up none of its deliveries.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from replica_pipeline import runtime
from replica_pipeline.adapters.aws import s3_client
from replica_pipeline.config import load_settings
from replica_pipeline.observability import (
    INGEST_MESSAGES,
    INGEST_RECORD_FAILED,
    METRICS_NAMESPACE,
    drops_metric,
    traced,
)
from replica_pipeline.services.ingest import IngestDependencies, ingest_record
from replica_pipeline.services.time_budget import RecordBudget

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)
processor = BatchProcessor(event_type=EventType.SQS)


@runtime.per_container
def dependencies() -> IngestDependencies:
    return IngestDependencies(
        settings=load_settings(),
        store=runtime.replica_store(),
        s3=s3_client(),
        tavus=runtime.tavus_client,
        signing_client=runtime.signing_client,
        callback_key=runtime.callback_key,
        requeue=runtime.send_to_ingest_queue,
        deep_check=runtime.deep_check_queue(),
    )


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    metrics.add_metric(name=INGEST_MESSAGES, unit=MetricUnit.Count, value=1)
    budget = RecordBudget.now(lambda_context.get_remaining_time_in_millis() / 1000)
    try:
        outcomes = ingest_record(record.body, dependencies(), budget)
    except Exception:
        logger.exception(
            "record failed; it returns to the queue", extra={"message_id": record.message_id}
        )
        metrics.add_metric(name=INGEST_RECORD_FAILED, unit=MetricUnit.Count, value=1)
        raise
    for outcome in outcomes:
        metrics.add_metric(name=drops_metric(outcome.value), unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

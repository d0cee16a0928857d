"""Deep-check Lambda: checks a submission's video(s) before Create Replica (``deep_check``).

One record per invocation (the event source's batch size is 1): a check downloads
up to two videos and decodes them. A record that fails (S3 or DynamoDB trouble, a
bug) goes back to the queue alone, then to the deep-check dead-letter queue; its
item stays ``checking`` until the record is redriven.
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
    DEEP_CHECK_FAILED,
    METRICS_NAMESPACE,
    deep_checks_metric,
    traced,
)
from replica_pipeline.services.deep_check import DeepCheckDependencies, deep_check

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)
processor = BatchProcessor(event_type=EventType.SQS)


@runtime.per_container
def dependencies() -> DeepCheckDependencies:
    return DeepCheckDependencies(
        settings=load_settings(),
        store=runtime.replica_store(),
        s3=s3_client(),
        send_to_ingest=runtime.send_to_ingest_queue,
    )


def record_handler(record: SQSRecord) -> None:
    try:
        outcome = deep_check(record.body, dependencies())
    except Exception:
        logger.exception(
            "deep check failed; the record returns to the queue",
            extra={"message_id": record.message_id},
        )
        metrics.add_metric(name=DEEP_CHECK_FAILED, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=deep_checks_metric(outcome.value), unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )

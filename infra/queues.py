"""A work queue and its dead-letter queue, as every SQS-fed function of the stack has them."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import skip_checks
from infra.nag import acknowledge

# How long what failed waits in a dead-letter queue to be read and redriven (SQS's most).
DLQ_RETENTION = Duration.days(14)


@dataclass(frozen=True)
class WorkQueueSpec:
    # AWS's advice for SQS event sources: at least six times the function's timeout.
    visibility_timeout: Duration
    max_receive_count: int
    # What waits in the dead-letter queue, for people: "notifications that failed".
    dead_letters: str
    # Why the queue is encrypted with SQS-managed keys rather than a KMS key.
    why_sqs_managed: str


def work_queue(scope: Construct, spec: WorkQueueSpec) -> tuple[sqs.Queue, sqs.Queue]:
    """``Queue`` and its ``DeadLetterQueue`` in ``scope``: SQS-managed encryption, TLS only,
    a message moved after ``max_receive_count`` deliveries. (queue, dead-letter queue)"""
    dead_letter_queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        retention_period=DLQ_RETENTION,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
    )
    skip_checks(
        dead_letter_queue,
        CKV_AWS_27="Encrypted with SQS-managed SSE (SqsManagedSseEnabled), like the queue it "
        "serves; checkov recognises only KmsMasterKeyId.",
    )
    acknowledge(
        dead_letter_queue,
        "Serverless-SQSRedrivePolicy",
        f"A dead-letter queue: {spec.dead_letters} {spec.max_receive_count} times wait here "
        "(14 days) to be inspected and redriven; a queue behind it would only move them.",
    )
    queue = sqs.Queue(
        scope,
        "Queue",
        visibility_timeout=spec.visibility_timeout,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        dead_letter_queue=sqs.DeadLetterQueue(
            max_receive_count=spec.max_receive_count, queue=dead_letter_queue
        ),
    )
    skip_checks(
        queue,
        CKV_AWS_27="Encrypted with SQS-managed SSE (SqsManagedSseEnabled): "
        f"{spec.why_sqs_managed}; checkov recognises only KmsMasterKeyId.",
    )
    return queue, dead_letter_queue

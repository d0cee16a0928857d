"""Deep check (the ``deep_check`` setting): ingest -> deep-check queue (+ DLQ) -> the deep-check
function, one submission at a time, which downloads the video(s), checks their pictures and
sound (PyAV, numpy, OpenCV) and puts the submission back on the ingest queue for Create
Replica."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import deep_check_code
from infra.functions import FunctionSpec, FunctionsRuntime, PipelineFunction
from infra.nag import acknowledge, nag_reference
from infra.queues import WorkQueueSpec, work_queue
from infra.storage import ReplicasTable, UploadsBucket
from replica_pipeline.config import (
    DEEP_CHECK_EPHEMERAL_MB,
    DEEP_CHECK_MEMORY_MB,
    DEEP_CHECK_TIMEOUT_SECONDS,
    INGEST_QUEUE_URL,
)

HANDLER = "replica_pipeline.handlers.deep_check.handler"
TIMEOUT = Duration.seconds(DEEP_CHECK_TIMEOUT_SECONDS)
# AWS's advice for SQS event sources: visibility at least six times the function timeout
# (90 minutes, within SQS's 12 hours).
VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
# One submission per invocation: a check downloads up to two videos into /tmp and decodes them.
BATCH_SIZE = 1


@dataclass(frozen=True)
class DeepCheckProps:
    runtime: FunctionsRuntime
    uploads: UploadsBucket
    replicas: ReplicasTable
    event_bus: events.IEventBus
    # Where checked submissions go on to Create Replica.
    ingest_queue: sqs.IQueue
    dlq_max_receive_count: int


class DeepCheck(Construct):
    """The deep-check queue, its dead-letter queue and the deep-check function."""

    def __init__(self, scope: Construct, construct_id: str, props: DeepCheckProps) -> None:
        super().__init__(scope, construct_id)
        self.queue, self.dead_letter_queue = work_queue(
            self,
            WorkQueueSpec(
                visibility_timeout=VISIBILITY_TIMEOUT,
                max_receive_count=props.dlq_max_receive_count,
                dead_letters="submissions whose check failed (their items still checking)",
                why_sqs_managed="only the stack's functions send to it",
            ),
        )

        self.handler = PipelineFunction(
            self,
            "Handler",
            props.runtime,
            FunctionSpec(
                handler=HANDLER,
                description="Checks a submission's video(s), pictures and sound, before "
                "Create Replica",
                timeout=TIMEOUT,
                memory_size=DEEP_CHECK_MEMORY_MB,
                ephemeral_storage_mib=DEEP_CHECK_EPHEMERAL_MB,
                # PyAV, numpy and OpenCV: in this function's asset only.
                code=deep_check_code(),
                no_dead_letter_queue_because="Invoked synchronously by the SQS event source "
                "of the deep-check queue, never asynchronously, so a function DLQ would stay "
                "empty; checks that keep failing move to the deep-check queue's DLQ.",
            ),
        )
        function = self.handler.function
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True
            )
        )
        self.event_source_mapping = next(
            child
            for child in function.node.children
            if isinstance(child, lambda_.EventSourceMapping)
        )
        acknowledge(
            self.event_source_mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event sources take no on-failure destination; a deep check that keeps "
            "failing moves to the deep-check queue's dead-letter queue through its redrive "
            "policy.",
        )
        # Checked submissions go on to ingest, which calls Create Replica.
        function.add_environment(INGEST_QUEUE_URL, props.ingest_queue.queue_url)
        self._grant(props, self.handler.role)

    def _grant(self, props: DeepCheckProps, role: iam.IRole) -> None:
        uploads = props.uploads
        # Downloads the upload(s) it is told about (by version): no listing, no secrets.
        role.add_to_principal_policy(uploads.read_uploads_statement())
        for statement in uploads.decrypt_statements():
            role.add_to_principal_policy(statement)
        # The status store writes the verdict and publishes the status change, as ingest's does.
        props.replicas.grant_item_writes(role)
        props.event_bus.grant_put_events_to(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SendCheckedToIngest",
                actions=["sqs:SendMessage"],
                resources=[props.ingest_queue.queue_arn],
            )
        )
        policy = self.handler.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{uploads.uploads_nag_resource()}]",
            "The deep check downloads the training and consent videos of whichever submission "
            "it is sent, so it may read any object under the upload prefix, and only there.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag_reference(props.replicas.table)}/index/*]",
            "The deep check's status store may query the table's GSIs as ingest's does; CDK's "
            "table grant names them with index/*, which covers exactly the schema's indexes.",
        )

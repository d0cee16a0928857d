"""Ingest: S3 ObjectCreated under the upload prefix -> SQS queue (+ DLQ) -> the ingest function,
in batches with partial failures, at most ``max_concurrency`` at a time (which caps the rate
of Create Replica calls to Tavus)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import skip_checks
from infra.functions import FunctionSpec, FunctionsRuntime, PipelineFunction
from infra.nag import acknowledge, nag_reference
from infra.queues import WorkQueueSpec, work_queue
from infra.secrets import PipelineSecrets, grant_get_secret_value
from infra.signers import CloudFrontSigner
from infra.storage import ReplicasTable, UploadsBucket
from replica_pipeline.config import (
    DEEP_CHECK_QUEUE_URL,
    INGEST_QUEUE_URL,
    INGEST_TIMEOUT_SECONDS,
)

HANDLER = "replica_pipeline.handlers.ingest.handler"
# Records that would not fit in it are deferred, not started (services/time_budget.py).
TIMEOUT = Duration.seconds(INGEST_TIMEOUT_SECONDS)
# The claim on a submission outlives any invocation holding it (SUBMIT_LEASE_SECONDS).
SUBMIT_LEASE = Duration.minutes(5)
# AWS's advice for SQS event sources: visibility at least six times the function timeout.
VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
BATCH_SIZE = 10
# The id CDK gives the singleton function that applies bucket notifications.
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


@dataclass(frozen=True)
class IngestProps:
    runtime: FunctionsRuntime
    uploads: UploadsBucket
    replicas: ReplicasTable
    secrets: PipelineSecrets
    event_bus: events.IEventBus
    max_concurrency: int
    dlq_max_receive_count: int
    # The cloudfront signer, whose private key ingest reads; None with the iam_user signer.
    cloudfront_signer: CloudFrontSigner | None = None


class Ingest(Construct):
    """The ingest queue, its dead-letter queue, the bucket notification and the ingest function."""

    def __init__(self, scope: Construct, construct_id: str, props: IngestProps) -> None:
        super().__init__(scope, construct_id)
        self.queue, self.dead_letter_queue = work_queue(
            self,
            WorkQueueSpec(
                visibility_timeout=VISIBILITY_TIMEOUT,
                max_receive_count=props.dlq_max_receive_count,
                dead_letters="notifications that failed",
                why_sqs_managed="S3 can deliver notifications to it, which it cannot to a "
                "queue under the AWS-managed aws/sqs key",
            ),
        )
        props.uploads.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.queue),
            s3.NotificationKeyFilter(prefix=props.uploads.upload_prefix),
        )
        self._acknowledge_notifications_handler()

        self.handler = PipelineFunction(
            self,
            "Handler",
            props.runtime,
            FunctionSpec(
                handler=HANDLER,
                description="Validates each drop and submits it to Tavus (Create Replica)",
                timeout=TIMEOUT,
                memory_size=512,
                no_dead_letter_queue_because="Invoked synchronously by the SQS event source, "
                "never asynchronously, so a function DLQ would never receive anything; "
                "records that keep failing move to the ingest queue's DLQ.",
            ),
        )
        function = self.handler.function
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=props.max_concurrency,
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
            "SQS event sources take no on-failure destination; a record that keeps failing "
            "moves to the ingest queue's dead-letter queue through its redrive policy.",
        )

        # Deferred records (rate limited, busy, out of time) are queued again by ingest.
        function.add_environment(INGEST_QUEUE_URL, self.queue.queue_url)
        self._grant(props, self.handler.role)

    def send_to_deep_check(self, deep_check_queue: sqs.IQueue) -> None:
        """The deep_check setting: complete submissions go to the deep check's queue before
        Create Replica (which ingest calls once the check puts them back on its queue)."""
        self.handler.function.add_environment(DEEP_CHECK_QUEUE_URL, deep_check_queue.queue_url)
        self.handler.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SendToDeepCheck",
                actions=["sqs:SendMessage"],
                resources=[deep_check_queue.queue_arn],
            )
        )

    def _acknowledge_notifications_handler(self) -> None:
        # CDK configures bucket notifications through a singleton custom resource of its own.
        handler = Stack.of(self).node.find_child(NOTIFICATIONS_HANDLER_ID)
        skip_checks(
            handler,
            CKV_AWS_115="CDK's bucket-notifications handler runs only while CloudFormation "
            "applies the notification configuration; it serves no traffic to cap.",
            CKV_AWS_116="CDK's bucket-notifications handler is invoked synchronously by "
            "CloudFormation, which reports its failure as a failed deployment.",
            CKV_AWS_117="CDK's bucket-notifications handler calls only the S3 API; there is "
            "no VPC resource for it to reach.",
        )
        acknowledge(
            handler.node.find_child("Role"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Role of CDK's own bucket-notifications custom resource, which runs only during "
            "deployments to set the uploads bucket's notification; CDK fixes its policies.",
        )

    def _grant(self, props: IngestProps, role: iam.IRole) -> None:
        uploads = props.uploads
        role.add_to_principal_policy(uploads.read_uploads_statement())
        role.add_to_principal_policy(uploads.list_uploads_statement())
        for statement in uploads.decrypt_statements():
            role.add_to_principal_policy(statement)
        props.replicas.grant_item_writes(role)
        secrets = props.secrets
        grant_get_secret_value(
            role,
            "ReadIngestSecrets",
            secrets.tavus_api_key,
            secrets.callback_hmac_key,
            (
                props.cloudfront_signer.key_secret
                if props.cloudfront_signer is not None
                else secrets.signer_credentials
            ),
        )
        props.event_bus.grant_put_events_to(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeferToIngestQueue",
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
            )
        )
        policy = self.handler.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{uploads.uploads_nag_resource()}]",
            "Ingest reads whichever upload it is notified about (HEAD and ranged GETs of the "
            "container header), so it may read any object under the upload prefix, and only "
            "there.",
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{nag_reference(props.replicas.table)}/index/*]",
            "Ingest queries the table's two GSIs (by status, by replica id); CDK's table grant "
            "names them with index/*, which covers exactly those two.",
        )

"""The replica-pipeline stack: it only wires the constructs together and names the outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from constructs import Construct

from infra import ingest
from infra.api import (
    CallbackEndpoint,
    CallbackEndpointProps,
    PipelineApi,
    PipelineApiProps,
    StatusEndpoints,
    StatusEndpointsProps,
)
from infra.functions import (
    EnvironmentInputs,
    FunctionsRuntime,
    FunctionsRuntimeProps,
    lambda_environment,
    log_retention,
)
from infra.ingest import Ingest, IngestProps
from infra.operations import Operations, OperationsProps
from infra.reconciler import Reconciler, ReconcilerProps
from infra.secrets import PipelineSecrets, PipelineSecretsProps
from infra.settings import UPLOAD_PREFIX, StackSettings
from infra.status_events import StatusEvents, StatusEventsProps
from infra.storage import ReplicasTable, UploadsBucket, UploadsBucketProps


class ReplicaPipelineStack(Stack):
    """S3 drops -> SQS -> ingest -> Tavus; callbacks and the status API behind API Gateway;
    a scheduled reconciler; alarms and a dashboard."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"replica-pipeline ({settings.stage}): S3 drops become Tavus replicas",
            **kwargs,
        )
        Tags.of(self).add("project", "replica-pipeline")
        Tags.of(self).add("stage", settings.stage)
        removal = RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY
        retention = log_retention(settings.log_retention_days)

        self.uploads = UploadsBucket(
            self,
            "Uploads",
            UploadsBucketProps(
                upload_prefix=UPLOAD_PREFIX,
                removal_policy=removal,
                use_kms=settings.bucket_kms,
                upload_expiry_days=settings.upload_expiry_days,
            ),
        )
        self.replicas = ReplicasTable(self, "Replicas", removal_policy=removal)
        self.secrets = PipelineSecrets(
            self,
            "Secrets",
            PipelineSecretsProps(
                uploads=self.uploads,
                removal_policy=removal,
                signer_key_serial=settings.signer_key_serial,
            ),
        )
        self.status_events = StatusEvents(
            self,
            "StatusEvents",
            StatusEventsProps(
                use_default_bus=settings.uses_default_event_bus,
                bus_name=settings.custom_event_bus_name,
            ),
        )
        self.api = PipelineApi(
            self,
            "Api",
            PipelineApiProps(
                stage=settings.stage,
                callback_rate_limit=settings.callback_rate_limit,
                callback_burst_limit=settings.callback_burst_limit,
                log_retention=retention,
                removal_policy=removal,
            ),
        )
        self.runtime = FunctionsRuntime(
            self,
            "Functions",
            FunctionsRuntimeProps(
                settings=settings,
                environment=lambda_environment(
                    settings,
                    EnvironmentInputs(
                        table_name=self.replicas.table.table_name,
                        tavus_api_key_secret_arn=self.secrets.tavus_api_key.secret_arn,
                        callback_hmac_secret_arn=self.secrets.callback_hmac_key.secret_arn,
                        signer_secret_arn=self.secrets.signer_credentials.secret_arn,
                        callback_base_url=self.api.callback_base_url,
                        event_bus_name=self.status_events.bus_name,
                        submit_lease=ingest.SUBMIT_LEASE,
                    ),
                ),
            ),
        )
        self.ingest = Ingest(
            self,
            "Ingest",
            IngestProps(
                runtime=self.runtime,
                uploads=self.uploads,
                replicas=self.replicas,
                secrets=self.secrets,
                event_bus=self.status_events.bus,
                max_concurrency=settings.ingest_max_concurrency,
                dlq_max_receive_count=settings.dlq_max_receive_count,
            ),
        )
        self.callbacks = CallbackEndpoint(
            self,
            "Callbacks",
            CallbackEndpointProps(
                api=self.api,
                runtime=self.runtime,
                replicas=self.replicas,
                secrets=self.secrets,
                event_bus=self.status_events.bus,
            ),
        )
        self.status = StatusEndpoints(
            self,
            "Status",
            StatusEndpointsProps(
                api=self.api,
                runtime=self.runtime,
                replicas=self.replicas,
                ingest_queue=self.ingest.queue,
                event_bus=self.status_events.bus,
            ),
        )
        reconcile_every = Duration.minutes(settings.reconcile_every_minutes)
        self.reconciler = Reconciler(
            self,
            "Reconciler",
            ReconcilerProps(
                runtime=self.runtime,
                replicas=self.replicas,
                secrets=self.secrets,
                event_bus=self.status_events.bus,
                every=reconcile_every,
            ),
        )
        self.operations = Operations(
            self,
            "Operations",
            OperationsProps(
                stage=settings.stage,
                service_name=settings.service_name,
                alarm_email=settings.alarm_email,
                functions={
                    "Ingest": self.ingest.handler.function,
                    "Callback": self.callbacks.handler.function,
                    "StatusApi": self.status.handler.function,
                    "Reconciler": self.reconciler.handler.function,
                },
                ingest_queue=self.ingest.queue,
                ingest_dead_letter_queue=self.ingest.dead_letter_queue,
                reconciler_dead_letter_queue=self.reconciler.dead_letter_queue,
                api_stage=self.api.stage,
                reconcile_every=reconcile_every,
            ),
        )
        self._outputs()

    def _outputs(self) -> None:
        outputs = {
            "UploadsBucketName": (self.uploads.bucket.bucket_name, "Drop videos here"),
            "UploadPrefix": (self.uploads.upload_prefix, "Key prefix of drops"),
            "ReplicasTableName": (self.replicas.table.table_name, "One item per submission"),
            "ApiUrl": (self.api.rest_api.url, "Status API (IAM auth) and callbacks"),
            "CallbackBaseUrl": (self.api.callback_base_url, "Where Tavus posts callbacks"),
            "TavusApiKeySecretArn": (
                self.secrets.tavus_api_key.secret_arn,
                "Put your Tavus API key here",
            ),
            "CallbackHmacSecretArn": (
                self.secrets.callback_hmac_key.secret_arn,
                "Key of the callback tokens",
            ),
            "SignerSecretArn": (
                self.secrets.signer_credentials.secret_arn,
                "Access key that pre-signs Tavus download URLs",
            ),
            "SignerUserName": (self.secrets.signer.user_name, "IAM user of the signer key"),
            "EventBusName": (self.status_events.bus_name, "Replica Status Changed events"),
            "DashboardUrl": (self.operations.dashboard_url, "CloudWatch dashboard"),
            "AlarmTopicArn": (self.operations.topic.topic_arn, "Subscribe to receive alarms"),
            "IngestQueueUrl": (self.ingest.queue.queue_url, "S3 notifications to ingest"),
            "IngestDlqUrl": (
                self.ingest.dead_letter_queue.queue_url,
                "Notifications ingest gave up on (replicas dead-letters --redrive)",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

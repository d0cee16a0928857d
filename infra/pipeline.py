"""The pipeline as one construct, for this repository's stack and for other CDK apps alike.

Another app adds it to a stack of its own, the way AWS Solutions Constructs are used::

    from infra.pipeline import ReplicaPipeline, ReplicaPipelineProps
    from infra.settings import StackSettings

    ReplicaPipeline(self, "Replicas", ReplicaPipelineProps(
        settings=StackSettings(stage="prod"),
        uploads_bucket=my_bucket,  # optional: drops then land in a bucket you already have
    ))

With ``uploads_bucket``, the bucket stays yours: its encryption, versioning, logging and
lifecycle are left as they are, and the pipeline adds only the S3 notification of its
upload prefix (``uploads/``) and read access for its functions. S3 allows one
notification per event type and prefix, so no other notification may cover ``uploads/``.
Pass ``uploads_key`` when the bucket encrypts with a KMS key of yours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, Tags
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
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
from infra.deep_check import DeepCheck, DeepCheckProps
from infra.feature_flags import apply_feature_flags
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
from infra.signers import CloudFrontSigner, CloudFrontSignerProps, cloudfront_environment
from infra.status_events import StatusEvents, StatusEventsProps
from infra.storage import ReplicasTable, UploadsBucket, UploadsBucketProps


@dataclass(frozen=True)
class ReplicaPipelineProps:
    # Every setting has the default cdk.json documents; StackSettings.from_context reads them.
    settings: StackSettings = field(default_factory=StackSettings)
    # A bucket you already have, to take the drops; None makes a new one.
    uploads_bucket: s3.IBucket | None = None
    # The KMS key that bucket encrypts with, if any (the settings' bucket_kms is then ignored).
    uploads_key: kms.IKey | None = None


class ReplicaPipeline(Construct):
    """S3 drops -> SQS -> ingest -> Tavus (through the deep check, with the deep_check
    setting); callbacks and the status API behind API Gateway; a scheduled reconciler; alarms
    and a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        props: ReplicaPipelineProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        apply_feature_flags(self)
        props = props or ReplicaPipelineProps()
        settings = props.settings
        self.settings = settings
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
                existing_bucket=props.uploads_bucket,
                existing_key=props.uploads_key,
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
                iam_user_signer=not settings.uses_cloudfront_signer,
            ),
        )
        # signer=cloudfront: CloudFront signed URLs instead of an IAM user's access key.
        self.cloudfront_signer: CloudFrontSigner | None = None
        if settings.uses_cloudfront_signer:
            self.cloudfront_signer = CloudFrontSigner(
                self,
                "CloudFrontSigner",
                CloudFrontSignerProps(
                    settings=settings, uploads=self.uploads, removal_policy=removal
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
                        signer_secret_arn=(
                            self.secrets.signer_credentials.secret_arn
                            if self.secrets.iam_user_signer
                            else None
                        ),
                        signer_environment=(
                            cloudfront_environment(self.cloudfront_signer)
                            if self.cloudfront_signer
                            else None
                        ),
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
                cloudfront_signer=self.cloudfront_signer,
            ),
        )
        # deep_check: complete submissions are checked by a function of their own first.
        self.deep_check: DeepCheck | None = None
        if settings.deep_check:
            self.deep_check = DeepCheck(
                self,
                "DeepCheck",
                DeepCheckProps(
                    runtime=self.runtime,
                    uploads=self.uploads,
                    replicas=self.replicas,
                    event_bus=self.status_events.bus,
                    ingest_queue=self.ingest.queue,
                    dlq_max_receive_count=settings.dlq_max_receive_count,
                ),
            )
            self.ingest.send_to_deep_check(self.deep_check.queue)
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
                    **(
                        {"DeepCheck": self.deep_check.handler.function}
                        if self.deep_check is not None
                        else {}
                    ),
                },
                ingest_queue=self.ingest.queue,
                ingest_dead_letter_queue=self.ingest.dead_letter_queue,
                reconciler_dead_letter_queue=self.reconciler.dead_letter_queue,
                deep_check_dead_letter_queue=(
                    self.deep_check.dead_letter_queue if self.deep_check is not None else None
                ),
                api_stage=self.api.stage,
                reconcile_every=reconcile_every,
            ),
        )

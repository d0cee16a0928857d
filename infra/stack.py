"""The replica-pipeline stack of this repository's app: the construct, its tags and outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.pipeline import ReplicaPipeline, ReplicaPipelineProps
from infra.settings import StackSettings
from replica_pipeline.contracts import stack_outputs

# The deep check's outputs (the deep_check setting); the CLI reads neither.


class ReplicaPipelineStack(Stack):
    """One stage of the pipeline: the ``ReplicaPipeline`` construct and the stack's outputs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"replica-pipeline ({settings.stage}): S3 drops become Tavus replicas",
            **kwargs,
        )
        # Tagged here too: CDK's stack-level helpers (bucket notifications, auto-delete) sit
        # outside the construct.
        Tags.of(self).add("project", "replica-pipeline")
        Tags.of(self).add("stage", settings.stage)
        self.pipeline = ReplicaPipeline(self, "Pipeline", ReplicaPipelineProps(settings=settings))
        self._outputs()

    def _outputs(self) -> None:
        # Ids from the shared contract: the CLI finds a deployed stack by them.
        pipeline = self.pipeline
        outputs = {
            stack_outputs.UPLOADS_BUCKET_NAME: (
                pipeline.uploads.bucket.bucket_name,
                "Drop videos here",
            ),
            stack_outputs.UPLOAD_PREFIX: (pipeline.uploads.upload_prefix, "Key prefix of drops"),
            stack_outputs.REPLICAS_TABLE_NAME: (
                pipeline.replicas.table.table_name,
                "One item per submission",
            ),
            stack_outputs.API_URL: (
                pipeline.api.rest_api.url,
                "Status API (IAM auth) and callbacks",
            ),
            stack_outputs.CALLBACK_BASE_URL: (
                pipeline.api.callback_base_url,
                "Where Tavus posts callbacks",
            ),
            stack_outputs.TAVUS_API_KEY_SECRET_ARN: (
                pipeline.secrets.tavus_api_key.secret_arn,
                "Put your Tavus API key here",
            ),
            stack_outputs.CALLBACK_HMAC_SECRET_ARN: (
                pipeline.secrets.callback_hmac_key.secret_arn,
                "Key of the callback tokens",
            ),
            **self._signer_outputs(),
            stack_outputs.EVENT_BUS_NAME: (
                pipeline.status_events.bus_name,
                "Replica Status Changed events",
            ),
            stack_outputs.DASHBOARD_URL: (
                pipeline.operations.dashboard_url,
                "CloudWatch dashboard",
            ),
            stack_outputs.ALARM_TOPIC_ARN: (
                pipeline.operations.topic.topic_arn,
                "Subscribe to receive alarms",
            ),
            stack_outputs.INGEST_QUEUE_URL: (
                pipeline.ingest.queue.queue_url,
                "S3 notifications to ingest",
            ),
            stack_outputs.INGEST_DLQ_URL: (
                pipeline.ingest.dead_letter_queue.queue_url,
                "Notifications ingest gave up on (replicas dead-letters --redrive)",
            ),
            **self._deep_check_outputs(),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

    def _deep_check_outputs(self) -> dict[str, tuple[str, str]]:
        deep_check = self.pipeline.deep_check
        if deep_check is None:
            return {}
        return {
            stack_outputs.DEEP_CHECK_QUEUE_URL: (
                deep_check.queue.queue_url,
                "Complete submissions waiting for the deep check",
            ),
            stack_outputs.DEEP_CHECK_DLQ_URL: (
                deep_check.dead_letter_queue.queue_url,
                "Submissions the deep check gave up on (their items stay checking)",
            ),
        }

    def _signer_outputs(self) -> dict[str, tuple[str, str]]:
        cloudfront = self.pipeline.cloudfront_signer
        if cloudfront is not None:
            return {
                stack_outputs.SIGNER_DISTRIBUTION_DOMAIN: (
                    cloudfront.distribution.distribution_domain_name,
                    "CloudFront distribution that serves the signed Tavus download URLs",
                ),
                stack_outputs.SIGNER_KEY_SECRET_ARN: (
                    cloudfront.key_secret.secret_arn,
                    "Private key of the CloudFront key pair that signs Tavus download URLs",
                ),
            }
        secrets = self.pipeline.secrets
        return {
            stack_outputs.SIGNER_SECRET_ARN: (
                secrets.signer_credentials.secret_arn,
                "Access key that pre-signs Tavus download URLs",
            ),
            stack_outputs.SIGNER_USER_NAME: (
                secrets.signer.user_name,
                "IAM user of the signer key",
            ),
        }

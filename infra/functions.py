"""What every function shares (code asset with Powertools bundled, environment, logging) and the
``PipelineFunction`` construct that builds one function from a handler and its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.bundling import ARCHITECTURE, RUNTIME, functions_code
from infra.checkov import skip_checks
from infra.nag import acknowledge
from infra.settings import UPLOAD_PREFIX, StackSettings
from replica_pipeline import config
from replica_pipeline.observability import METRICS_NAMESPACE

POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for a validated ``log_retention_days`` setting."""
    return _RETENTION[days]


@dataclass(frozen=True)
class EnvironmentInputs:
    """The deploy-time values the functions are told about (names and ARNs, never secrets)."""

    table_name: str
    tavus_api_key_secret_arn: str
    callback_hmac_secret_arn: str
    # The iam_user signer's secret; None with the cloudfront signer (signer_environment).
    signer_secret_arn: str | None
    callback_base_url: str
    event_bus_name: str
    # The ingest claim's lease: longer than the ingest timeout, so a live invocation keeps it.
    submit_lease: Duration
    # The cloudfront signer's settings (infra.signers.cloudfront_environment).
    signer_environment: Mapping[str, str] | None = None


def lambda_environment(settings: StackSettings, inputs: EnvironmentInputs) -> dict[str, str]:
    """The environment of every function, named by ``replica_pipeline.config``."""
    signer = (
        {config.SIGNER_SECRET_ARN: inputs.signer_secret_arn}
        if inputs.signer_secret_arn is not None
        else {}
    )
    return {
        config.TABLE_NAME: inputs.table_name,
        config.UPLOAD_PREFIX: UPLOAD_PREFIX,
        config.TAVUS_API_URL: settings.tavus_api_url,
        config.TAVUS_API_VOCABULARY: settings.tavus_api_vocabulary,
        config.TAVUS_API_KEY_SECRET_ARN: inputs.tavus_api_key_secret_arn,
        config.CALLBACK_BASE_URL: inputs.callback_base_url,
        config.CALLBACK_HMAC_SECRET_ARN: inputs.callback_hmac_secret_arn,
        **signer,
        **(inputs.signer_environment or {}),
        config.PRESIGN_HOURS: str(settings.presign_hours),
        config.EVENT_BUS_NAME: inputs.event_bus_name,
        config.PAIR_TIMEOUT_HOURS: str(settings.pair_timeout_hours),
        config.SUBMIT_LEASE_SECONDS: str(int(inputs.submit_lease.to_seconds())),
        POWERTOOLS_SERVICE_NAME: settings.service_name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    }


@dataclass(frozen=True)
class FunctionsRuntimeProps:
    settings: StackSettings
    environment: Mapping[str, str]


class FunctionsRuntime(Construct):
    """The parts every function shares: one code asset (Powertools bundled), one environment.

    No public Powertools layer: the asset carries the version pyproject.toml pins and the
    tests run, from the lock, and works in every partition (the layer's account differs in
    China and GovCloud, and its versions lag PyPI's)."""

    def __init__(self, scope: Construct, construct_id: str, props: FunctionsRuntimeProps) -> None:
        super().__init__(scope, construct_id)
        self.code = functions_code()
        self.environment = dict(props.environment)
        self.log_retention = log_retention(props.settings.log_retention_days)
        self.removal_policy = (
            RemovalPolicy.RETAIN if props.settings.retain else RemovalPolicy.DESTROY
        )


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    description: str
    timeout: Duration
    memory_size: int
    # Where failed asynchronous invocations go (only the scheduled reconciler is async) ...
    dead_letter_queue: sqs.IQueue | None = None
    # ... or why the function has none (cdk-nag and checkov both ask).
    no_dead_letter_queue_because: str | None = None
    # A code asset of its own (the deep check's, with its video libraries); None: the shared one.
    code: lambda_.Code | None = None
    # /tmp beyond Lambda's default 512 MiB, for functions that download whole videos.
    ephemeral_storage_mib: int | None = None

    def __post_init__(self) -> None:
        if (self.dead_letter_queue is None) == (self.no_dead_letter_queue_because is None):
            raise ValueError(f"{self.handler}: give a dead_letter_queue or say why there is none")


class PipelineFunction(Construct):
    """One function: arm64, the shared asset (unless its spec brings one), active tracing, its
    own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        runtime: FunctionsRuntime,
        spec: FunctionSpec,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=runtime.log_retention,
            removal_policy=runtime.removal_policy,
        )
        # Our own role rather than the default one, whose AWSLambdaBasicExecutionRole may
        # write to every log group of the account: this one writes to its own group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {spec.handler}",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=spec.code or runtime.code,
            environment=runtime.environment,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            ephemeral_storage_size=(
                Size.mebibytes(spec.ephemeral_storage_mib)
                if spec.ephemeral_storage_mib is not None
                else None
            ),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            dead_letter_queue=spec.dead_letter_queue,
        )
        self._acknowledge_findings(spec)

    def _acknowledge_findings(self, spec: FunctionSpec) -> None:
        if spec.no_dead_letter_queue_because is not None:
            acknowledge(self.function, "Serverless-LambdaDLQ", spec.no_dead_letter_queue_because)
            skip_checks(self.function, CKV_AWS_116=spec.no_dead_letter_queue_because)
        for rule in ("AwsSolutions-L1", "Serverless-LambdaLatestVersion"):
            acknowledge(
                self.function,
                rule,
                f"Pinned to {RUNTIME.name}: the requirements/ locks are resolved for it and "
                "the bundled wheels are built for it (pydantic-core per CPython version); "
                "moving on means relocking and rebuilding together.",
            )
        default_policy = self.role.node.try_find_child("DefaultPolicy")
        if default_policy is not None:
            acknowledge(
                default_policy,
                "AwsSolutions-IAM5[Resource::*]",
                "Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no "
                "resource-level permissions, so AWS requires Resource '*' for them.",
            )
        skip_checks(
            self.function,
            CKV_AWS_115="No reserved concurrency: it would come out of the account's pool "
            "(10 on new accounts, which refuses the reservation); ingest concurrency is "
            "capped by the SQS event source's maximum concurrency instead.",
            CKV_AWS_117="Talks only to public AWS endpoints and Tavus; a VPC would need a NAT "
            "gateway and protects nothing here.",
            CKV_AWS_173="The environment holds names and ARNs only; the secrets themselves are "
            "in Secrets Manager.",
        )
        skip_checks(
            self.log_group,
            CKV_AWS_158="Function logs carry ids and statuses, no credentials; CloudWatch "
            "Logs encrypts them at rest with its own key.",
        )

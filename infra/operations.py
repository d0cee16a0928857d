"""Operations: the alarm topic, the alarms (dead letters, function errors and throttles, API
5xx, stuck trainings) and one dashboard of the whole pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

# Emitted by the handlers through Powertools (EMF), with the dimension ``service``.
from replica_pipeline.observability import (
    CALLBACKS_APPLIED,
    DROPS_REJECTED,
    DROPS_SUBMITTED,
    METRICS_NAMESPACE,
    STUCK_TRAININGS,
    TAVUS_SUSPECT,
)

# Powertools names the dimension it adds from POWERTOOLS_SERVICE_NAME "service".
SERVICE_DIMENSION = "service"

ALARM_PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class OperationsProps:
    stage: str
    service_name: str
    alarm_email: str | None
    # A short name ("Ingest", ...) for each function, used in alarm names and the dashboard.
    functions: Mapping[str, lambda_.IFunction]
    ingest_queue: sqs.IQueue
    ingest_dead_letter_queue: sqs.IQueue
    reconciler_dead_letter_queue: sqs.IQueue
    api_stage: apigateway.Stage
    reconcile_every: Duration
    # The deep check's (the deep_check setting); None: no deep check.
    deep_check_dead_letter_queue: sqs.IQueue | None = None


class Operations(Construct):
    """Alarms to an encrypted SNS topic (optionally mailed), and the dashboard."""

    def __init__(self, scope: Construct, construct_id: str, props: OperationsProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props

        # CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed
        # aws/sns key (its policy cannot admit CloudWatch), hence a key of our own.
        # Deleted with the stack (after KMS's shortest waiting period): it protects alarm
        # messages in transit only, nothing stored needs it afterwards.
        self.alarm_key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Encrypts the replica-pipeline-{props.stage} alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.alarm_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"replica-pipeline {props.stage} alarms",
            master_key=self.alarm_key,
            enforce_ssl=True,
        )
        if props.alarm_email:
            subscription = sns.Subscription(
                self,
                "AlarmEmail",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=props.alarm_email,
            )
            acknowledge(
                subscription,
                "Serverless-SNSRedrivePolicy",
                "An email subscription: SNS retries mail delivery itself, and an alarm that "
                "cannot be mailed stays visible in CloudWatch; a DLQ of undelivered alarm "
                "mails would be one more queue nobody reads.",
            )
        self.alarm_action = cloudwatch_actions.SnsAction(self.topic)

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "IngestDeadLetters",
            props.ingest_dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
            "S3 notifications the ingest function gave up on are waiting in the ingest DLQ.",
        )
        self._alarm(
            "ReconcilerDeadLetters",
            props.reconciler_dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
            "Reconciler runs failed after retries (see its dead-letter queue).",
        )
        if props.deep_check_dead_letter_queue is not None:
            self._alarm(
                "DeepCheckDeadLetters",
                props.deep_check_dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=ALARM_PERIOD, statistic="Maximum"
                ),
                "Submissions the deep check gave up on are waiting in the deep-check DLQ "
                "(their items stay checking until redriven).",
            )
        for name, function in props.functions.items():
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
                f"The {name.lower()} function raised errors.",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
                f"The {name.lower()} function was throttled.",
            )
        self._alarm(
            "ApiServerErrors",
            props.api_stage.metric_server_error(period=ALARM_PERIOD, statistic="Sum"),
            "The API answered 5xx (callbacks or status requests failed).",
        )
        self._alarm(
            "StuckTrainings",
            self.app_metric(STUCK_TRAININGS, "Maximum", props.reconcile_every),
            "Submissions have been training longer than STUCK_TRAINING_HOURS (see the "
            "reconciler's logs and Tavus).",
        )
        self._alarm(
            "TavusForgotReplicas",
            self.app_metric(TAVUS_SUSPECT, "Maximum", props.reconcile_every),
            "Tavus answered that it does not know more training replicas than "
            "MAX_UNKNOWN_REPLICAS_PER_RUN at once; the reconciler changed none of them. "
            "Check Tavus's status and API (a moved endpoint looks like this).",
        )

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", default_interval=Duration.hours(12)
        )
        self._fill_dashboard()
        self.dashboard_url = Fn.join(
            "",
            [
                "https://",
                Aws.REGION,
                ".console.aws.amazon.com/cloudwatch/home?region=",
                Aws.REGION,
                "#dashboards:name=",
                self.dashboard.dashboard_name,
            ],
        )

    def app_metric(
        self, name: str, statistic: str, period: Duration = ALARM_PERIOD
    ) -> cloudwatch.Metric:
        """A metric the handlers emit, as Powertools publishes it."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={SERVICE_DIMENSION: self._props.service_name},
            statistic=statistic,
            period=period,
        )

    def _alarm(self, name: str, metric: cloudwatch.IMetric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_description=f"replica-pipeline-{self._props.stage}: {description}",
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.alarm_action)
        alarm.add_ok_action(self.alarm_action)
        self.alarms[name] = alarm

    def _fill_dashboard(self) -> None:
        props = self._props
        functions = props.functions
        stage = props.api_stage
        dead_letters = [
            props.ingest_dead_letter_queue.metric_approximate_number_of_messages_visible(
                label="ingest DLQ", statistic="Maximum"
            ),
            props.reconciler_dead_letter_queue.metric_approximate_number_of_messages_visible(
                label="reconciler DLQ", statistic="Maximum"
            ),
        ]
        if props.deep_check_dead_letter_queue is not None:
            dead_letters.append(
                props.deep_check_dead_letter_queue.metric_approximate_number_of_messages_visible(
                    label="deep-check DLQ", statistic="Maximum"
                )
            )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Ingest queue",
                left=[
                    props.ingest_queue.metric_approximate_number_of_messages_visible(
                        label="waiting", statistic="Maximum"
                    ),
                    props.ingest_queue.metric_approximate_number_of_messages_not_visible(
                        label="in flight", statistic="Maximum"
                    ),
                ],
                right=[
                    props.ingest_queue.metric_approximate_age_of_oldest_message(
                        label="oldest (s)", statistic="Maximum"
                    )
                ],
            ),
            cloudwatch.GraphWidget(title="Dead-letter queues", left=dead_letters),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[
                    function.metric_errors(label=name, statistic="Sum")
                    for name, function in functions.items()
                ],
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p95, ms)",
                left=[
                    function.metric_duration(label=name, statistic="p95")
                    for name, function in functions.items()
                ],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API errors",
                left=[
                    stage.metric_client_error(label="4xx", statistic="Sum"),
                    stage.metric_server_error(label="5xx", statistic="Sum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    stage.metric_latency(label="p50", statistic="p50"),
                    stage.metric_latency(label="p99", statistic="p99"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Drops",
                left=[
                    self.app_metric(DROPS_SUBMITTED, "Sum").with_(label="submitted"),
                    self.app_metric(DROPS_REJECTED, "Sum").with_(label="rejected"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Callbacks and stuck trainings",
                left=[self.app_metric(CALLBACKS_APPLIED, "Sum").with_(label="callbacks applied")],
                right=[
                    self.app_metric(STUCK_TRAININGS, "Maximum", props.reconcile_every).with_(
                        label="stuck trainings"
                    )
                ],
            ),
        )

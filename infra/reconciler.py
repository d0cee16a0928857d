"""The reconciler: on a schedule, heals lost callbacks, adopts interrupted submissions, rejects
stale half pairs and counts stuck trainings (the ``StuckTrainings`` metric)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.checkov import skip_checks
from infra.functions import FunctionSpec, FunctionsRuntime, PipelineFunction
from infra.nag import acknowledge, nag_reference
from infra.secrets import PipelineSecrets, grant_get_secret_value
from infra.storage import ReplicasTable

HANDLER = "replica_pipeline.handlers.reconciler.handler"
# A bounded batch per state, one Get Replica each; well inside the schedule's period.
TIMEOUT = Duration.minutes(5)
# The longest Lambda keeps an asynchronous event queued.
MAX_ASYNC_EVENT_AGE = Duration.hours(6)


@dataclass(frozen=True)
class ReconcilerProps:
    runtime: FunctionsRuntime
    replicas: ReplicasTable
    secrets: PipelineSecrets
    event_bus: events.IEventBus
    every: Duration


class Reconciler(Construct):
    """The scheduled reconciler function, its schedule rule and a DLQ for runs that failed."""

    def __init__(self, scope: Construct, construct_id: str, props: ReconcilerProps) -> None:
        super().__init__(scope, construct_id)
        # Both failure paths of an asynchronous run land here: EventBridge could not invoke
        # the function, or the function failed after Lambda's retries.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        skip_checks(
            self.dead_letter_queue,
            CKV_AWS_27="Encrypted with SQS-managed SSE (SqsManagedSseEnabled), which needs no "
            "key grants for Lambda and EventBridge to deliver failed runs; checkov "
            "recognises only KmsMasterKeyId.",
        )
        acknowledge(
            self.dead_letter_queue,
            "Serverless-SQSRedrivePolicy",
            "Dead-letter queue of the reconciler's runs; nothing consumes it, so nothing "
            "could fail and need redriving further.",
        )

        self.handler = PipelineFunction(
            self,
            "Handler",
            props.runtime,
            FunctionSpec(
                handler=HANDLER,
                description="Polls Tavus for stuck submissions and heals lost callbacks",
                # Never longer than the period, so runs do not pile up on a short schedule.
                timeout=Duration.seconds(min(TIMEOUT.to_seconds(), props.every.to_seconds())),
                memory_size=256,
                dead_letter_queue=self.dead_letter_queue,
            ),
        )
        # No retries anywhere: a run that failed is covered by the next scheduled one, and a
        # retry could start while that next run is under way. Overlapping runs are refused in
        # code too: each run takes a lease on the `~reconciler` item (store.begin_reconcile,
        # called first thing by services/reconcile.py). Failed runs still go to the DLQ
        # above (the function's DeadLetterConfig).
        self.handler.function.configure_async_invoke(
            retry_attempts=0,
            # A queued run older than one period is superseded by the next (Lambda: 6 h at most).
            max_event_age=Duration.seconds(
                min(props.every.to_seconds(), MAX_ASYNC_EVENT_AGE.to_seconds())
            ),
        )
        acknowledge(
            self.handler.function.node.find_child("EventInvokeConfig"),
            "Serverless-LambdaAsyncFailureDestination",
            "The reconciler's failed asynchronous runs already reach its DeadLetterQueue via "
            "the function's DeadLetterConfig, which its alarm watches; an on-failure "
            "destination as well would only be a second place to look.",
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Runs the replica-pipeline reconciler",
            schedule=events.Schedule.rate(props.every),
            targets=[
                targets.LambdaFunction(
                    self.handler.function,
                    dead_letter_queue=self.dead_letter_queue,
                    # A run EventBridge could not start is covered by the next scheduled one.
                    retry_attempts=0,
                    # A run that could not start within one period is superseded by the next.
                    max_event_age=props.every,
                )
            ],
        )

        role = self.handler.role
        props.replicas.grant_item_writes(role)
        grant_get_secret_value(role, "ReadTavusKey", props.secrets.tavus_api_key)
        props.event_bus.grant_put_events_to(role)
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            f"AwsSolutions-IAM5[Resource::{nag_reference(props.replicas.table)}/index/*]",
            "The reconciler sweeps items by status through the by-status GSI; the table grant "
            "reaches the table's two GSIs with index/*.",
        )

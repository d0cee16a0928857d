"""A pipeline on moto's server and the Tavus emulator, driven the way AWS would drive it.

Uploads go through S3, notifications come out of the real SQS queue, and the
ingest handler gets Lambda's SQS event shape built from those messages.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlencode

import boto3
import requests

from replica_pipeline import runtime
from replica_pipeline.adapters.events import EventBridgePublisher
from replica_pipeline.adapters.presigner import SignerCredentials, make_signing_client
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import TavusClient
from replica_pipeline.config import Settings
from replica_pipeline.contracts.routes import TAVUS_CALLBACK
from replica_pipeline.contracts.table_schema import PARTITION_KEY
from replica_pipeline.rules.callback_token import callback_token
from replica_pipeline.services.ingest import IngestDependencies
from replica_pipeline_local.stack.apigw_events import rest_proxy_event
from replica_pipeline_local.stack.bootstrap import LocalResources, bootstrap, lambda_environment
from replica_pipeline_local.stack.lambda_context import LocalLambdaContext
from replica_pipeline_local.stack.sqs_events import lambda_sqs_event
from replica_pipeline_local.stack.tavus_emulator import TavusEmulator

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_VIDEO = ROOT / "samples" / "sample.mp4"
DATA = Path(__file__).resolve().parent / "data"
TAVUS_TEST_KEY = "tavus-test-key"
# Tavus retries here wait a few milliseconds, not seconds.
# A create whose outcome is unknown may be looked up at once (the emulator acts at once).
FAST_TAVUS = {
    "TAVUS_BACKOFF_SECONDS": "0.01",
    "TAVUS_READ_TIMEOUT_SECONDS": "2",
    "CREATE_SETTLE_SECONDS": "0",
}


class CallbackQuery(TypedDict):
    submission: str
    token: str


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Pipeline:
    resources: LocalResources
    emulator: TavusEmulator
    environment: dict[str, str]
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.table = boto3.resource("dynamodb").Table(self.resources.table)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.environment)

    def secret(self, arn: str) -> str:
        value: str = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        return value

    def store(self) -> ReplicaStore:
        """The store as the handlers build it: announcing changes on the event bus."""
        settings = self.settings
        return ReplicaStore(
            boto3.resource("dynamodb").Table(self.resources.table),
            on_change=EventBridgePublisher(lambda: boto3.client("events"), settings.event_bus_name),
        )

    def deps(self) -> IngestDependencies:
        """The ingest service wired by hand, with this pipeline's clock (each call: new clients)."""
        settings = self.settings
        api_key = self.secret(self.resources.tavus_api_key_secret_arn)
        signer = SignerCredentials.from_secret(self.secret(self.resources.signer_secret_arn))
        hmac_key = self.secret(self.resources.callback_hmac_secret_arn).encode()
        return IngestDependencies(
            settings=settings,
            store=self.store(),
            s3=boto3.client("s3"),
            tavus=lambda: TavusClient(settings.tavus, api_key),
            signing_client=lambda: make_signing_client(signer, self.resources.region),
            callback_key=lambda: hmac_key,
            requeue=self.requeue,
            clock=self.clock,
        )

    def requeue(self, body: str, delay_seconds: int) -> None:
        """What the ingest function does to defer a record: queue it again, delayed."""
        self.sqs.send_message(
            QueueUrl=self.resources.queue_url, MessageBody=body, DelaySeconds=delay_seconds
        )

    # -- the edges -----------------------------------------------------------

    def upload(
        self,
        key: str,
        body: bytes | Path = SAMPLE_VIDEO,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str = "video/mp4",
    ) -> dict[str, Any]:
        data = body.read_bytes() if isinstance(body, Path) else body
        response: dict[str, Any] = self.s3.put_object(  # type: ignore[assignment]
            Bucket=self.resources.bucket,
            Key=key,
            Body=data,
            Metadata=metadata or {},
            ContentType=content_type,
        )
        return response

    def receive(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Every visible message of the ingest queue (or ``queue_url``), S3's test event
        included."""
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=queue_url or self.resources.queue_url,
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(dict(message) for message in batch)

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return lambda_sqs_event(messages, self.resources.queue_arn, self.resources.region)

    def invoke(self, handler: str, event: dict[str, Any], timeout_seconds: float = 60.0) -> Any:
        """Run a real handler module, configured only through its environment, as a cold start."""
        module = importlib.import_module(f"replica_pipeline.handlers.{handler}")
        saved = dict(os.environ)
        os.environ.update(self.environment)
        _forget_cold_start(module)
        try:
            context = LocalLambdaContext(f"replica-pipeline-{handler}", timeout_seconds)
            return module.handler(event, context)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            _forget_cold_start(module)

    def invoke_ingest(self, event: dict[str, Any], timeout_seconds: float = 60.0) -> dict[str, Any]:
        return self.invoke_batch("ingest", event, timeout_seconds)

    def invoke_batch(
        self, handler: str, event: dict[str, Any], timeout_seconds: float = 60.0
    ) -> dict[str, Any]:
        """An SQS-fed handler's answer: its partial batch response, or every record failed."""
        try:
            result: dict[str, Any] = self.invoke(handler, event, timeout_seconds)
        except Exception:
            # Lambda's answer to a function error: every record of the batch goes back.
            result = {
                "batchItemFailures": [
                    {"itemIdentifier": record["messageId"]} for record in event["Records"]
                ]
            }
        return result

    def request(
        self,
        handler: str,
        method: str,
        raw_path: str,
        *,
        resource: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """An HTTP request through API Gateway's proxy event shape: status code and JSON body."""
        event = rest_proxy_event(method, raw_path, resource=resource, body=body, headers=headers)
        response = self.invoke(handler, event)
        text = response.get("body") or ""
        return int(response["statusCode"]), json.loads(text) if text else None

    def post_callback(
        self,
        payload: Any,
        *,
        token: str | None,
        submission: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """POST to the callback URL; without ``submission``, the URL of older releases."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        query = {
            name: value
            for name, value in (("submission", submission), ("token", token))
            if value is not None
        }
        path = TAVUS_CALLBACK.path + (f"?{urlencode(query)}" if query else "")
        return self.request(
            "callback",
            "POST",
            path,
            resource=TAVUS_CALLBACK.path,
            body=body,
            headers=headers or {"Content-Type": "application/json"},
        )

    def token_for(self, submission_id: str) -> str:
        key = self.secret(self.resources.callback_hmac_secret_arn).encode()
        return callback_token(submission_id, key)

    def callback_query(self, submission_id: str) -> CallbackQuery:
        """``post_callback``'s arguments for the URL the ingest hands Tavus today."""
        return CallbackQuery(submission=submission_id, token=self.token_for(submission_id))

    def status_events(self) -> list[dict[str, Any]]:
        """Every ``Replica Status Changed`` event published so far (consumed)."""
        details: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.resources.events_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not batch:
                return details
            for message in batch:
                details.append(json.loads(message["Body"])["detail"])
                self.sqs.delete_message(
                    QueueUrl=self.resources.events_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )

    def deliver(self) -> dict[str, Any]:
        """Hand everything waiting in the queue to the ingest handler; delete what succeeded."""
        messages = self.receive()
        if not messages:
            return {"batchItemFailures": []}
        result = self.invoke_ingest(self.sqs_event(messages))
        failed = {failure["itemIdentifier"] for failure in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:  # what Lambda's event source does
                self.sqs.delete_message(
                    QueueUrl=self.resources.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return result

    def run_deep_checks(self) -> list[dict[str, Any]]:
        """Hand each message waiting in the deep-check queue to the deep-check handler, one
        per invocation as its event source does; delete what succeeded, make what failed
        visible again. The answers."""
        queue_url, queue_arn = (
            self.resources.deep_check_queue_url,
            self.resources.deep_check_queue_arn,
        )
        assert queue_url, "make the pipeline with make_deep_checked_pipeline"
        assert queue_arn
        answers = []
        for message in self.receive(queue_url):
            event = lambda_sqs_event([message], queue_arn, self.resources.region)
            answer = self.invoke_batch("deep_check", event, timeout_seconds=900)
            if answer["batchItemFailures"]:  # back in the queue, as after its visibility timeout
                self.sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            answers.append(answer)
        return answers

    def notification_bodies(self) -> list[str]:
        """The S3 notifications waiting in the queue (the test event left out), consumed."""
        bodies = []
        for message in self.receive():
            self.sqs.delete_message(
                QueueUrl=self.resources.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            if "Records" in json.loads(message["Body"]):
                bodies.append(message["Body"])
        return bodies

    # -- what a user sees ----------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        """Every submission (the reconciler's own item, which has no status, left out)."""
        items = self.table.scan(ConsistentRead=True)["Items"]
        return [item for item in items if "status" in item]

    def item(self, submission_id: str) -> dict[str, Any]:
        return dict(self.table.get_item(Key={PARTITION_KEY: submission_id})["Item"])

    def only_item(self) -> dict[str, Any]:
        items = self.items()
        assert len(items) == 1, items
        return items[0]

    def tavus_stats(self) -> dict[str, int]:
        stats: dict[str, int] = requests.get(
            f"{self.emulator.url}/_emulator/stats", timeout=5
        ).json()
        return stats

    def tavus_replicas(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = requests.get(
            f"{self.emulator.url}/_emulator/replicas", timeout=5
        ).json()["data"]
        return data

    def inject_faults(self, **faults: Any) -> None:
        requests.post(
            f"{self.emulator.url}/_emulator/faults", json=faults, timeout=5
        ).raise_for_status()


def _forget_cold_start(module: Any) -> None:
    """Clear what a container caches, so each invocation reads its environment afresh."""
    runtime.forget_container()


def make_pipeline(endpoint: str, **settings: str) -> Iterator[Pipeline]:
    yield from _pipeline(endpoint, settings)


def make_deep_checked_pipeline(endpoint: str, **settings: str) -> Iterator[Pipeline]:
    """A pipeline with the deep check on: its queue, and DEEP_CHECK_QUEUE_URL for ingest."""
    yield from _pipeline(endpoint, settings, deep_check=True)


def _pipeline(
    endpoint: str, settings: dict[str, str], *, deep_check: bool = False
) -> Iterator[Pipeline]:
    emulator = TavusEmulator(TAVUS_TEST_KEY, training_seconds=3600).start()
    resources = bootstrap(
        endpoint_url=endpoint,
        region="us-east-1",
        tavus_api_key=TAVUS_TEST_KEY,
        deep_check=deep_check,
    )
    environment = lambda_environment(
        resources,
        tavus_url=emulator.url,
        # Nothing listens here yet: the callback path is another issue's work.
        callback_base_url=f"http://127.0.0.1:9{TAVUS_CALLBACK.path}",
        **{**FAST_TAVUS, **settings},
    )
    try:
        yield Pipeline(resources=resources, emulator=emulator, environment=environment)
    finally:
        emulator.stop()

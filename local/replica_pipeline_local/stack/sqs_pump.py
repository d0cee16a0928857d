"""Feed the ingest queue to the ingest function the way Lambda's SQS event source does.

One poller per container (``ingest_max_concurrency`` of them): each long-polls,
hands a batch of up to 10 messages to the function as Lambda's SQS event, deletes
exactly what succeeded, and leaves failures to come back after the visibility
timeout. A function error (the handler raised, timed out or its container died)
returns the whole batch. The queue's redrive policy moves poison messages to the
dead-letter queue after its max receive count. While an invocation runs, its
batch is kept invisible (in AWS the visibility timeout is six times the
function's; the local queue's is short so that failures come back quickly).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from replica_pipeline.config import INGEST_TIMEOUT_SECONDS
from replica_pipeline_local.stack.lambda_runtime import LocalFunctions
from replica_pipeline_local.stack.sqs_events import lambda_sqs_event

logger = logging.getLogger(__name__)


class IngestFunction(Protocol):
    """What the pump invokes: ``lambda_runtime.ContainerPool`` in the local stack."""

    @property
    def size(self) -> int:
        """How many events it runs at once (one poller each)."""
        ...

    def invoke(self, event: dict[str, Any]) -> Any: ...

    def close(self) -> None: ...


class _InProcessIngest:
    """The ingest handler in the caller's process, one event at a time.

    For callers that need its SDK calls in their own process (the benchmarks count them).
    """

    size = 1

    def __init__(self, functions: LocalFunctions) -> None:
        self._functions = functions

    def invoke(self, event: dict[str, Any]) -> Any:
        return self._functions.invoke("ingest", event, timeout_seconds=INGEST_TIMEOUT_SECONDS)

    def close(self) -> None:
        pass


class SqsPump:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        ingest: IngestFunction | LocalFunctions,
        *,
        wait_seconds: int = 1,
        batch_size: int = 10,
    ) -> None:
        self._sqs = sqs  # boto3's clients are thread-safe: the pollers share one
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._ingest: IngestFunction = (
            _InProcessIngest(ingest) if isinstance(ingest, LocalFunctions) else ingest
        )
        self._wait_seconds = wait_seconds
        self._batch_size = batch_size  # the event source's BatchSize
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count_lock = threading.Lock()
        self._visibility: int | None = None
        self.batches = 0

    def start(self) -> SqsPump:
        """Start one poller per container of the ingest function."""
        self._threads = [
            threading.Thread(target=self._poll, name=f"sqs-pump-{n}", daemon=True)
            for n in range(self._ingest.size)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop the pollers and the function's containers (an event in flight returns)."""
        self._stopping.set()
        self._ingest.close()
        for thread in self._threads:
            thread.join(self._wait_seconds + 5)

    @contextlib.contextmanager
    def _kept_invisible(self, messages: list[dict[str, Any]]) -> Iterator[None]:
        """Keep a batch invisible while its invocation runs.

        In AWS the queue's visibility timeout is six times the function's, so a
        batch never reappears while it is being handled. The local queue's is a
        few seconds (failures come back quickly in tests), so the pump extends
        it for the batch in hand, as long as the invocation lasts.
        """
        visibility = self._visibility_timeout()
        done = threading.Event()

        def extend() -> None:
            while not done.wait(max(0.5, visibility / 2)):
                with contextlib.suppress(Exception):  # a lost extension only risks a re-receive
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self._queue_url,
                        Entries=[
                            {
                                "Id": str(n),
                                "ReceiptHandle": m["ReceiptHandle"],
                                "VisibilityTimeout": visibility,
                            }
                            for n, m in enumerate(messages)
                        ],
                    )

        keeper = threading.Thread(target=extend, name="sqs-visibility", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def _visibility_timeout(self) -> int:
        if self._visibility is None:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            self._visibility = int(attributes["VisibilityTimeout"])
        return self._visibility

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                self.pump_once()
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("the SQS pump failed a round; trying again")
                self._stopping.wait(1)

    def pump_once(self) -> int:
        """One round on the calling thread: receive a batch, invoke, delete the successes."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, self._queue_arn, self._region)
        try:
            with self._kept_invisible(messages):
                response = self._ingest.invoke(event)
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            # A function error: Lambda returns the whole batch to the queue.
            logger.exception("the ingest function failed; the batch returns to the queue")
            failed = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)
                ],
            )
        with self._count_lock:
            self.batches += 1
        return len(messages)

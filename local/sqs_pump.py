"""Feed the ingest queue to the ingest handler the way Lambda's SQS event source does.

Long-polls, hands batches of up to 10 messages to the handler as Lambda's SQS
event, deletes what succeeded, and leaves failures to come back after the
visibility timeout; the queue's redrive policy moves poison messages to the
dead-letter queue after its max receive count.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from local.lambda_runtime import LocalFunctions
from local.sqs_events import lambda_sqs_event

logger = logging.getLogger(__name__)


class SqsPump:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        functions: LocalFunctions,
        *,
        wait_seconds: int = 1,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._functions = functions
        self._wait_seconds = wait_seconds
        self._stopping = threading.Event()
        self.batches = 0

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.pump_once()
            except Exception:
                logger.exception("the SQS pump failed a round; trying again")
                self._stopping.wait(1)

    def stop(self) -> None:
        self._stopping.set()

    def pump_once(self) -> int:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self._wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, self._queue_arn, self._region)
        try:
            response = self._functions.invoke("ingest", event, timeout_seconds=120)
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
        self.batches += 1
        return len(messages)

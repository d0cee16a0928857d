"""Retry: a person asks for a failed submission to be sent to Tavus again.

The status API judges the request (``begin_retry``: no such submission, a
replay, refused, or which attempt to retry), starts the new attempt in the table
(once per attempt however often the request arrives) and puts a retry message on
the ingest queue; the ingest worker claims that attempt and calls Create
Replica with fresh pre-signed URLs. Going through the queue gives a retry what
a drop already has: retries with backoff, the dead-letter queue, and the
exactly-once claim with adoption of an interrupted call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.rules.states import RETRYABLE, Status
from replica_pipeline.rules.submission import Item

# The key of the ingest-queue message that asks for a retry (S3 events have "Records").
MESSAGE_KEY = "replica_pipeline_retry"


@dataclass(frozen=True)
class RetryRequest:
    """Submit ``attempt`` of ``submission_id`` (the attempt the retry started)."""

    submission_id: str
    attempt: int

    def message(self) -> str:
        return json.dumps(
            {MESSAGE_KEY: {"submission_id": self.submission_id, "attempt": self.attempt}}
        )


def retry_request_in(body: str) -> RetryRequest | None:
    """The retry request an ingest-queue message carries, or None for anything else."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        return None
    request = document.get(MESSAGE_KEY) if isinstance(document, dict) else None
    if not isinstance(request, dict):
        return None
    submission_id, attempt = request.get("submission_id"), request.get("attempt")
    if not isinstance(submission_id, str) or not submission_id:
        return None
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        return None
    return RetryRequest(submission_id, attempt)


class RetryOutcome(StrEnum):
    STARTED = "started"  # the item is now the new attempt, waiting to be submitted
    REPLAYED = "replayed"  # this attempt was retried before: nothing more to do
    REFUSED = "refused"  # not in a retryable state (the item says why)
    MISSING = "missing"


@dataclass(frozen=True)
class RetryStart:
    outcome: RetryOutcome
    item: Item | None


def begin_retry(
    store: ReplicaStore, submission_id: str, attempt: int | None, now: datetime
) -> RetryStart:
    """Make a failed submission's next attempt, once per ``attempt``.

    ``attempt`` is the attempt being retried (the item's ``attempts`` as the
    caller saw it; None means "the current one"). The store's write is
    conditional on the item still being in ``error`` at that attempt, so a
    request sent twice, or two sent at once, start exactly one new attempt; the
    loser sees the attempt already moved on and is told it was a replay.
    """
    while True:
        current = store.get(submission_id)
        if current is None:
            return RetryStart(RetryOutcome.MISSING, None)
        seen = int(current.get("attempts", 0))
        retried = seen if attempt is None else attempt
        if retried in {int(n) for n in current.get("retried_attempts", [])}:
            return RetryStart(RetryOutcome.REPLAYED, current)
        if current.get("status") not in {status.value for status in RETRYABLE} or retried != seen:
            return RetryStart(RetryOutcome.REFUSED, current)
        item = store.start_next_attempt(current, retried, now)
        if item is not None:
            return RetryStart(RetryOutcome.STARTED, item)
        # Someone else moved it between our read and our write: judge again.
        attempt = retried


class RetryRefused(Exception):
    """The submission cannot be retried; the message says why (HTTP 409)."""


class RetryNotFound(Exception):
    """No such submission (HTTP 404)."""


class RetryNotQueued(Exception):
    """The retry could not be queued; nothing was sent to Tavus (HTTP 503)."""


@dataclass(frozen=True)
class RetryAnswer:
    item: Item
    replayed: bool  # an earlier request already started this attempt


SendMessage = Callable[[str], None]


def request_retry(
    store: ReplicaStore,
    send: SendMessage,
    submission_id: str,
    attempt: int | None,
    now: datetime,
) -> RetryAnswer:
    """Start the next attempt of a submission in ``error`` and queue its submission."""
    start = begin_retry(store, submission_id, attempt, now)
    if start.outcome is RetryOutcome.MISSING or start.item is None:
        raise RetryNotFound(f"no submission {submission_id!r}")
    item = start.item
    if start.outcome is RetryOutcome.REPLAYED:
        return RetryAnswer(item, replayed=True)
    if start.outcome is RetryOutcome.REFUSED:
        raise RetryRefused(refusal_reason(item, attempt))
    new_attempt = int(item["attempts"])
    try:
        send(RetryRequest(submission_id, new_attempt).message())
    except Exception as error:
        # No message means nobody would ever submit this attempt: put it back in
        # error, saying so, so the person can simply retry again.
        store.transition(
            submission_id,
            Status.ERROR,
            now,
            fields={
                "error_message": f"the retry could not be queued ({error}); "
                "nothing was sent to Tavus: retry again"
            },
            expect={"attempts": new_attempt},  # only the attempt this request started
        )
        raise RetryNotQueued(f"the retry could not be queued: {error}") from error
    return RetryAnswer(item, replayed=False)


def refusal_reason(item: Item, attempt: int | None) -> str:
    status = str(item.get("status"))
    sid = item.get("submission_id")
    if status == Status.REJECTED.value:
        why = item.get("error_message") or "it failed a requirement"
        return (
            f"submission {sid} was rejected ({why}); a retry would send the same video, "
            "so upload a corrected video instead"
        )
    if status == Status.ERROR.value:
        return (
            f"submission {sid} is on attempt {item.get('attempts', 0)}; "
            f"there is no attempt {attempt} to retry"
        )
    return f"submission {sid} is {status}, not error: only a failed submission can be retried"

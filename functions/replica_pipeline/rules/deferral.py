"""Waiting in the ingest queue without using up a message's deliveries.

Every time SQS hands a message back after a failure, its receive count grows,
and at the queue's maximum the message moves to the dead-letter queue. That is
right for a failure, wrong for a wait: while Tavus rate limits us, or another
invocation holds a submission's claim, or an invocation has no time left, the
drop is fine and only has to come back later. So instead of failing the record,
the ingest puts a copy of it back on the queue with a delay (a new message,
counting from zero) and lets the original go. The copy carries when the wait
began, so a wait that never ends still reaches the dead-letter queue.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from replica_pipeline.clock import iso, parse_iso

# The key of a deferred copy; S3 events have "Records", retry requests their own key.
MESSAGE_KEY = "replica_pipeline_deferred"
# SQS's longest DelaySeconds.
MAX_DELAY_SECONDS = 900


class Deferred(Exception):
    """Nothing is wrong with the record, it just cannot go on now: queue it again."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.seconds = seconds

    @property
    def delay_seconds(self) -> int:
        """The wait as SQS takes it: whole seconds, at most 15 minutes."""
        return max(0, min(MAX_DELAY_SECONDS, math.ceil(self.seconds)))


@dataclass(frozen=True)
class QueuedMessage:
    """An ingest-queue message: the original body and, for a deferred copy, its waits."""

    body: str
    waiting_since: str | None = None
    deferrals: int = 0

    @classmethod
    def read(cls, body: str) -> QueuedMessage:
        try:
            document: Any = json.loads(body)
        except ValueError:
            return cls(body)
        copy = document.get(MESSAGE_KEY) if isinstance(document, dict) else None
        if not (isinstance(copy, dict) and isinstance(copy.get("body"), str)):
            return cls(body)
        since = copy.get("waiting_since")
        count = copy.get("deferrals")
        return cls(
            body=copy["body"],
            waiting_since=since if isinstance(since, str) else None,
            deferrals=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        )

    def waited_too_long(self, now: datetime, limit: timedelta) -> bool:
        return self.waiting_since is not None and now - parse_iso(self.waiting_since) > limit

    def deferred_copy(self, now: datetime) -> str:
        """The body of the copy to queue again."""
        return json.dumps(
            {
                MESSAGE_KEY: {
                    "body": self.body,
                    "waiting_since": self.waiting_since or iso(now),
                    "deferrals": self.deferrals + 1,
                }
            }
        )

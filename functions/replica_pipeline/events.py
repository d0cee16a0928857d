"""``Replica Status Changed`` events on EventBridge, one per successful status change.

The store calls the publisher after every conditional write that changed an
item, so no code path can change a status without announcing it, and a no-op
(a replay, a late duplicate) announces nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import Logger

EVENT_SOURCE = "replica-pipeline"
DETAIL_TYPE = "Replica Status Changed"

logger = Logger(child=True)


@dataclass(frozen=True)
class StatusChange:
    submission_id: str
    old_status: str | None
    new_status: str
    replica_id: str | None
    training_progress: int | None
    error_message: str | None
    callback_tag: str | None
    replica_name: str | None
    at: str

    @classmethod
    def of(cls, item: dict[str, Any], old_status: str | None) -> StatusChange:
        progress = item.get("training_progress")
        return cls(
            submission_id=str(item["submission_id"]),
            old_status=old_status,
            new_status=str(item["status"]),
            replica_id=item.get("replica_id"),
            training_progress=int(progress) if progress is not None else None,
            error_message=item.get("error_message"),
            callback_tag=item.get("callback_tag"),
            replica_name=item.get("replica_name"),
            at=str(item["updated_at"]),
        )


Publisher = Callable[[StatusChange], None]


def no_events(change: StatusChange) -> None:
    """A publisher for callers that only read (the CLI, some tests)."""


class EventBridgePublisher:
    def __init__(self, client: Callable[[], Any], bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def __call__(self, change: StatusChange) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(asdict(change)),
            "EventBusName": self._bus_name,
        }
        # The status is already written; a lost event must not undo it or fail
        # the caller, so failures are logged and counted instead of raised.
        try:
            response = self._client().put_events(Entries=[entry])
        except Exception:
            logger.exception("could not publish a status event", extra=asdict(change))
            return
        if response.get("FailedEntryCount"):
            logger.error(
                "EventBridge refused a status event",
                extra={**asdict(change), "entries": response.get("Entries")},
            )

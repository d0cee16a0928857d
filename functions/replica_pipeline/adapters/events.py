"""``Replica Status Changed`` events on EventBridge, one per successful status change.

The store writes each change's event onto the item in the same conditional
write as the change (the item's outbox, see ``outbox``), then publishes it, so
no code path can change a status without its event reaching the bus at least
once, and a no-op (a replay, a late duplicate) announces nothing. Each event
carries an ``event_id`` that names the change, so a consumer drops repeats.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import Logger

EVENT_SOURCE = "replica-pipeline"
DETAIL_TYPE = "Replica Status Changed"
# The closing event of a half-pair placeholder whose pair became a submission of its own.
RETIRED = "retired"

logger = Logger(child=True)


def event_id(
    submission_id: str, attempt: int, new_status: str, training_progress: int | None
) -> str:
    """The id of one change: a status is reached once per attempt, and progress only rises."""
    progress = "" if training_progress is None else str(training_progress)
    return f"{submission_id}/{attempt}/{new_status}/{progress}"


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
    # Set by ``of`` and ``retirement``; the same for every delivery of one change.
    event_id: str = ""
    # On a ``retired`` placeholder's event: the pair submission that took its place.
    superseded_by: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any], old_status: str | None) -> StatusChange:
        """The change that left ``item`` as it is (the item as written)."""
        progress = item.get("training_progress")
        training_progress = int(progress) if progress is not None else None
        submission_id = str(item["submission_id"])
        new_status = str(item["status"])
        return cls(
            submission_id=submission_id,
            old_status=old_status,
            new_status=new_status,
            replica_id=item.get("replica_id"),
            training_progress=training_progress,
            error_message=item.get("error_message"),
            callback_tag=item.get("callback_tag"),
            replica_name=item.get("replica_name"),
            at=str(item["updated_at"]),
            event_id=event_id(
                submission_id, int(item.get("attempts", 0)), new_status, training_progress
            ),
        )

    @classmethod
    def retirement(
        cls, placeholder: dict[str, Any], pair_submission_id: str, at: str
    ) -> StatusChange:
        """The closing event of a waiting half pair, once its pair has become a submission."""
        submission_id = str(placeholder["submission_id"])
        return cls(
            submission_id=submission_id,
            old_status=str(placeholder["status"]),
            new_status=RETIRED,
            replica_id=None,
            training_progress=None,
            error_message=None,
            callback_tag=placeholder.get("callback_tag"),
            replica_name=placeholder.get("replica_name"),
            at=at,
            event_id=event_id(submission_id, int(placeholder.get("attempts", 0)), RETIRED, None),
            superseded_by=pair_submission_id,
        )

    def detail(self) -> str:
        """The event's ``detail`` as sent, and as kept in the item's outbox until it is sent."""
        return json.dumps(asdict(self))

    @classmethod
    def from_detail(cls, detail: str) -> StatusChange:
        return cls(**json.loads(detail))


# Publishes one change; True once the bus has accepted it. False (or raising) leaves
# the event in the item's outbox, for the reconciler's sweep to send later.
Publisher = Callable[[StatusChange], bool]


def no_events(change: StatusChange) -> bool:
    """A publisher for callers that only read (the CLI, some tests).

    It sends nothing, so a change written through it stays in its item's outbox
    until a sweep with a real publisher sends it.
    """
    return False


class EventBridgePublisher:
    def __init__(self, client: Callable[[], Any], bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def __call__(self, change: StatusChange) -> bool:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": change.detail(),
            "EventBusName": self._bus_name,
        }
        # The status is already written, with its event in the item's outbox: a
        # failure here must not undo it or fail the caller. The sweep sends it later.
        context = {"submission_id": change.submission_id, "event_id": change.event_id}
        try:
            response = self._client().put_events(Entries=[entry])
        except Exception:
            logger.warning(
                "could not publish a status event; it stays in the outbox",
                extra=context,
                exc_info=True,
            )
            return False
        if response.get("FailedEntryCount"):
            logger.warning(
                "EventBridge refused a status event; it stays in the outbox",
                extra={**context, "entries": response.get("Entries")},
            )
            return False
        return True

"""Each item's outbox: a status change's event is written with the change, then sent.

A status-changing write adds its event's detail (the JSON EventBridge will
carry) to the item's ``pending_events`` string set, and sets ``event_pending``,
which puts the item in the sparse ``by-pending-event`` index. The same write,
so there is no status change without its event. After the write the store
publishes the event and, once EventBridge has accepted it, takes it off the item
(``settle``): the last event takes the marker with it and, on a retired half-pair
placeholder, the item itself.

Whatever dies or fails in between leaves the event on the item, where
``drain_pending_events`` (once per reconciler run) finds it after a short grace
and sends it. Delivery is at least once: a process that dies after EventBridge
took an event, before settling it, has it sent again under the same
``event_id``, which consumers use to drop the repeat.

Why a string set: ``ADD``/``DELETE`` of one element work whether or not the set
exists yet (a map's ``pending_events.#id`` path needs its map to exist first),
and DynamoDB drops a set once it is empty.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from replica_pipeline.adapters.events import Publisher, StatusChange
from replica_pipeline.clock import iso
from replica_pipeline.contracts.table_schema import (
    EVENT_PENDING_ATTRIBUTE,
    PARTITION_KEY,
    PENDING_EVENT_INDEX,
    UPDATED_AT_ATTRIBUTE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from replica_pipeline.adapters.store.repository import ReplicaStore

Item = dict[str, Any]

logger = Logger(child=True)

PENDING_EVENTS = "pending_events"
# The index's partition key: one value, since the index only ever holds the few
# items whose events are on their way (a handful, unless EventBridge is down).
MARKER = "1"
# On a half-pair placeholder whose pair became a submission: that submission's id.
RETIRED_BY = "retired_by"

# An event younger than this may still be on its way from its writer: the sweep
# leaves it alone, so it does not race the writer into sending it twice.
PUBLISH_GRACE = timedelta(seconds=60)
# Items in a row whose events the bus refused: it is down, the next run tries again.
MAX_FAILURES_IN_A_ROW = 3
# Settling only loses a race to another settle or a new event on the same item.
MAX_SETTLE_TRIES = 5

_deserializer = TypeDeserializer()


def pending_attributes(change: StatusChange) -> Item:
    """The outbox attributes of a new item (a PutItem) written with ``change``."""
    return {PENDING_EVENTS: {change.detail()}, EVENT_PENDING_ATTRIBUTE: MARKER}


def with_pending_event(expression: str, values: Item, change: StatusChange) -> str:
    """``expression`` (an UpdateExpression starting with SET) also putting ``change`` out.

    Adds the placeholders it uses to ``values``.
    """
    if not expression.startswith("SET "):
        raise ValueError(f"expected an update expression starting with SET: {expression!r}")
    values[":outbox_marker"] = MARKER
    values[":outbox_event"] = {change.detail()}
    return (
        f"SET {EVENT_PENDING_ATTRIBUTE} = :outbox_marker, {expression.removeprefix('SET ')}"
        f" ADD {PENDING_EVENTS} :outbox_event"
    )


def publish(publisher: Publisher, change: StatusChange) -> bool:
    """Hand ``change`` to the bus; True once accepted. Never raises an ``Exception``."""
    try:
        return bool(publisher(change))
    except Exception:  # any publisher failure: the event waits in the outbox
        logger.warning(
            "publishing a status event failed; it stays in the outbox",
            extra={"submission_id": change.submission_id, "event_id": change.event_id},
            exc_info=True,
        )
        return False


def announce(table: Table, publisher: Publisher, change: StatusChange, written: Item) -> bool:
    """Publish a change just ``written`` (with its event), then take the event off the item.

    Never fails the caller: the change is written, and whatever goes wrong here
    leaves the event for the sweep. True when the bus accepted it.
    """
    if not publish(publisher, change):
        return False
    try:
        settle(table, change.submission_id, change.detail(), written)
    except Exception:  # the event was sent; at worst the sweep sends it again
        logger.warning(
            "a sent status event could not be taken off its item; it will be sent again",
            extra={"submission_id": change.submission_id, "event_id": change.event_id},
            exc_info=True,
        )
    return True


class _Step(Enum):
    LAST = "the item's last event: the marker goes with it"
    ONE_OF_MANY = "other events wait on the item: the marker stays"
    CLOSE = "a retired placeholder's last event: the item goes with it"


def settle(table: Table, submission_id: str, detail: str, known: Item | None = None) -> bool:
    """Take a sent event off its item (``known``: the item as last seen, to pick the write).

    Each write is conditional on what it assumes, so the marker never outlives
    the last event nor goes before it, and a placeholder goes only once all of
    its events are sent. True once the event is off the item (or already was).
    """
    step = _step(known, detail) if known is not None else _Step.LAST
    for _ in range(MAX_SETTLE_TRIES):
        if step is None:
            return True
        try:
            _write(table, submission_id, detail, step)
            return True
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            step = _step(item_of_failed_write(error), detail)
    logger.warning(
        "a sent status event stayed on its busy item; the sweep will send it again",
        extra={"submission_id": submission_id},
    )
    return False


def _step(item: Item | None, detail: str) -> _Step | None:
    pending = item.get(PENDING_EVENTS, set()) if item else set()
    if item is None or detail not in pending:
        return None  # already off (a sweep or a duplicate settled it), or the item is gone
    if len(pending) > 1:
        return _Step.ONE_OF_MANY
    return _Step.CLOSE if RETIRED_BY in item else _Step.LAST


def _write(table: Table, submission_id: str, detail: str, step: _Step) -> None:
    key = {PARTITION_KEY: submission_id}
    values: Item = {":detail": detail, ":one": 1}
    holds_it = f"contains({PENDING_EVENTS}, :detail)"
    if step is _Step.CLOSE:
        table.delete_item(
            Key=key,
            ConditionExpression=(
                f"attribute_exists({RETIRED_BY}) AND size({PENDING_EVENTS}) = :one AND {holds_it}"
            ),
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return
    values[":event"] = {detail}
    if step is _Step.LAST:
        expression = f"DELETE {PENDING_EVENTS} :event REMOVE {EVENT_PENDING_ATTRIBUTE}"
        condition = (
            f"size({PENDING_EVENTS}) = :one AND {holds_it} AND attribute_not_exists({RETIRED_BY})"
        )
    else:
        expression = f"DELETE {PENDING_EVENTS} :event"
        condition = f"size({PENDING_EVENTS}) > :one AND {holds_it}"
    table.update_item(
        Key=key,
        UpdateExpression=expression,
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def drain_pending_events(
    store: ReplicaStore,
    now: datetime,
    *,
    older_than: timedelta = PUBLISH_GRACE,
    limit: int = 100,
    deadline: float | None = None,
) -> int:
    """Send the events that have waited on their items longer than ``older_than``.

    Looks at ``limit`` items at most, oldest first, and stops at ``deadline``
    (``time.monotonic()``) or when the bus keeps refusing. Returns how many
    events it sent.
    """
    cutoff = iso(now - older_than)
    sent = looked_at = failures_in_a_row = 0
    start_key: Item | None = None
    while looked_at < limit:
        request: dict[str, Any] = {
            "IndexName": PENDING_EVENT_INDEX,
            "KeyConditionExpression": f"{EVENT_PENDING_ATTRIBUTE} = :marker "
            f"AND {UPDATED_AT_ATTRIBUTE} < :cutoff",
            "ExpressionAttributeValues": {":marker": MARKER, ":cutoff": cutoff},
            "Limit": limit - looked_at,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = store.table.query(**request)
        for key in response.get("Items", []):
            if deadline is not None and time.monotonic() >= deadline:
                return _reported(sent)
            looked_at += 1
            published, refused = _send_pending(store, str(key[PARTITION_KEY]), cutoff)
            sent += published
            failures_in_a_row = failures_in_a_row + 1 if refused else 0
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                logger.warning("the event bus keeps refusing; the next run sends the rest")
                return _reported(sent)
        start_key = response.get("LastEvaluatedKey")
        if not start_key:
            break
    return _reported(sent)


def _send_pending(store: ReplicaStore, submission_id: str, cutoff: str) -> tuple[int, bool]:
    """Send one item's waiting events, oldest first: how many were sent, and whether one failed."""
    response = store.table.get_item(Key={PARTITION_KEY: submission_id}, ConsistentRead=True)
    item: Item | None = response.get("Item")
    if item is None:
        return 0, False
    pending = set(item.get(PENDING_EVENTS, set()))
    if not pending:
        _drop_marker(store.table, item)
        return 0, False
    sent = 0
    for detail in sorted(pending, key=_order):
        if _order(detail)[0] >= cutoff:
            continue  # its writer may still be sending it
        if not publish(store.on_change, StatusChange.from_detail(detail)):
            return sent, True
        sent += 1
        settle(store.table, submission_id, detail, {**item, PENDING_EVENTS: set(pending)})
        pending.discard(detail)
    return sent, False


def _drop_marker(table: Table, item: Item) -> None:
    """An item marked with no event left (should not happen): unmark it, or end a placeholder."""
    key = {PARTITION_KEY: item[PARTITION_KEY]}
    nothing_pending = f"attribute_not_exists({PENDING_EVENTS})"
    try:
        if RETIRED_BY in item:
            table.delete_item(
                Key=key, ConditionExpression=f"attribute_exists({RETIRED_BY}) AND {nothing_pending}"
            )
        else:
            table.update_item(
                Key=key,
                UpdateExpression=f"REMOVE {EVENT_PENDING_ATTRIBUTE}",
                ConditionExpression=f"attribute_exists({PARTITION_KEY}) AND {nothing_pending}",
            )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise


def _order(detail: str) -> tuple[str, str]:
    """When an event happened (its ``at``), then its id: the order the sweep sends in."""
    fields = json.loads(detail)
    return str(fields.get("at", "")), str(fields.get("event_id", ""))


def _reported(sent: int) -> int:
    if sent:
        logger.info("sent status events left in outboxes", extra={"events": sent})
    return sent


def item_of_failed_write(error: ClientError) -> Item | None:
    """The item a failed conditional write found (``ReturnValuesOnConditionCheckFailure``)."""
    response: dict[str, Any] = dict(error.response)
    raw = response.get("Item")
    if not raw:
        return None
    return {name: _deserializer.deserialize(value) for name, value in raw.items()}


def is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"

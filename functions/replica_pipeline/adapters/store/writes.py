"""The conditional writes every change to the replicas table is made of.

``TableWriter`` is the table plus the few ways we write it: put only if absent,
update only if a condition holds, and a status-changing update that puts its
event in the item's outbox in the same write and then publishes it (see
``outbox``): a write whose condition fails announces nothing, and a change
never goes unannounced. The repository, the claim protocol and the
reconciler's lease are built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from replica_pipeline.adapters import outbox
from replica_pipeline.adapters.events import Publisher, StatusChange, no_events
from replica_pipeline.clock import iso
from replica_pipeline.contracts.table_schema import PARTITION_KEY
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item, Submission

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# Messages and notes are for people; a runaway Tavus error body must not bloat the item.
MAX_TEXT = 1000
# What a status event says about its item: a write whose event was made from the
# item as read is conditional on these being still as read.
EVENT_ATTRIBUTES = ("status", "attempts", "replica_id", "training_progress", "error_message")
# A change made from a consistent read loses its write only to a concurrent change
# of the same item; past this many such races in a row, the caller retries later.
MAX_RACES = 10

# What a Tavus-driven write expects of the item: attribute → value (None: absent).
Expectation = dict[str, str | int | None]

is_conditional_failure = outbox.is_conditional_failure


class StoreContention(RuntimeError):
    """An item kept changing under a write: transient, the caller's retry will get through."""


@dataclass
class TableWriter:
    table: Table
    on_change: Publisher = no_events

    def get(self, submission_id: str) -> Item | None:
        response = self.table.get_item(Key={PARTITION_KEY: submission_id}, ConsistentRead=True)
        item = response.get("Item")
        # Only submissions have a status (the reconciler's own item has none).
        return item if item and "status" in item else None

    def _new_item(self, submission: Submission, status: Status, now: datetime) -> Item:
        item = submission.attributes()
        item.update(
            status=status.value,
            created_at=iso(now),
            updated_at=iso(now),
            attempts=0,
            history=[self._history_entry(status, now, None)],
        )
        return item

    def _change(
        self, submission_id: str, written: Callable[[Item], Item], **request: Any
    ) -> Item | None:
        """A conditional status-changing UpdateItem that puts its event in the item's outbox.

        The event is made from the item as read (consistently) and ``written``
        (what the write does to an item), and the write also requires what the
        event says of the item (``EVENT_ATTRIBUTES``) to be still as read. A
        write that loses only that race is made again from the item that won it.
        Returns the updated item, or None when the request's own condition failed.
        """
        seen = self.get(submission_id)
        for _ in range(MAX_RACES):
            if seen is None:
                return None
            change = StatusChange.of(written(seen), str(seen["status"]))
            names = dict(request["ExpressionAttributeNames"])
            values = dict(request["ExpressionAttributeValues"])
            try:
                response = self.table.update_item(
                    Key={PARTITION_KEY: submission_id},
                    UpdateExpression=outbox.with_pending_event(
                        request["UpdateExpression"], values, change
                    ),
                    ConditionExpression=f"({request['ConditionExpression']})"
                    + _still_as_read(seen, names, values),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
                current = outbox.item_of_failed_write(error)
                if current is None or "status" not in current or _same_news(current, seen):
                    return None  # the request's own condition failed: a no-op, no event
                seen = current
                continue
            item: Item = response["Attributes"]
            self._announce(change, item)
            return item
        raise StoreContention(f"{submission_id} kept changing under {MAX_RACES} writes in a row")

    def _announce(self, change: StatusChange, written: Item) -> None:
        """Send the event of a change just ``written``; the sweep sends it if this fails."""
        outbox.announce(self.table, self.on_change, change, written)

    def _update_if(self, submission_id: str, **request: Any) -> Item | None:
        """One conditional UpdateItem; the item as written, or None when the condition failed."""
        try:
            response = self.table.update_item(
                Key={PARTITION_KEY: submission_id}, ReturnValues="ALL_NEW", **request
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return None
            raise
        return response["Attributes"]

    def _put_if_absent(self, item: Item) -> bool:
        try:
            self.table.put_item(
                Item=item, ConditionExpression=f"attribute_not_exists({PARTITION_KEY})"
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def _history_entry(self, status: Status, now: datetime, note: str | None) -> Item:
        entry: Item = {"status": status.value, "at": iso(now)}
        if note:
            entry["note"] = self._short(note)
        return entry

    def _short(self, text: Any) -> str:
        value = str(text)
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def expectation(expect: Expectation | None, names: dict[str, str], values: Item) -> str:
    """`` AND`` conditions saying the item is still about what ``expect`` names."""
    clauses = []
    for index, (attribute, value) in enumerate((expect or {}).items()):
        names[f"#e{index}"] = attribute
        if value is None:
            clauses.append(f"attribute_not_exists(#e{index})")
        else:
            values[f":e{index}"] = value
            clauses.append(f"#e{index} = :e{index}")
    return "".join(f" AND {clause}" for clause in clauses)


def as_written(seen: Item, updates: Item, removed: tuple[str, ...]) -> Item:
    """``seen`` as a write that sets ``updates`` and removes ``removed`` leaves it."""
    item = {name: value for name, value in seen.items() if name not in removed}
    item.update(updates)
    return item


def _still_as_read(seen: Item, names: dict[str, str], values: Item) -> str:
    """`` AND`` conditions saying what an event says of the item is still as ``seen``."""
    clauses = []
    for index, attribute in enumerate(EVENT_ATTRIBUTES):
        names[f"#seen{index}"] = attribute
        if attribute in seen:
            values[f":seen{index}"] = seen[attribute]
            clauses.append(f"#seen{index} = :seen{index}")
        else:
            clauses.append(f"attribute_not_exists(#seen{index})")
    return "".join(f" AND {clause}" for clause in clauses)


def _same_news(item: Item, seen: Item) -> bool:
    return all(item.get(attribute) == seen.get(attribute) for attribute in EVENT_ATTRIBUTES)

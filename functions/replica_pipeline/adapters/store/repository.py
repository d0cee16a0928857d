"""The replicas table: one item per submission, changed only by conditional writes.

Every status change goes through ``transition``, whose ``ConditionExpression``
admits only the source states the state machine allows, so a duplicate or late
write can never move an item backwards or out of a terminal state.

``ReplicaStore`` is the one object callers hold. It is layered, one module per
reason to change: ``writes`` (the conditional writes and the outbox), ``claims``
(who may call Create Replica), ``reconciler_lease`` (one reconciler run at a
time) and, here, the repository: reads, new items, status changes and notes.
The layers are base classes rather than separate objects so that the services,
the local stack and the tests keep calling ``store.claim(...)`` on one store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from replica_pipeline.adapters import outbox
from replica_pipeline.adapters.events import StatusChange
from replica_pipeline.adapters.store.claims import ClaimProtocol
from replica_pipeline.adapters.store.reconciler_lease import ReconcilerLease
from replica_pipeline.adapters.store.writes import (
    Expectation,
    as_written,
    expectation,
    is_conditional_failure,
)
from replica_pipeline.clock import iso
from replica_pipeline.contracts.table_schema import PARTITION_KEY, REPLICA_ID_INDEX, STATUS_INDEX
from replica_pipeline.rules.states import Status, sources_of
from replica_pipeline.rules.submission import (
    ATTEMPT_ATTRIBUTES,
    UNKNOWN_ATTRIBUTES,
    Item,
    Submission,
)

# Status changes are few (at most six per lifecycle); notes of unknown callback
# words stop being kept past this, so a chatty sender cannot grow an item.
MAX_HISTORY = 30

# Where a half-pair placeholder waits for its other half.
_WAITING = frozenset({Status.WAITING_FOR_CONSENT.value, Status.WAITING_FOR_TRAINING.value})


class ReplicaStore(ClaimProtocol, ReconcilerLease):
    def find_by_replica_id(self, replica_id: str) -> Item | None:
        response = self.table.query(
            IndexName=REPLICA_ID_INDEX,
            KeyConditionExpression="replica_id = :r",
            ExpressionAttributeValues={":r": replica_id},
            Limit=1,
        )
        items = response.get("Items", [])
        return items[0] if items else None

    def query_status(
        self,
        status: Status,
        *,
        limit: int,
        newest_first: bool = True,
        updated_before: str | None = None,
        start_key: Item | None = None,
    ) -> tuple[list[Item], Item | None]:
        """One page of items in ``status`` from the status index, and the key to continue."""
        condition = "#status = :status"
        values: Item = {":status": status.value}
        if updated_before is not None:
            condition += " AND updated_at < :before"
            values[":before"] = updated_before
        request: dict[str, Any] = {
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        response = self.table.query(**request)
        return list(response.get("Items", [])), response.get("LastEvaluatedKey")

    def create(
        self,
        submission: Submission,
        status: Status,
        now: datetime,
        *,
        error_message: str | None = None,
    ) -> bool:
        """Write a new item in ``status``; False when the submission already exists."""
        item = self._new_item(submission, status, now)
        if error_message:
            item["error_message"] = self._short(error_message)
        change = StatusChange.of(item, None)
        item.update(outbox.pending_attributes(change))
        if not self._put_if_absent(item):
            return False
        self._announce(change, item)
        return True

    def start_next_attempt(self, current: Item, retried: int, now: datetime) -> Item | None:
        """Make the attempt after ``retried`` of the failed submission read as ``current``.

        The write is conditional on the item still being in ``error`` at that
        attempt, so two retry requests racing start exactly one new attempt; the
        loser gets None and judges again (``services.retry``). The new attempt is
        left unclaimed (no ``lease_until``) for the ingest queue's worker to
        claim with ``claim_retry``.
        """
        previous = ", ".join(
            f"{label} {current[name]}"
            for label, name in (("replica", "replica_id"), ("error:", "error_message"))
            if current.get(name)
        )
        note = f"retry of attempt {retried} requested" + (f" ({previous})" if previous else "")
        failed_replicas = [current["replica_id"]] if current.get("replica_id") else []
        values: Item = {
            ":submitting": Status.SUBMITTING.value,
            ":error": Status.ERROR.value,
            ":attempt": retried,
            ":next": retried + 1,
            ":now": iso(now),
            ":empty": [],
            ":entry": [self._history_entry(Status.SUBMITTING, now, note)],
            ":failed": failed_replicas,
            ":retried": [retried],
        }
        # The condition pins the status and the attempt: nothing the event says can differ.
        change = StatusChange.of(
            as_written(
                current,
                {
                    "status": Status.SUBMITTING.value,
                    "attempts": retried + 1,
                    "updated_at": iso(now),
                },
                ATTEMPT_ATTRIBUTES,
            ),
            Status.ERROR.value,
        )
        item = self._update_if(
            str(current[PARTITION_KEY]),
            UpdateExpression=outbox.with_pending_event(
                "SET #status = :submitting, attempts = :next, updated_at = :now, "
                "first_claimed_at = :now, "
                "history = list_append(if_not_exists(history, :empty), :entry), "
                "previous_replica_ids = list_append("
                "if_not_exists(previous_replica_ids, :empty), :failed), "
                "retried_attempts = list_append(if_not_exists(retried_attempts, :empty), :retried) "
                "REMOVE " + ", ".join(ATTEMPT_ATTRIBUTES),
                values,
                change,
            ),
            ConditionExpression="#status = :error AND attempts = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        if item is not None:
            self._announce(change, item)
        return item

    def transition(
        self,
        submission_id: str,
        new: Status,
        now: datetime,
        *,
        fields: Item | None = None,
        note: str | None = None,
        remove: tuple[str, ...] = (),
        expect: Expectation | None = None,
    ) -> Item | None:
        """Move the item to ``new`` if the state machine allows it from where it is.

        ``expect`` names what the news is about (``{"replica_id": R}``: only while
        the item's replica is R; ``{"replica_id": None}``: only while it has none;
        ``{"attempts": n}``: only during attempt n), so news about an old replica
        or attempt can never change a newer one. Returns the updated item, or None
        when a condition failed (the item is absent, already there, in a state
        that may not move to ``new``, or about something else now).
        """
        values: Item = {
            ":new": new.value,
            ":now": iso(now),
            ":entry": [self._history_entry(new, now, note)],
            ":empty": [],
        }
        sets = [
            "#status = :new",
            "updated_at = :now",
            "history = list_append(if_not_exists(history, :empty), :entry)",
        ]
        names = {"#status": "status"}
        written: Item = {"status": new.value, "updated_at": iso(now)}
        for index, (attribute, value) in enumerate((fields or {}).items()):
            names[f"#f{index}"] = attribute
            values[f":f{index}"] = self._short(value) if attribute == "error_message" else value
            written[attribute] = values[f":f{index}"]
            sets.append(f"#f{index} = :f{index}")
        sources = sorted(status.value for status in sources_of(new) if status is not new)
        placeholders = []
        for index, source in enumerate(sources):
            values[f":s{index}"] = source
            placeholders.append(f":s{index}")
        expression = "SET " + ", ".join(sets)
        if remove:
            expression += " REMOVE " + ", ".join(remove)
        condition = f"#status IN ({', '.join(placeholders)})" + expectation(expect, names, values)
        return self._change(
            submission_id,
            lambda seen: as_written(seen, written, remove),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def record_progress(
        self, submission_id: str, replica_id: str, progress: int, now: datetime
    ) -> Item | None:
        """Raise the progress of ``replica_id``'s training; never lower it, never add history."""
        names = {"#status": "status"}
        values: Item = {":p": progress, ":now": iso(now), ":training": Status.TRAINING.value}
        written: Item = {"training_progress": progress, "updated_at": iso(now)}
        return self._change(
            submission_id,
            lambda seen: as_written(seen, written, UNKNOWN_ATTRIBUTES),
            UpdateExpression="SET training_progress = :p, updated_at = :now "
            "REMOVE " + ", ".join(UNKNOWN_ATTRIBUTES),
            ConditionExpression=(
                "#status = :training AND "
                "(attribute_not_exists(training_progress) OR training_progress < :p)"
            )
            + expectation({"replica_id": replica_id}, names, values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def note_unknown(self, submission_id: str, replica_id: str, now: datetime) -> Item | None:
        """Count one more check in which Tavus did not know the training item's replica.

        ``unknown_since`` keeps the first such check; both go once Tavus knows
        the replica again (``forget_unknown``) or the item leaves ``training``.
        """
        names = {"#status": "status"}
        values: Item = {":now": iso(now), ":one": 1, ":training": Status.TRAINING.value}
        return self._update_if(
            submission_id,
            UpdateExpression="SET unknown_since = if_not_exists(unknown_since, :now) "
            "ADD unknown_checks :one",
            ConditionExpression="#status = :training"
            + expectation({"replica_id": replica_id}, names, values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def forget_unknown(self, submission_id: str, replica_id: str) -> None:
        """Tavus knows the replica again: its grace period starts afresh next time."""
        names: dict[str, str] = {}
        values: Item = {}
        self._update_if(
            submission_id,
            UpdateExpression="REMOVE " + ", ".join(UNKNOWN_ATTRIBUTES),
            ConditionExpression="attribute_exists(unknown_since)"
            + expectation({"replica_id": replica_id}, names, values),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def note(self, submission_id: str, note: str, now: datetime) -> None:
        """Keep a word we did not understand (an unknown callback status) in the history."""
        try:
            self.table.update_item(
                Key={PARTITION_KEY: submission_id},
                UpdateExpression="SET history = list_append(history, :entry)",
                ConditionExpression="size(history) < :cap",
                ExpressionAttributeValues={
                    ":entry": [{"at": iso(now), "note": self._short(note)}],
                    ":cap": MAX_HISTORY,
                },
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def retire_waiting(self, submission_id: str, pair_submission_id: str, now: datetime) -> None:
        """End a half-pair placeholder once its pair has become ``pair_submission_id``.

        The placeholder is marked ``retired_by`` the pair, with its closing
        ``retired`` event in its outbox (one write, only while it still waits),
        then the event is sent and the placeholder deleted. A process that dies
        in between leaves both to the reconciler's sweep, which sends the event
        and then deletes the placeholder.
        """
        seen = self.get(submission_id)
        if seen is None or seen["status"] not in _WAITING or outbox.RETIRED_BY in seen:
            return  # never made (the other half found its sibling at once), or done
        change = StatusChange.retirement(seen, pair_submission_id, iso(now))
        values: Item = {":pair": pair_submission_id, ":now": iso(now), ":seen": seen["status"]}
        marked = self._update_if(
            submission_id,
            UpdateExpression=outbox.with_pending_event(
                f"SET {outbox.RETIRED_BY} = :pair, updated_at = :now", values, change
            ),
            ConditionExpression=f"#status = :seen AND attribute_not_exists({outbox.RETIRED_BY})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        if marked is not None:
            self._announce(change, marked)

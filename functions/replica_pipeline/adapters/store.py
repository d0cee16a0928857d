"""The replicas table: one item per submission, changed only by conditional writes.

Every status change goes through ``transition``, whose ``ConditionExpression``
admits only the source states the state machine allows, so a duplicate or late
write can never move an item backwards or out of a terminal state.

Every write that changes a status (or progress) puts the change's event in the
item's outbox in that same write, then publishes it (see ``outbox``): a write
whose condition fails announces nothing, and a change never goes unannounced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from replica_pipeline.adapters import outbox
from replica_pipeline.adapters.events import Publisher, StatusChange, no_events
from replica_pipeline.adapters.table_schema import PARTITION_KEY, REPLICA_ID_INDEX, STATUS_INDEX
from replica_pipeline.clock import iso
from replica_pipeline.rules.states import RETRYABLE, Status, sources_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

Item = dict[str, Any]

# Messages and notes are for people; a runaway Tavus error body must not bloat the item.
MAX_TEXT = 1000
# Status changes are few (at most six per lifecycle); notes of unknown callback
# words stop being kept past this, so a chatty sender cannot grow an item.
MAX_HISTORY = 30
# What a status event says about its item: a write whose event was made from the
# item as read is conditional on these being still as read.
EVENT_ATTRIBUTES = ("status", "attempts", "replica_id", "training_progress", "error_message")
# A change made from a consistent read loses its write only to a concurrent change
# of the same item; past this many such races in a row, the caller retries later.
MAX_RACES = 10


class StoreContention(RuntimeError):
    """An item kept changing under a write: transient, the caller's retry will get through."""


# Where a half-pair placeholder waits for its other half.
_WAITING = frozenset({Status.WAITING_FOR_CONSENT.value, Status.WAITING_FOR_TRAINING.value})


class SubmissionKind(StrEnum):
    COMBINED = "combined"
    PAIR = "pair"
    PART = "part"  # a half pair waiting for its other half, or a rejected half


@dataclass(frozen=True)
class Submission:
    """What the ingest path knows about a drop when it first writes the item."""

    submission_id: str
    kind: SubmissionKind
    bucket: str
    name: str
    replica_name: str
    training_key: str | None = None
    training_version: str | None = None
    consent_key: str | None = None
    consent_version: str | None = None
    model_name: str | None = None
    callback_tag: str | None = None
    tavus_replica_name: str | None = None
    # Tavus's training options the drop asked for (Create Replica's ``properties``).
    training_properties: dict[str, bool] | None = None

    def attributes(self) -> Item:
        values: Item = {
            PARTITION_KEY: self.submission_id,
            "kind": self.kind.value,
            "bucket": self.bucket,
            "name": self.name,
            "replica_name": self.replica_name,
            "training_key": self.training_key,
            "training_version": self.training_version,
            "consent_key": self.consent_key,
            "consent_version": self.consent_version,
            "model_name": self.model_name,
            "callback_tag": self.callback_tag,
            "tavus_replica_name": self.tavus_replica_name,
            "training_properties": self.training_properties or None,
        }
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def from_item(cls, item: Item) -> Submission:
        """The submission an existing item was written for (a retry submits it again)."""

        def text(name: str) -> str | None:
            value = item.get(name)
            return str(value) if value is not None else None

        return cls(
            submission_id=str(item[PARTITION_KEY]),
            kind=SubmissionKind(str(item["kind"])),
            bucket=str(item["bucket"]),
            name=str(item["name"]),
            replica_name=str(item["replica_name"]),
            training_key=text("training_key"),
            training_version=text("training_version"),
            consent_key=text("consent_key"),
            consent_version=text("consent_version"),
            model_name=text("model_name"),
            callback_tag=text("callback_tag"),
            tavus_replica_name=text("tavus_replica_name"),
            training_properties=_properties(item.get("training_properties")),
        )


def _properties(value: Any) -> dict[str, bool] | None:
    """A stored ``training_properties`` map (DynamoDB gives booleans back as booleans)."""
    if not isinstance(value, dict) or not value:
        return None
    return {str(name): bool(flag) for name, flag in value.items()}


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"  # first claim: nobody called Tavus for this submission yet
    TAKEN_OVER = "taken_over"  # an earlier claim's lease ran out: it may have reached Tavus
    BUSY = "busy"  # another invocation holds a live claim
    SETTLED = "settled"  # the submission is already past submitting


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    item: Item
    token: str = ""

    @property
    def first_claimed_at(self) -> str:
        return str(self.item.get("first_claimed_at", ""))

    @property
    def earlier_replica_ids(self) -> list[str]:
        return earlier_replica_ids(self.item)

    @property
    def must_look_first(self) -> bool:
        """Whether an earlier holder may have reached Tavus: look there before creating.

        Only a first claim, or one released with proof that Tavus did nothing
        (a 429, a refused key, a connection that never opened), may create at once.
        """
        return self.outcome is ClaimOutcome.TAKEN_OVER and self.item.get("claim_clean") is not True

    @property
    def lease_until(self) -> str:
        return str(self.item.get("lease_until", ""))


def earlier_replica_ids(item: Item) -> list[str]:
    """The replicas of a submission's earlier, failed attempts (never to be adopted)."""
    return [str(replica_id) for replica_id in item.get("previous_replica_ids", [])]


class RetryOutcome(StrEnum):
    STARTED = "started"  # the item is now the new attempt, waiting to be submitted
    REPLAYED = "replayed"  # this attempt was retried before: nothing more to do
    REFUSED = "refused"  # not in a retryable state (the item says why)
    MISSING = "missing"


@dataclass(frozen=True)
class RetryStart:
    outcome: RetryOutcome
    item: Item | None


# The reconciler's own item: where its next run starts, and who runs now. It has
# no status and no replica_id, so it is in no index and never read as a submission.
RECONCILER_KEY = "~reconciler"


@dataclass(frozen=True)
class ReconcileRun:
    """One reconciler run's hold on the reconciler's item."""

    token: str
    training_cursor: Item | None  # where the previous run stopped paging training items


# What a Tavus-driven write expects of the item: attribute → value (None: absent).
Expectation = dict[str, str | int | None]

# How long Tavus has not known the item's replica (the reconciler's grace period).
UNKNOWN_ATTRIBUTES = ("unknown_since", "unknown_checks")

# The claim on a submission: gone once the submission has left ``submitting``.
CLAIM_ATTRIBUTES = ("lease_until", "claim_token", "last_error", "claim_clean", "released_clean")

# Attributes of one attempt that must not leak into the next: a late callback
# of the failed replica must find no item, and the new attempt starts clean.
_ATTEMPT_ATTRIBUTES = (
    # the new attempt is unclaimed until the ingest worker claims it
    *CLAIM_ATTRIBUTES,
    *UNKNOWN_ATTRIBUTES,
    "replica_id",
    "error_message",
    "training_progress",
    "thumbnail_video_url",
)


@dataclass
class ReplicaStore:
    table: Table
    on_change: Publisher = no_events

    def get(self, submission_id: str) -> Item | None:
        response = self.table.get_item(Key={PARTITION_KEY: submission_id}, ConsistentRead=True)
        item = response.get("Item")
        # Only submissions have a status (the reconciler's own item has none).
        return item if item and "status" in item else None

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

    def claim(self, submission: Submission, now: datetime, lease: timedelta) -> Claim:
        """Take the right to call Create Replica for this submission.

        Creates the item in ``submitting`` or, when an earlier claim's lease has
        run out (its invocation died), takes it over. Only a claim holder may
        call Tavus.
        """
        token = uuid.uuid4().hex
        lease_until = iso(now + lease)
        item = self._new_item(submission, Status.SUBMITTING, now)
        item.update(
            claim_token=token,
            first_claimed_at=iso(now),
            lease_until=lease_until,
            attempts=1,
        )
        change = StatusChange.of(item, None)
        item.update(outbox.pending_attributes(change))
        if self._put_if_absent(item):
            self._announce(change, item)
            return Claim(ClaimOutcome.CLAIMED, item, token)
        taken = self._update_if(
            submission.submission_id,
            UpdateExpression=(
                "SET claim_token = :token, lease_until = :lease, updated_at = :now, "
                # Whether the claim we take was released with proof that Tavus did nothing.
                "claim_clean = if_not_exists(released_clean, :false), released_clean = :false "
                "ADD attempts :one"
            ),
            ConditionExpression="#status = :submitting AND lease_until < :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":token": token,
                ":lease": lease_until,
                ":now": iso(now),
                ":one": 1,
                ":false": False,
                ":submitting": Status.SUBMITTING.value,
            },
        )
        if taken is not None:
            return Claim(ClaimOutcome.TAKEN_OVER, taken, token)
        current = self.get(submission.submission_id) or {}
        if current.get("status") == Status.SUBMITTING.value:
            return Claim(ClaimOutcome.BUSY, current)
        return Claim(ClaimOutcome.SETTLED, current)

    def begin_retry(self, submission_id: str, attempt: int | None, now: datetime) -> RetryStart:
        """Make a failed submission's next attempt, once per ``attempt``.

        ``attempt`` is the attempt being retried (the item's ``attempts`` as the
        caller saw it; None means "the current one"). The write is conditional
        on the item still being in ``error`` at that attempt, so a request sent
        twice, or two sent at once, start exactly one new attempt; the loser
        sees the attempt already moved on and is told it was a replay. The new
        attempt is left unclaimed (no ``lease_until``) for the ingest queue's
        worker to claim with ``claim_retry``.
        """
        current = self.get(submission_id)
        if current is None:
            return RetryStart(RetryOutcome.MISSING, None)
        seen = int(current.get("attempts", 0))
        retried = seen if attempt is None else attempt
        if retried in {int(n) for n in current.get("retried_attempts", [])}:
            return RetryStart(RetryOutcome.REPLAYED, current)
        if current.get("status") not in {status.value for status in RETRYABLE} or retried != seen:
            return RetryStart(RetryOutcome.REFUSED, current)
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
            _as_written(
                current,
                {
                    "status": Status.SUBMITTING.value,
                    "attempts": retried + 1,
                    "updated_at": iso(now),
                },
                _ATTEMPT_ATTRIBUTES,
            ),
            Status.ERROR.value,
        )
        item = self._update_if(
            submission_id,
            UpdateExpression=outbox.with_pending_event(
                "SET #status = :submitting, attempts = :next, updated_at = :now, "
                "first_claimed_at = :now, "
                "history = list_append(if_not_exists(history, :empty), :entry), "
                "previous_replica_ids = list_append("
                "if_not_exists(previous_replica_ids, :empty), :failed), "
                "retried_attempts = list_append(if_not_exists(retried_attempts, :empty), :retried) "
                "REMOVE " + ", ".join(_ATTEMPT_ATTRIBUTES),
                values,
                change,
            ),
            ConditionExpression="#status = :error AND attempts = :attempt",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
        if item is None:
            # Someone else moved it between our read and our write: judge again.
            return self.begin_retry(submission_id, retried, now)
        self._announce(change, item)
        return RetryStart(RetryOutcome.STARTED, item)

    def claim_retry(
        self, submission_id: str, attempt: int, now: datetime, lease: timedelta
    ) -> Claim:
        """``claim`` for a retry's attempt: only that attempt, only while it is unclaimed.

        Reported as TAKEN_OVER, so the caller first looks in Tavus for a replica
        an interrupted holder of this same attempt may have created.
        """
        token = uuid.uuid4().hex
        taken = self._update_if(
            submission_id,
            UpdateExpression=(
                "SET claim_token = :token, lease_until = :lease, updated_at = :now, "
                "claim_clean = :false"
            ),
            ConditionExpression=(
                "#status = :submitting AND attempts = :attempt AND "
                "(attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":token": token,
                ":lease": iso(now + lease),
                ":now": iso(now),
                ":attempt": attempt,
                ":false": False,
                ":submitting": Status.SUBMITTING.value,
            },
        )
        if taken is not None:
            return Claim(ClaimOutcome.TAKEN_OVER, taken, token)
        current = self.get(submission_id) or {}
        if (
            current.get("status") == Status.SUBMITTING.value
            and int(current.get("attempts", 0)) == attempt
        ):
            return Claim(ClaimOutcome.BUSY, current)
        return Claim(ClaimOutcome.SETTLED, current)

    def release(
        self,
        submission_id: str,
        token: str,
        now: datetime,
        reason: str = "",
        *,
        clean: bool,
        hold_until: datetime | None = None,
    ) -> None:
        """Give up our claim (the Tavus call failed) so a retry need not wait for its lease.

        ``clean`` says we know Tavus made no replica under this claim, so the
        next holder may create at once; otherwise it must look in Tavus first.
        ``hold_until`` keeps the claim that long (a create whose outcome is
        unknown may still land in Tavus). ``reason`` is kept as ``last_error``,
        so the item says why it is still submitting while its record waits.
        """
        try:
            self.table.update_item(
                Key={PARTITION_KEY: submission_id},
                UpdateExpression=(
                    "SET lease_until = :until, last_error = :reason, released_clean = :clean"
                ),
                ConditionExpression="claim_token = :token AND #status = :submitting",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":until": iso(hold_until or now),
                    ":token": token,
                    ":clean": clean,
                    ":submitting": Status.SUBMITTING.value,
                    ":reason": self._short(f"{iso(now)}: {reason}" if reason else iso(now)),
                },
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise

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
        condition = f"#status IN ({', '.join(placeholders)})" + _expectation(expect, names, values)
        return self._change(
            submission_id,
            lambda seen: _as_written(seen, written, remove),
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
            lambda seen: _as_written(seen, written, UNKNOWN_ATTRIBUTES),
            UpdateExpression="SET training_progress = :p, updated_at = :now "
            "REMOVE " + ", ".join(UNKNOWN_ATTRIBUTES),
            ConditionExpression=(
                "#status = :training AND "
                "(attribute_not_exists(training_progress) OR training_progress < :p)"
            )
            + _expectation({"replica_id": replica_id}, names, values),
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
            + _expectation({"replica_id": replica_id}, names, values),
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
            + _expectation({"replica_id": replica_id}, names, values),
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
            if not _is_conditional_failure(error):
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

    def begin_reconcile(self, now: datetime, until: datetime) -> ReconcileRun | None:
        """Take the reconciler's run until ``until``; None while another run holds it."""
        token = uuid.uuid4().hex
        item = self._update_if(
            RECONCILER_KEY,
            UpdateExpression="SET run_token = :token, run_until = :until",
            ConditionExpression="attribute_not_exists(run_until) OR run_until < :now",
            ExpressionAttributeValues={":token": token, ":until": iso(until), ":now": iso(now)},
        )
        if item is None:
            return None
        return ReconcileRun(token, item.get("training_cursor"))

    def end_reconcile(self, run: ReconcileRun, training_cursor: Item | None) -> None:
        """Let the next run start, from ``training_cursor`` (None: from the oldest item)."""
        values: Item = {":token": run.token}
        expression = "REMOVE run_until, run_token"
        if training_cursor:
            expression = "SET training_cursor = :cursor " + expression
            values[":cursor"] = training_cursor
        else:
            expression += ", training_cursor"
        self._update_if(
            RECONCILER_KEY,
            UpdateExpression=expression,
            ConditionExpression="run_token = :token",
            ExpressionAttributeValues=values,
        )

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
                if not _is_conditional_failure(error):
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
            if _is_conditional_failure(error):
                return None
            raise
        return response["Attributes"]

    def _put_if_absent(self, item: Item) -> bool:
        try:
            self.table.put_item(
                Item=item, ConditionExpression=f"attribute_not_exists({PARTITION_KEY})"
            )
        except ClientError as error:
            if _is_conditional_failure(error):
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


def _expectation(expect: Expectation | None, names: dict[str, str], values: Item) -> str:
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


def _as_written(seen: Item, updates: Item, removed: tuple[str, ...]) -> Item:
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


_is_conditional_failure = outbox.is_conditional_failure

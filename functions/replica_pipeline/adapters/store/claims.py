"""The claim on a submission: only its holder may call Create Replica.

A claim is a lease written on the item (``rules.submission.CLAIM_ATTRIBUTES``):
the first claim creates the item in ``submitting``; a claim whose lease ran out
(its invocation died) may be taken over, and the taker looks in Tavus before
creating unless the claim was released with proof that Tavus did nothing.
``ClaimProtocol`` is one layer of ``ReplicaStore`` (see ``repository``), so
callers hold one store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from botocore.exceptions import ClientError

from replica_pipeline.adapters import outbox
from replica_pipeline.adapters.events import StatusChange
from replica_pipeline.adapters.store.writes import TableWriter, is_conditional_failure
from replica_pipeline.clock import iso
from replica_pipeline.contracts.table_schema import PARTITION_KEY
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item, Submission, earlier_replica_ids


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


class ClaimProtocol(TableWriter):
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

    def claim_retry(
        self, submission_id: str, attempt: int, now: datetime, lease: timedelta
    ) -> Claim:
        """``claim`` for a retry's attempt (or one the deep check passed): only that
        attempt, only while it is unclaimed.

        Reported as TAKEN_OVER, so the caller first looks in Tavus for a replica
        an interrupted holder of this same attempt may have created, unless the
        attempt was left with proof that nothing reached Tavus (``released_clean``:
        a clean release, or the deep check, which never calls Tavus).
        """
        token = uuid.uuid4().hex
        taken = self._update_if(
            submission_id,
            UpdateExpression=(
                "SET claim_token = :token, lease_until = :lease, updated_at = :now, "
                "claim_clean = if_not_exists(released_clean, :false), released_clean = :false"
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
            if not is_conditional_failure(error):
                raise

"""The reconciler's lease: one run at a time, and where the next run starts.

Kept on the reconciler's own item in the replicas table. It has no status and
no replica_id, so it is in no index and never read as a submission.
``ReconcilerLease`` is one layer of ``ReplicaStore`` (see ``repository``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from replica_pipeline.adapters.store.writes import TableWriter
from replica_pipeline.clock import iso
from replica_pipeline.rules.submission import Item

RECONCILER_KEY = "~reconciler"


@dataclass(frozen=True)
class ReconcileRun:
    """One reconciler run's hold on the reconciler's item."""

    token: str
    training_cursor: Item | None  # where the previous run stopped paging training items


class ReconcilerLease(TableWriter):
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

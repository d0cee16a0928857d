"""The reconciler: heal what callbacks missed, and close what waited too long.

Run on a schedule. It asks Get Replica about items still ``training`` (oldest
news first, a bounded batch), looks in Tavus for the replica of a ``submitting``
item whose invocation died, and rejects half pairs older than the pair timeout.
Everything goes through the store's conditional transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from replica_pipeline.adoption import find_earlier_replica
from replica_pipeline.clock import Clock, iso, parse_iso, utc_now
from replica_pipeline.config import ReconcileSettings
from replica_pipeline.states import Status
from replica_pipeline.store import CLAIM_ATTRIBUTES, Item, ReplicaStore, earlier_replica_ids
from replica_pipeline.tavus import TavusClient, TavusUnavailable
from replica_pipeline.tracking import apply_observation, observe_replica

logger = Logger(child=True)


@dataclass
class ReconcileDependencies:
    store: ReplicaStore
    tavus: Callable[[], TavusClient]
    settings: ReconcileSettings
    clock: Clock = field(default=utc_now)


@dataclass
class ReconcileReport:
    checked: int = 0
    healed: int = 0  # items whose status or progress changed
    adopted: int = 0  # submitting items whose replica was found in Tavus
    half_pairs_rejected: int = 0
    stuck_trainings: int = 0  # training for longer than the stuck threshold
    tavus_unavailable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reconcile(deps: ReconcileDependencies) -> ReconcileReport:
    report = ReconcileReport()
    _reject_stale_half_pairs(deps, report)
    try:
        _check_training(deps, report)
        _adopt_lost_submissions(deps, report)
    except TavusUnavailable as error:
        # Tavus is down or rate limiting us: stop here, the next run carries on.
        logger.warning(
            "Tavus unavailable; reconciliation stopped early", extra={"reason": str(error)}
        )
        report.tavus_unavailable = True
    return report


def _check_training(deps: ReconcileDependencies, report: ReconcileReport) -> None:
    now = deps.clock()
    # Oldest news first: the items most likely to have lost a callback.
    items, _ = deps.store.query_status(
        Status.TRAINING, limit=deps.settings.batch_size, newest_first=False
    )
    if not items:
        return
    tavus = deps.tavus()
    for item in items:
        report.checked += 1
        replica_id = str(item.get("replica_id", ""))
        replica = tavus.get_replica(replica_id) if replica_id else None
        if replica is None:
            changed = deps.store.transition(
                str(item["submission_id"]),
                Status.ERROR,
                deps.clock(),
                fields={"error_message": f"Tavus no longer knows replica {replica_id!r}"},
                note="reconciler",
            )
        else:
            changed = apply_observation(
                deps.store, item, observe_replica(replica), deps.clock(), source="reconciler"
            )
        if changed is not None:
            report.healed += 1
        current = changed or item
        if current.get("status") == Status.TRAINING.value and _older_than(
            item, "created_at", now, deps.settings.stuck_training
        ):
            report.stuck_trainings += 1


def _adopt_lost_submissions(deps: ReconcileDependencies, report: ReconcileReport) -> None:
    now = deps.clock()
    items, _ = deps.store.query_status(
        Status.SUBMITTING,
        limit=deps.settings.batch_size,
        newest_first=False,
        updated_before=iso(now - deps.settings.stale_submitting),
    )
    for item in items:
        if str(item.get("lease_until", "")) > iso(now):
            continue  # a live claim: its invocation is still working
        report.checked += 1
        name = item.get("tavus_replica_name")
        if not name:
            continue
        replica_id = find_earlier_replica(
            deps.tavus(),
            str(name),
            str(item.get("first_claimed_at", "")),
            exclude=earlier_replica_ids(item),
        )
        if replica_id is None:
            # Never reached Tavus: its SQS message (or the DLQ redrive) will submit it.
            logger.info(
                "stale submission not found in Tavus",
                extra={"submission_id": item["submission_id"]},
            )
            continue
        adopted = deps.store.transition(
            str(item["submission_id"]),
            Status.TRAINING,
            deps.clock(),
            fields={"replica_id": replica_id, "training_progress": 0},
            remove=CLAIM_ATTRIBUTES,
            note="reconciler adopted the replica of an interrupted submission",
        )
        if adopted is not None:
            report.adopted += 1


def _reject_stale_half_pairs(deps: ReconcileDependencies, report: ReconcileReport) -> None:
    now = deps.clock()
    cutoff = iso(now - deps.settings.pair_timeout)
    hours = deps.settings.pair_timeout.total_seconds() / 3600
    for waiting, missing in (
        (Status.WAITING_FOR_CONSENT, "consent"),
        (Status.WAITING_FOR_TRAINING, "train"),
    ):
        items, _ = deps.store.query_status(
            waiting, limit=deps.settings.batch_size, newest_first=False, updated_before=cutoff
        )
        for item in items:
            present = str(item.get("training_key") or item.get("consent_key") or "")
            folder = present.rpartition("/")[0]
            reason = (
                f"the other half of the pair never arrived within {hours:g} h: upload "
                f"{folder}/{missing}.mp4 to complete the pair"
            )
            if deps.store.transition(
                str(item["submission_id"]),
                Status.REJECTED,
                deps.clock(),
                fields={"error_message": reason},
                note="pair timeout",
            ):
                report.half_pairs_rejected += 1


def _older_than(item: Item, attribute: str, now: Any, age: Any) -> bool:
    value = item.get(attribute)
    return isinstance(value, str) and parse_iso(value) < now - age

"""The reconciler: heal what callbacks missed, and close what waited too long.

Run on a schedule, one run at a time (a run holds the reconciler's item). It

- asks Get Replica about every ``training`` item, paging through the status
  index and carrying on at the next run from where a run had to stop, so no
  number of slow trainings hides the items behind them;
- marks a replica Tavus does not know ``error`` only once Tavus has not known it
  for the grace period, over two runs at least; a run that meets many unknown
  replicas at once stops changing items (Tavus is broken, not every replica gone);
- lists Tavus once, and only when a ``submitting`` item lost its invocation, to
  adopt the replica that invocation created;
- rejects half pairs older than the pair timeout;
- sends status events their writers left on items (``outbox``), however the run ended.

A transient Tavus failure about one item changes nothing. A run stops cleanly
before its deadline. Every write names the replica it is about.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from replica_pipeline.adapters.outbox import RETIRED_BY, drain_pending_events
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import (
    TavusClient,
    TavusOutOfTime,
    TavusRateLimited,
    TavusUnavailable,
)
from replica_pipeline.clock import Clock, iso, parse_iso, utc_now
from replica_pipeline.config import ReconcileSettings
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import (
    CLAIM_ATTRIBUTES,
    UNKNOWN_ATTRIBUTES,
    Item,
    earlier_replica_ids,
)
from replica_pipeline.services.adoption import earlier_replica_in
from replica_pipeline.services.tracking import apply_observation, observe_replica

logger = Logger(child=True)

# Tavus failing this many items in a row is down, not unlucky: the run stops.
MAX_FAILURES_IN_A_ROW = 5


@dataclass
class ReconcileDependencies:
    store: ReplicaStore
    tavus: Callable[[], TavusClient]
    settings: ReconcileSettings
    clock: Clock = field(default=utc_now)
    # time.monotonic() after which no item is started and no Tavus retry waits
    # (None: no limit); the handler leaves room after it for one slow request.
    deadline: float | None = None
    # How long the run may hold the reconciler's item (a crashed run lets go after it).
    run_lease_seconds: float = 300.0


@dataclass
class ReconcileReport:
    checked: int = 0
    healed: int = 0  # items whose status or progress changed
    adopted: int = 0  # submitting items whose replica was found in Tavus
    half_pairs_rejected: int = 0
    stuck_trainings: int = 0  # training for longer than the stuck threshold
    unknown: int = 0  # training replicas Tavus answered it does not know
    unknown_errors: int = 0  # ... marked error after their grace period
    unconfirmed: int = 0  # items Tavus could not tell us about this time
    tavus_suspect: bool = False  # too many unknowns at once: nothing was marked
    tavus_unavailable: bool = False
    out_of_time: bool = False  # stopped before its deadline; the next run carries on
    overlapping: bool = False  # another run held the reconciler: this one did nothing
    finished_round: bool = False  # every training item was asked about since the cursor
    table_queries: int = 0
    tavus_calls: int = 0
    events_republished: int = 0  # status events sent from item outboxes (their sender died)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _StopRun(Exception):
    """The run ends here; the cursor keeps its place for the next one."""


def reconcile(deps: ReconcileDependencies) -> ReconcileReport:
    report = ReconcileReport()
    now = deps.clock()
    run = deps.store.begin_reconcile(now, _after(now, deps.run_lease_seconds))
    if run is None:
        logger.info("another reconciler run is under way; this one does nothing")
        report.overlapping = True
        return report
    checker = _TrainingChecker(deps, report, run.training_cursor)
    try:
        _reject_stale_half_pairs(deps, report)
        checker.check_all()
        _adopt_lost_submissions(deps, report)
    except _StopRun:
        pass
    except TavusUnavailable as error:
        # Tavus is down or rate limiting us: stop here, the next run carries on.
        logger.warning(
            "Tavus unavailable; reconciliation stopped early", extra={"reason": str(error)}
        )
        report.tavus_unavailable = True
    finally:
        try:
            # Whatever stopped the run (Tavus included), events left behind are sent.
            report.events_republished = drain_pending_events(
                deps.store, deps.clock(), limit=deps.settings.batch_size, deadline=deps.deadline
            )
        finally:
            deps.store.end_reconcile(run, checker.position)
    return report


class _TrainingChecker:
    """Asks Get Replica about training items, page after page, within the run's time."""

    def __init__(
        self, deps: ReconcileDependencies, report: ReconcileReport, cursor: Item | None
    ) -> None:
        self.deps = deps
        self.report = report
        self.cursor = cursor
        # Where the next run starts: after the last item asked about (None: the oldest).
        self.position = cursor
        self.unknown: list[Item] = []
        self.failures_in_a_row = 0
        self.tavus: TavusClient | None = None

    def check_all(self) -> None:
        """Ask about every training item once, starting after the cursor."""
        seen: set[str] = set()
        try:
            for item, resume_at in self._training_items(self.cursor):
                if str(item["submission_id"]) in seen:
                    continue  # its news moved it further on in the index
                self._stop_if_out_of_time()
                self._check(item)
                seen.add(str(item["submission_id"]))
                self.position = resume_at
            self.report.finished_round = True
            self.position = None
        finally:
            self._settle_unknown()

    def _training_items(self, cursor: Item | None) -> Iterator[tuple[Item, Item]]:
        """Training items, oldest news first, from ``cursor`` round to it again.

        Each comes with the index key to resume at after it (so an interrupted
        run's cursor never skips an item).
        """
        yield from self._page(cursor, until=None)
        if cursor is not None:  # round again from the oldest, up to where this run began
            yield from self._page(None, until=_order(cursor))

    def _page(
        self, start: Item | None, until: tuple[str, str] | None
    ) -> Iterator[tuple[Item, Item]]:
        key = start
        while True:
            self.report.table_queries += 1
            items, next_key = self.deps.store.query_status(
                Status.TRAINING,
                limit=self.deps.settings.batch_size,
                newest_first=False,
                start_key=key,
            )
            for item in items:
                if until is not None and _order(item) >= until:
                    return
                yield item, _index_key(item)
            if not next_key:
                return
            key = next_key

    def _stop_if_out_of_time(self) -> None:
        deadline = self.deps.deadline
        if deadline is not None and time.monotonic() >= deadline:
            logger.info("reconciler stopping before its deadline; the next run carries on")
            self.report.out_of_time = True
            raise _StopRun

    def _check(self, item: Item) -> None:
        deps, report = self.deps, self.report
        report.checked += 1
        sid, replica_id = str(item["submission_id"]), str(item.get("replica_id", ""))
        if self.tavus is None:
            self.tavus = deps.tavus()
        report.tavus_calls += 1
        try:
            replica = self.tavus.get_replica(replica_id, deadline=deps.deadline)
        except (TavusRateLimited, TavusOutOfTime):
            raise  # waiting is the next run's job
        except TavusUnavailable as error:
            # One bad answer proves nothing about the replica: leave the item be.
            report.unconfirmed += 1
            self.failures_in_a_row += 1
            logger.warning(
                "Tavus could not tell us about a replica; unchanged",
                extra={"submission_id": sid, "replica_id": replica_id, "reason": str(error)},
            )
            if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise
            return
        self.failures_in_a_row = 0
        if replica is None:
            report.unknown += 1
            self.unknown.append(item)
            if report.unknown > deps.settings.max_unknown_per_run:
                report.tavus_suspect = True
                raise _StopRun
            return
        if item.get("unknown_since"):
            deps.store.forget_unknown(sid, replica_id)
        changed = apply_observation(
            deps.store, item, replica_id, observe_replica(replica), deps.clock(), "reconciler"
        )
        if changed is not None:
            report.healed += 1
        current = changed or item
        if current.get("status") == Status.TRAINING.value and _older_than(
            item, "created_at", deps.clock(), deps.settings.stuck_training
        ):
            report.stuck_trainings += 1

    def _settle_unknown(self) -> None:
        """Count this run's unknown replicas; error those unknown past their grace period."""
        deps, report = self.deps, self.report
        if report.tavus_suspect:
            logger.error(
                "Tavus did not know many training replicas at once; nothing was changed",
                extra={"unknown": report.unknown, "limit": deps.settings.max_unknown_per_run},
            )
            return
        for item in self.unknown:
            sid, replica_id = str(item["submission_id"]), str(item["replica_id"])
            now = deps.clock()
            noted = deps.store.note_unknown(sid, replica_id, now)
            if noted is None:
                continue  # the item moved on meanwhile
            since = parse_iso(str(noted["unknown_since"]))
            checks = int(noted.get("unknown_checks", 1))
            if checks < 2 or now - since < deps.settings.unknown_grace:
                continue
            hours = deps.settings.unknown_grace.total_seconds() / 3600
            message = (
                f"Tavus has not known replica {replica_id} since {iso(since)} "
                f"({checks} checks over at least {hours:g} h); retry to train it again"
            )
            if deps.store.transition(
                sid,
                Status.ERROR,
                now,
                fields={"error_message": message},
                note="reconciler",
                remove=UNKNOWN_ATTRIBUTES,
                expect={"replica_id": replica_id},
            ):
                report.unknown_errors += 1
                report.healed += 1


def _adopt_lost_submissions(deps: ReconcileDependencies, report: ReconcileReport) -> None:
    now = deps.clock()
    report.table_queries += 1
    items, _ = deps.store.query_status(
        Status.SUBMITTING,
        limit=deps.settings.batch_size,
        newest_first=False,
        updated_before=iso(now - deps.settings.stale_submitting),
    )
    listing: list[dict[str, Any]] | None = None
    for item in items:
        if str(item.get("lease_until", "")) > iso(now):
            continue  # a live claim: its invocation is still working
        report.checked += 1
        name = item.get("tavus_replica_name")
        if not name:
            continue
        if listing is None:  # Tavus is listed once per run, whatever the number of items
            report.tavus_calls += 1
            listing = deps.tavus().list_user_replicas(deadline=deps.deadline)
        replica_id = earlier_replica_in(
            listing,
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
            expect={"replica_id": None, "attempts": int(item.get("attempts", 0))},
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
        report.table_queries += 1
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
                expect={RETIRED_BY: None},  # a retired half is its pair's now, not late
            ):
                report.half_pairs_rejected += 1


def _index_key(item: Item) -> Item:
    """The status index's key of ``item``: where a query resumes after it."""
    return {name: item[name] for name in ("submission_id", "status", "updated_at")}


def _order(key: Item) -> tuple[str, str]:
    """Where an item (or an index key) sits in the status index."""
    return str(key["updated_at"]), str(key["submission_id"])


def _after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def _older_than(item: Item, attribute: str, now: Any, age: Any) -> bool:
    value = item.get(attribute)
    return isinstance(value, str) and parse_iso(value) < now - age

"""The ingest service: one S3 ObjectCreated record in, at most one Create Replica out.

Steps per record: classify the key, HEAD the object, validate it (name, type,
size, then the container header through ranged reads), pair separate-consent
halves, claim the submission, pre-sign, call Tavus, record the replica id.
With the deep check on, a complete submission first goes to the deep-check
queue in ``checking`` (``services.deep_check``); what passes comes back here
as a request to submit attempt 1, claimed like a retry.

Failures come in three kinds. Permanent ones (bad video, Tavus said no, the
signer key is temporary) are written on the item and the record is
acknowledged. Waits (Tavus rate limits us, another invocation holds the claim,
the invocation is out of time) raise ``Deferred``: the record is queued again
with a delay, without using up a delivery. Transient failures (Tavus down or
answering 5xx, a create whose outcome is unknown, AWS hiccups, a broken S3
read) raise, so the batch processor returns the record to the queue and,
after enough tries, to the dead-letter queue.

Exactly one Create Replica per submission: only the holder of the
submission's claim calls it, and a holder whose claim may hide an earlier
create (a holder died, or a create's outcome was unknown) first lists Tavus
completely and adopts what it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from replica_pipeline.adapters.inspection import Inspector, Location
from replica_pipeline.adapters.presigner import PresignRefused, presign_get
from replica_pipeline.adapters.store.claims import Claim, ClaimOutcome
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import (
    ReplicaRequest,
    TavusClient,
    TavusOutcomeUnknown,
    TavusOutOfTime,
    TavusRateLimited,
    TavusRejected,
    TavusUnavailable,
)
from replica_pipeline.clock import Clock, parse_iso, utc_now
from replica_pipeline.config import Settings
from replica_pipeline.rules.callback_token import callback_url
from replica_pipeline.rules.deferral import Deferred, QueuedMessage
from replica_pipeline.rules.identity import (
    Part,
    combined_submission,
    pair_submission,
    part_submission,
)
from replica_pipeline.rules.keys import ObjectCreated, Role, classify, parse_notification
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import CLAIM_ATTRIBUTES, Submission
from replica_pipeline.services.adoption import find_earlier_replica
from replica_pipeline.services.deep_check import DeepCheckRequest
from replica_pipeline.services.retry import RetryRequest, retry_request_in
from replica_pipeline.services.time_budget import RecordBudget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)


class Outcome(StrEnum):
    SUBMITTED = "submitted"
    CHECKING = "checking"  # sent to the deep check, which sends it back if it passes
    ADOPTED = "adopted"  # an earlier, interrupted attempt had reached Tavus
    DEFERRED = "deferred"  # queued again to wait (rate limited, busy, out of time)
    DUPLICATE = "duplicate"
    WAITING = "waiting"
    REJECTED = "rejected"
    FAILED = "failed"
    IGNORED = "ignored"


class SubmissionBusy(Deferred):
    """Another invocation holds a live claim on this submission; come back when it ends."""


@dataclass
class IngestDependencies:
    settings: Settings
    store: ReplicaStore
    s3: S3Client
    tavus: Callable[[], TavusClient]
    signing_client: Callable[[], Any]  # raises PresignRefused for temporary credentials
    callback_key: Callable[[], bytes]
    # Puts a message back on the ingest queue with a delay in seconds (a deferral).
    requeue: Callable[[str, int], None]
    # Sends a DeepCheckRequest to the deep-check queue; None: the deep check is off.
    deep_check: Callable[[str], None] | None = None
    clock: Clock = field(default=utc_now)
    # The monotonic time by which this record's Tavus calls must be over (None: no limit).
    deadline: float | None = None


def ingest_record(
    body: str, deps: IngestDependencies, budget: RecordBudget | None = None
) -> list[Outcome]:
    """Handle one ingest-queue record within the invocation's time ``budget``.

    A record that has to wait is queued again (``Deferred``) rather than failed,
    so waiting never uses up its deliveries, unless it has already waited
    longer than ``max_deferral``: then it fails like any other error.
    """
    message = QueuedMessage.read(body)
    try:
        if budget is None:
            return ingest_message(message.body, deps)
        if not budget.enough_for_a_record(deps.settings):
            raise Deferred("not enough time left in this invocation for one more record", 0)
        return ingest_message(message.body, replace(deps, deadline=budget.deadline))
    except Deferred as wait:
        now = deps.clock()
        if message.waited_too_long(now, deps.settings.max_deferral):
            raise
        deps.requeue(message.deferred_copy(now), wait.delay_seconds)
        logger.info(
            "record deferred",
            extra={"reason": str(wait), "delay_seconds": wait.delay_seconds},
        )
        return [Outcome.DEFERRED]


def ingest_message(body: str, deps: IngestDependencies) -> list[Outcome]:
    """Handle one ingest-queue message: an S3 event notification or a retry request."""
    request = retry_request_in(body)
    if request is not None:
        return [resubmit(request, deps)]
    return ingest_notification(body, deps)


def ingest_notification(body: str, deps: IngestDependencies) -> list[Outcome]:
    """Handle one S3 event notification."""
    return [ingest_object(created, deps) for created in parse_notification(body)]


def ingest_object(created: ObjectCreated, deps: IngestDependencies) -> Outcome:
    drop = classify(created.key, deps.settings.upload_prefix)
    if drop is None:
        logger.info("ignoring object outside the upload prefix", extra={"key": created.key})
        return Outcome.IGNORED
    part = _inspector(deps).inspect(
        created.bucket, drop, event_size=created.size, version_id=created.version_id
    )
    if part is None:
        logger.warning("object is gone before it could be read", extra={"key": created.key})
        return Outcome.IGNORED
    if drop.role is Role.COMBINED:
        if part.rejection:
            return _reject(combined_submission(part), part.rejection, deps)
        return submit(combined_submission(part), [part], deps)
    return _ingest_pair_part(part, deps)


def _ingest_pair_part(part: Part, deps: IngestDependencies) -> Outcome:
    if part.rejection:
        return _reject(part_submission(part), f"{part.drop.role} video: {part.rejection}", deps)
    sibling = _inspector(deps).find_sibling(part)
    if sibling is None or sibling.rejection:
        waiting = (
            Status.WAITING_FOR_CONSENT
            if part.drop.role is Role.TRAINING
            else Status.WAITING_FOR_TRAINING
        )
        deps.store.create(part_submission(part), waiting, deps.clock())
        # Look again after writing: if the other half landed meanwhile, its own
        # event may have missed our placeholder, so this event completes the pair.
        sibling = _inspector(deps).find_sibling(part)
        if sibling is None or sibling.rejection:
            return Outcome.WAITING
    training, consent = (part, sibling) if part.drop.role is Role.TRAINING else (sibling, part)
    pair = pair_submission(training, consent)
    outcome = submit(pair, [training, consent], deps)
    for half in (training, consent):
        deps.store.retire_waiting(
            part_submission(half).submission_id, pair.submission_id, deps.clock()
        )
    return outcome


def _inspector(deps: IngestDependencies) -> Inspector:
    return Inspector(deps.s3, deps.settings)


def submit(submission: Submission, parts: list[Part], deps: IngestDependencies) -> Outcome:
    """Claim the submission and call Create Replica once, recording the result (or, with
    the deep check on, send it to be checked first)."""
    if deps.deep_check is not None:
        return _send_to_deep_check(submission, deps.deep_check, deps)
    claim = deps.store.claim(submission, deps.clock(), deps.settings.submit_lease)
    if not _holds(claim, submission.submission_id, deps.clock()):
        return Outcome.DUPLICATE
    locations = [Location(part.bucket, part.drop.key, part.version_id) for part in parts]
    return _submit_claimed(submission, claim, locations, deps)


def _send_to_deep_check(
    submission: Submission, send: Callable[[str], None], deps: IngestDependencies
) -> Outcome:
    """Write the submission in ``checking`` and queue its deep check.

    A redelivered drop whose item is still ``checking`` is queued again: the first
    delivery may have written the item and died before sending. A second check
    costs a download; it cannot cost a second replica, since the claim on attempt 1
    is taken once whichever check passes it first.
    """
    sid = submission.submission_id
    if not deps.store.create(submission, Status.CHECKING, deps.clock()):
        current = deps.store.get(sid) or {}
        if current.get("status") != Status.CHECKING.value:
            logger.info(
                "submission already handled",
                extra={"submission_id": sid, "status": current.get("status")},
            )
            return Outcome.DUPLICATE
    send(DeepCheckRequest(sid).message())
    logger.info("sent to the deep check", extra={"submission_id": sid})
    return Outcome.CHECKING


def resubmit(request: RetryRequest, deps: IngestDependencies) -> Outcome:
    """Submit the attempt a retry started, with fresh pre-signed URLs of the same objects."""
    sid = request.submission_id
    claim = deps.store.claim_retry(sid, request.attempt, deps.clock(), deps.settings.submit_lease)
    if not _holds(claim, sid, deps.clock()):
        return Outcome.DUPLICATE
    submission = Submission.from_item(claim.item)
    locations = [
        Location(submission.bucket, key, version)
        for key, version in (
            (submission.training_key, submission.training_version),
            (submission.consent_key, submission.consent_version),
        )
        if key
    ]
    inspector = _inspector(deps)
    gone = [location.key for location in locations if not inspector.exists(location)]
    if gone:
        deps.store.transition(
            sid,
            Status.ERROR,
            deps.clock(),
            fields={
                "error_message": f"{', '.join(gone)} is no longer in the bucket; "
                "upload the video again instead of retrying"
            },
            remove=CLAIM_ATTRIBUTES,
        )
        return Outcome.FAILED
    return _submit_claimed(submission, claim, locations, deps)


def _holds(claim: Claim, sid: str, now: datetime) -> bool:
    """Whether we may call Tavus; raises SubmissionBusy while someone else may."""
    if claim.outcome is ClaimOutcome.BUSY:
        lease_left = (
            (parse_iso(claim.lease_until) - now).total_seconds() if claim.lease_until else 0
        )
        raise SubmissionBusy(f"submission {sid} is being submitted elsewhere", max(1.0, lease_left))
    if claim.outcome is ClaimOutcome.SETTLED:
        logger.info(
            "submission already handled",
            extra={"submission_id": sid, "status": claim.item.get("status")},
        )
        return False
    return True


def _submit_claimed(
    submission: Submission, claim: Claim, locations: list[Location], deps: IngestDependencies
) -> Outcome:
    """Pre-sign, look for an interrupted attempt's replica, call Create Replica, record it."""
    store, settings = deps.store, deps.settings
    sid = submission.submission_id
    try:
        urls = [
            presign_get(
                deps.signing_client(),
                location.bucket,
                location.key,
                settings.presign_lifetime,
                location.version_id,
            )
            for location in locations
        ]
    except PresignRefused as error:
        store.transition(sid, Status.ERROR, deps.clock(), fields={"error_message": str(error)})
        return Outcome.FAILED
    # Whether we know that no replica of this submission exists in Tavus.
    known_clean = not claim.must_look_first
    try:
        tavus = deps.tavus()
        if not known_clean:
            earlier = find_earlier_replica(
                tavus,
                str(submission.tavus_replica_name),
                claim.first_claimed_at,
                exclude=claim.earlier_replica_ids,
                deadline=deps.deadline,
            )
            if earlier:
                _record_replica(
                    sid, earlier, deps, note="adopted the replica of an interrupted attempt"
                )
                return Outcome.ADOPTED
            known_clean = True
        created = tavus.create_replica(
            create_replica_request(
                submission, urls, callback_url(settings.callback_base_url, sid, deps.callback_key())
            ),
            deadline=deps.deadline,
        )
    except TavusRejected as error:
        store.transition(
            sid,
            Status.ERROR,
            deps.clock(),
            fields={"error_message": f"Tavus rejected the replica: {error}"},
            remove=CLAIM_ATTRIBUTES,
        )
        return Outcome.FAILED
    except TavusOutcomeUnknown as error:
        # Tavus may have made the replica, or may still be making it: keep the claim
        # until that has settled, then whoever takes it over looks in Tavus first. A
        # failure, not a wait: a Tavus that keeps answering 5xx parks the drop in the DLQ.
        now = deps.clock()
        store.release(
            sid,
            claim.token,
            now,
            reason=f"{error}; Tavus will be checked before any new try",
            clean=False,
            hold_until=now + settings.create_settle,
        )
        raise
    except TavusUnavailable as error:
        # Proof that nothing was sent Tavus could act on, unless we still had to look.
        waits = isinstance(error, TavusRateLimited | TavusOutOfTime)
        store.release(
            sid,
            claim.token,
            deps.clock(),
            reason=f"{error}; "
            + ("waiting in the queue" if waits else "the record will be retried"),
            clean=known_clean,
        )
        if waits:
            wait = error.wait_seconds if isinstance(error, TavusRateLimited) else 0
            raise Deferred(str(error), wait) from None
        raise
    _record_replica(sid, created.replica_id, deps, note=None)
    return Outcome.SUBMITTED


def create_replica_request(
    submission: Submission, urls: list[str], callback: str
) -> ReplicaRequest:
    """What Create Replica is asked for: the training video, then the consent one if separate."""
    return ReplicaRequest(
        train_video_url=urls[0],
        name=submission.tavus_replica_name,
        callback_url=callback,
        consent_video_url=urls[1] if len(urls) > 1 else None,
        model_name=submission.model_name or None,
        properties=submission.training_properties or None,
    )


def _record_replica(sid: str, replica_id: str, deps: IngestDependencies, note: str | None) -> None:
    recorded = deps.store.transition(
        sid,
        Status.TRAINING,
        deps.clock(),
        fields={"replica_id": replica_id, "training_progress": 0},
        remove=CLAIM_ATTRIBUTES,
        note=note,
        # A callback may have recorded the replica first (it came before this write).
        expect={"replica_id": None},
    )
    if recorded is None:
        logger.warning(
            "replica created but the item had already moved on",
            extra={"submission_id": sid, "replica_id": replica_id},
        )


def _reject(submission: Submission, reason: str, deps: IngestDependencies) -> Outcome:
    created = deps.store.create(submission, Status.REJECTED, deps.clock(), error_message=reason)
    logger.info(
        "drop rejected",
        extra={"submission_id": submission.submission_id, "reason": reason, "new": created},
    )
    return Outcome.REJECTED if created else Outcome.DUPLICATE

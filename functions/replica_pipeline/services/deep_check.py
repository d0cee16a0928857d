"""The deep check: the pre-flight of ``replicas check``, run in AWS before Create Replica.

With the ``deep_check`` setting on, ingest writes a complete submission in
``checking`` and queues a ``DeepCheckRequest``. This service reads the
submission's video(s) once from S3 into a scratch folder, runs
``preflight.check_submission`` with the pipeline's own limits, and then either
rejects the item with the failures' reasons, or moves it to ``submitting``
(attempt 1, unclaimed) with its warnings and queues a ``RetryRequest`` for that
attempt, which ingest claims exactly once, as it claims a retry's attempt.

Only this module's ``check_item`` needs PyAV, numpy and OpenCV (the deep-check
function's own bundle); ingest imports the module for ``DeepCheckRequest`` alone,
so the preflight is imported where it runs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from replica_pipeline.adapters.inspection import is_missing
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.clock import Clock, iso, utc_now
from replica_pipeline.config import Settings
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item, Submission
from replica_pipeline.services.retry import RetryRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from replica_pipeline.preflight.report import VideoReport

logger = Logger(child=True)

# The key of the deep-check queue's message (the queue carries nothing else).
MESSAGE_KEY = "replica_pipeline_deep_check"
# The attempt a checked submission is submitted as: the first, since nothing reached Tavus.
FIRST_ATTEMPT = 1


@dataclass(frozen=True)
class DeepCheckRequest:
    """Check the video(s) of ``submission_id``, which ingest left in ``checking``."""

    submission_id: str

    def message(self) -> str:
        return json.dumps({MESSAGE_KEY: {"submission_id": self.submission_id}})


def deep_check_request_in(body: str) -> DeepCheckRequest:
    """The request a deep-check message carries; ValueError (the message goes on to the
    dead-letter queue, where it can be read) for anything else."""
    try:
        document: Any = json.loads(body)
    except ValueError:
        raise ValueError(f"not a deep-check request: {body[:200]!r}") from None
    request = document.get(MESSAGE_KEY) if isinstance(document, dict) else None
    submission_id = request.get("submission_id") if isinstance(request, dict) else None
    if not isinstance(submission_id, str) or not submission_id:
        raise ValueError(f"not a deep-check request: {body[:200]!r}")
    return DeepCheckRequest(submission_id)


class VideoGone(Exception):
    """A video of the submission was deleted before it could be checked."""


class CheckOutcome(StrEnum):
    PASSED = "passed"  # now submitting: queued back to ingest
    REJECTED = "rejected"  # failed a requirement: the item says which
    GONE = "gone"  # a video was deleted before its check: error, upload it again
    RESENT = "resent"  # passed earlier, but its message to ingest may not have left
    DONE = "done"  # no longer checking (checked already, or gone)


@dataclass
class DeepCheckDependencies:
    settings: Settings
    store: ReplicaStore
    s3: S3Client
    # Sends a message to the ingest queue.
    send_to_ingest: Callable[[str], None]
    # Where the videos are downloaded (Lambda's /tmp; a test's tmp_path).
    scratch: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    clock: Clock = field(default=utc_now)


def deep_check(body: str, deps: DeepCheckDependencies) -> CheckOutcome:
    """Check the submission a deep-check message names, once it is still ``checking``."""
    sid = deep_check_request_in(body).submission_id
    item = deps.store.get(sid)
    if item is None:
        logger.warning("submission to check is gone", extra={"submission_id": sid})
        return CheckOutcome.DONE
    if _passed_but_unclaimed(item):
        deps.send_to_ingest(RetryRequest(sid, FIRST_ATTEMPT).message())
        return CheckOutcome.RESENT
    if item.get("status") != Status.CHECKING.value:
        logger.info(
            "submission already checked",
            extra={"submission_id": sid, "status": item.get("status")},
        )
        return CheckOutcome.DONE
    submission = Submission.from_item(item)
    try:
        reports, unreadable = check_item(submission, deps)
    except VideoGone as gone:
        deps.store.transition(
            sid,
            Status.ERROR,
            deps.clock(),
            fields={"error_message": f"{gone} is no longer in the bucket; upload it again"},
            note="deep check: a video is gone",
        )
        return CheckOutcome.GONE
    return _record(submission, reports, unreadable, deps)


def check_item(
    submission: Submission, deps: DeepCheckDependencies
) -> tuple[list[VideoReport], str | None]:
    """Download the submission's video(s) and check them: the reports, or why a file could
    not be checked at all (not a readable video)."""
    from replica_pipeline.preflight.check import check_submission
    from replica_pipeline.preflight.report import PreflightError, PreflightLimits

    limits = PreflightLimits(video=deps.settings.limits.for_model(submission.model_name))
    with tempfile.TemporaryDirectory(dir=deps.scratch, prefix="deep-check-") as folder:
        training, consent = (
            _download(deps.s3, submission.bucket, key, version, Path(folder) / role)
            if key
            else None
            for role, key, version in (
                ("training", submission.training_key, submission.training_version),
                ("consent", submission.consent_key, submission.consent_version),
            )
        )
        if training is None:
            return [], "the submission names no training video"
        try:
            return check_submission(training, consent, limits), None
        except PreflightError as error:
            return [], str(error)


def _download(s3: S3Client, bucket: str, key: str, version: str | None, folder: Path) -> Path:
    """One GET of the object (the version that was dropped) into ``folder``, keeping its
    name: the check reads the container from the file's extension."""
    folder.mkdir()
    path = folder / PurePosixPath(key).name
    try:
        s3.download_file(
            bucket, key, str(path), ExtraArgs={"VersionId": version} if version else None
        )
    except ClientError as error:
        if is_missing(error):
            raise VideoGone(key) from None
        raise
    return path


def _record(
    submission: Submission,
    reports: list[VideoReport],
    unreadable: str | None,
    deps: DeepCheckDependencies,
) -> CheckOutcome:
    sid = submission.submission_id
    now = deps.clock()
    findings = stored_findings(reports)
    failures = [finding for finding in findings if finding["verdict"] == "fail"]
    if unreadable or failures:
        reason = unreadable or "; ".join(
            f"{finding['video']} video: {finding['detail']}" for finding in failures
        )
        deps.store.transition(
            sid,
            Status.REJECTED,
            now,
            fields={
                "error_message": f"the deep check failed it: {reason}",
                "check_findings": findings,
                "checked_at": iso(now),
            },
            note="deep check failed",
        )
        logger.info("deep check failed", extra={"submission_id": sid, "reason": reason})
        return CheckOutcome.REJECTED
    warnings = len(findings)
    passed = deps.store.transition(
        sid,
        Status.SUBMITTING,
        now,
        fields={
            "check_findings": findings,
            "checked_at": iso(now),
            "attempts": FIRST_ATTEMPT,
            "first_claimed_at": iso(now),
            # Nothing reached Tavus: ingest may create at once, without listing Tavus first.
            "released_clean": True,
        },
        note="deep check passed" + (f" with {warnings} warning(s)" if warnings else ""),
        expect={"status": Status.CHECKING.value},
    )
    if passed is None:
        logger.info("submission moved on during its check", extra={"submission_id": sid})
        return CheckOutcome.DONE
    deps.send_to_ingest(RetryRequest(sid, FIRST_ATTEMPT).message())
    logger.info("deep check passed", extra={"submission_id": sid, "warnings": warnings})
    return CheckOutcome.PASSED


def stored_findings(reports: list[VideoReport]) -> list[Item]:
    """The warnings and failures of the reports, as the item keeps them (DynamoDB: no floats)."""
    return [
        {
            "video": report.role,
            "check": finding.check,
            "verdict": finding.verdict,
            "value": finding.value,
            "detail": finding.detail,
            "at_seconds": [Decimal(str(round(second, 1))) for second in finding.at_seconds],
            **({"prevents": finding.prevents} if finding.prevents else {}),
        }
        for report in reports
        for finding in report.findings
        if finding.verdict != "pass"
    ]


def _passed_but_unclaimed(item: Item) -> bool:
    """Passed the check and moved to submitting, but no ingest worker has claimed it yet."""
    return (
        item.get("status") == Status.SUBMITTING.value
        and "checked_at" in item
        and int(item.get("attempts", 0)) == FIRST_ATTEMPT
        and "claim_token" not in item
        and "replica_id" not in item
    )

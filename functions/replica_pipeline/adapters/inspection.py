"""What an upload is, read from S3: its HEAD, its container header, the other half of a pair.

The ingest service decides what to do with a drop; this module only looks, and
answers with a ``Part`` (``rules.identity``).
Validation rules live in ``validation`` and ``media_probe``; a broken read of
the header raises (``HeaderUnreadable``) rather than rejecting the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from replica_pipeline.adapters.media_probe import RangedReader, container_rejection
from replica_pipeline.config import Settings, ValidationLimits
from replica_pipeline.rules.identity import Part
from replica_pipeline.rules.keys import (
    META_MODEL_NAME,
    Drop,
    Role,
    classify,
    metadata_text,
    pair_folder,
)
from replica_pipeline.rules.training_options import training_options
from replica_pipeline.rules.validation import ObjectFacts, check_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

logger = Logger(child=True)


@dataclass(frozen=True)
class Location:
    """One object version to pre-sign."""

    bucket: str
    key: str
    version_id: str | None


@dataclass(frozen=True)
class Inspector:
    s3: S3Client
    settings: Settings

    def inspect(
        self,
        bucket: str,
        drop: Drop,
        *,
        event_size: int | None = None,
        version_id: str | None = None,
    ) -> Part | None:
        """HEAD the object and validate it; None when it no longer exists."""
        head = self._head(bucket, drop.key, version_id)
        if head is None:
            return None
        # The event's size is S3's own figure for this upload; HEAD may describe a newer one.
        size = event_size if event_size is not None else int(head.get("ContentLength", 0))
        version = head.get("VersionId") or version_id
        facts = ObjectFacts(
            key=drop.key,
            extension=drop.extension,
            size=size,
            content_type=str(head.get("ContentType", "")),
        )
        metadata = {
            key.lower(): metadata_text(value) for key, value in head.get("Metadata", {}).items()
        }
        limits = self.settings.limits
        if drop.role is Role.CONSENT:
            limits = limits.for_consent_video()
        else:  # the floor follows the model the drop asks Tavus to train
            limits = limits.for_model(metadata.get(META_MODEL_NAME))
        rejection = check_object(facts, limits) or training_options(metadata).rejection
        if rejection is None:
            rejection = self._check_header(bucket, drop.key, version, size, limits)
        return Part(
            drop=drop,
            bucket=bucket,
            version_id=version,
            etag=str(head.get("ETag", "")).strip('"'),
            metadata=metadata,
            rejection=rejection,
        )

    def find_sibling(self, part: Part) -> Part | None:
        """The other half of a pair, inspected, or None when it has not arrived."""
        # The whole folder, not a "consent." prefix: S3 keys are case-sensitive but the
        # convention is not, so Consent.mp4 and CONSENT.MP4 are halves too.
        prefix = self.settings.upload_prefix
        paginator = self.s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=part.bucket, Prefix=pair_folder(part.drop, prefix), Delimiter="/"
        )
        candidates = []
        for entry in (entry for page in pages for entry in page.get("Contents", [])):
            drop = classify(entry["Key"], prefix)
            if drop and drop.name == part.drop.name and drop.role is not part.drop.role:
                candidates.append((entry["LastModified"], drop))
        if not candidates:
            return None
        _, newest = max(candidates, key=lambda candidate: candidate[0])
        return self.inspect(part.bucket, newest)

    def exists(self, location: Location) -> bool:
        return self._head(location.bucket, location.key, location.version_id) is not None

    def _check_header(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        size: int,
        limits: ValidationLimits,
    ) -> str | None:
        def fetch(first: int, last: int) -> bytes:
            args: dict[str, str] = {
                "Bucket": bucket,
                "Key": key,
                "Range": f"bytes={first}-{last}",
            }
            if version_id and version_id != "null":
                args["VersionId"] = version_id
            return self.s3.get_object(**args)["Body"].read()  # type: ignore[arg-type]

        reader = RangedReader(size, fetch, budget=limits.probe_max_bytes)
        reason = container_rejection(reader, key, limits)
        logger.debug(
            "read the container header",
            extra={"key": key, "bytes_read": reader.bytes_fetched, "requests": reader.requests},
        )
        return reason

    def _head(
        self, bucket: str, key: str, version_id: str | None
    ) -> HeadObjectOutputTypeDef | None:
        """HeadObject of the object (that version, when named); None when it no longer exists."""
        args: dict[str, str] = {"Bucket": bucket, "Key": key}
        if version_id:  # "null" too: S3's name for the version made before versioning
            args["VersionId"] = version_id
        try:
            return self.s3.head_object(**args)  # type: ignore[arg-type]
        except ClientError as error:
            if is_missing(error):
                return None
            raise


def is_missing(error: ClientError) -> bool:
    """Whether S3 answered that the object (or the version asked for) does not exist."""
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion")

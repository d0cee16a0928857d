"""Which submission a drop makes: its id, and the ``Submission`` the ingest path writes.

A submission's id is a digest of what identifies its content (bucket, name,
role, ETag), so the same upload delivered twice, or uploaded twice, is one
submission; the CLI computes the same id right after uploading. Its Tavus
replica name carries the id's first characters, so a retry can find in Tavus
what an interrupted attempt created (``services.adoption``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from replica_pipeline.rules.keys import (
    META_CALLBACK_TAG,
    META_MODEL_NAME,
    META_REPLICA_NAME,
    Drop,
    Role,
)
from replica_pipeline.rules.submission import Submission, SubmissionKind
from replica_pipeline.rules.training_options import training_options


@dataclass(frozen=True)
class Part:
    """One uploaded object, inspected: where it is, what it is, and whether it passed."""

    drop: Drop
    bucket: str
    version_id: str | None
    etag: str
    metadata: dict[str, str]
    rejection: str | None

    @property
    def identity(self) -> str:
        """What distinguishes this content from other content under the same key.

        The ETag, not the version id: uploading the same file twice makes a new
        version but is still the same drop, and must not make a second replica.
        (The pre-signed URL still pins the exact version.)
        """
        return self.etag


def submission_id(*identifying: str) -> str:
    return hashlib.sha256("\x1f".join(identifying).encode("utf-8")).hexdigest()[:24]


def combined_submission_id(bucket: str, name: str, etag: str) -> str:
    """The id of a single-video drop (the CLI prints it right after uploading)."""
    return submission_id(bucket, name, Role.COMBINED, etag.strip('"'))


def pair_submission_id(bucket: str, name: str, training_etag: str, consent_etag: str) -> str:
    return submission_id(bucket, name, "pair", training_etag.strip('"'), consent_etag.strip('"'))


def combined_submission(part: Part) -> Submission:
    sid = combined_submission_id(part.bucket, part.drop.name, part.identity)
    return _submission(sid, SubmissionKind.COMBINED, training=part, consent=None)


def pair_submission(training: Part, consent: Part) -> Submission:
    sid = pair_submission_id(
        training.bucket, training.drop.name, training.identity, consent.identity
    )
    return _submission(sid, SubmissionKind.PAIR, training=training, consent=consent)


def part_submission(part: Part) -> Submission:
    """The placeholder (waiting) or rejection item of one half of a pair."""
    sid = submission_id(part.bucket, part.drop.name, part.drop.role, part.identity)
    is_training = part.drop.role is Role.TRAINING
    return _submission(
        sid,
        SubmissionKind.PART,
        training=part if is_training else None,
        consent=None if is_training else part,
    )


def _submission(
    sid: str, kind: SubmissionKind, *, training: Part | None, consent: Part | None
) -> Submission:
    parts = [part for part in (training, consent) if part is not None]
    replica_name, model_name, callback_tag = _options(parts)
    name = replica_name or parts[0].drop.default_replica_name
    return Submission(
        submission_id=sid,
        kind=kind,
        bucket=parts[0].bucket,
        name=parts[0].drop.name,
        replica_name=name,
        model_name=model_name,
        callback_tag=callback_tag,
        # Unique per submission, so a retry can find what an interrupted attempt created.
        tavus_replica_name=f"{name} [{sid[:8]}]",
        training_properties=_properties(parts),
        training_key=training.drop.key if training else None,
        training_version=training.version_id if training else None,
        consent_key=consent.drop.key if consent else None,
        consent_version=consent.version_id if consent else None,
    )


def _options(parts: list[Part]) -> tuple[str | None, str | None, str | None]:
    """replica-name, model-name and callback-tag metadata, the training half first."""

    def first(name: str) -> str | None:
        return next(
            (p.metadata[name].strip() for p in parts if p.metadata.get(name, "").strip()), None
        )

    return first(META_REPLICA_NAME), first(META_MODEL_NAME), first(META_CALLBACK_TAG)


def _properties(parts: list[Part]) -> dict[str, bool]:
    """Tavus's training options from the parts' metadata, the training half's first."""
    properties: dict[str, bool] = {}
    for part in reversed(parts):
        properties.update(training_options(part.metadata).properties)
    return properties

"""What a submission is: the drop a person made, as one item of the replicas table.

Pure data: the ``Submission`` the ingest path writes, the item it becomes (a
plain dict, as DynamoDB gives it back) and the names of the attributes an item
gains on its way (a claim, an attempt, a grace period). The store writes them;
the services read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from replica_pipeline.contracts.table_schema import PARTITION_KEY

# One submission as stored: attribute name → value.
Item = dict[str, Any]

# The claim on a submission: gone once the submission has left ``submitting``.
CLAIM_ATTRIBUTES = ("lease_until", "claim_token", "last_error", "claim_clean", "released_clean")

# How long Tavus has not known the item's replica (the reconciler's grace period).
UNKNOWN_ATTRIBUTES = ("unknown_since", "unknown_checks")

# Attributes of one attempt that must not leak into the next: a late callback
# of the failed replica must find no item, and the new attempt starts clean.
ATTEMPT_ATTRIBUTES = (
    # the new attempt is unclaimed until the ingest worker claims it
    *CLAIM_ATTRIBUTES,
    *UNKNOWN_ATTRIBUTES,
    "replica_id",
    "error_message",
    "training_progress",
    "thumbnail_video_url",
)


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


def earlier_replica_ids(item: Item) -> list[str]:
    """The replicas of a submission's earlier, failed attempts (never to be adopted)."""
    return [str(replica_id) for replica_id in item.get("previous_replica_ids", [])]

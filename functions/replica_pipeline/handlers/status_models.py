"""The status API's request and response models: the OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from replica_pipeline.rules.states import Status


class HistoryEntry(BaseModel):
    at: str
    status: Status | None = None
    note: str | None = None


class CheckFinding(BaseModel):
    """A warning or failure of the deep check (the ``deep_check`` setting), as `replicas
    check` reports it."""

    video: str = Field(description="combined, training or consent")
    check: str = Field(description="which requirement, e.g. second_face, lighting")
    verdict: str = Field(description="warn or fail")
    value: str = Field(description="the number behind the verdict")
    detail: str
    at_seconds: list[float] = Field(
        default=[], description="seconds into the video where it shows (the first few)"
    )
    prevents: str | None = Field(
        default=None, description="the Tavus training error kind it heads off, if any"
    )


class Replica(BaseModel):
    """One submission: a drop on its way to (or done as) a Tavus replica."""

    submission_id: str
    status: Status
    kind: str = Field(description="combined, pair, or part (half of a pair)")
    name: str = Field(description="the drop's name from its S3 key")
    replica_name: str
    replica_id: str | None = Field(default=None, description="Tavus's id, once submitted")
    training_progress: int | None = Field(default=None, ge=0, le=100)
    error_message: str | None = None
    error_kind: str | None = Field(
        default=None,
        description=(
            "for an error Tavus reported, its kind as Tavus's training errors table names "
            "it (e.g. video_duration, consent_mismatch); null when not recognised"
        ),
    )
    error_hint: str | None = Field(
        default=None, description="what to do about that error, in one sentence"
    )
    last_error: str | None = Field(
        default=None, description="why a submitting item is waiting to be retried"
    )
    model_name: str | None = None
    callback_tag: str | None = None
    tavus_replica_name: str | None = None
    bucket: str
    training_key: str | None = None
    consent_key: str | None = None
    training_version: str | None = None
    consent_version: str | None = None
    created_at: str
    updated_at: str
    attempts: int = Field(default=0, description="attempts so far; a retry starts the next")
    thumbnail_video_url: str | None = Field(
        default=None, description="Tavus's preview of the finished replica"
    )
    previous_replica_ids: list[str] = Field(
        default=[], description="Tavus replicas of earlier attempts that failed"
    )
    checked_at: str | None = Field(
        default=None, description="when the deep check looked at the video (if it is on)"
    )
    check_findings: list[CheckFinding] = Field(
        default=[],
        description="the deep check's warnings (kept; the replica is still made) and failures "
        "(the reason for a rejection)",
    )
    history: list[HistoryEntry] = []


class RetryBody(BaseModel):
    attempt: int | None = Field(
        default=None,
        ge=0,
        description=(
            "the attempt being retried: the item's `attempts` as you saw it. Sending it "
            "makes the request idempotent: a repeat answers 202 again and starts nothing."
        ),
    )

    @field_validator("attempt", mode="before")
    @classmethod
    def not_a_boolean(cls, value: Any) -> Any:
        # JSON Schema's integer admits 2.0, so lax parsing stays; but `true` is not attempt 1.
        if isinstance(value, bool):
            raise ValueError("must be an integer, not true or false")
        return value


class ReplicaPage(BaseModel):
    items: list[Replica]
    next: str | None = Field(default=None, description="pass as ?next= for the following page")


class ErrorBody(BaseModel):
    error: str

"""What Tavus tells us about a replica, in our states, and how it is applied.

Callbacks and Get Replica speak different words (``ready`` vs ``completed``);
both are read into an ``Observation`` and applied through the store's
conditional transitions, so replays, duplicates and out-of-order news change
nothing they should not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.rules.states import Status, is_terminal
from replica_pipeline.rules.submission import CLAIM_ATTRIBUTES, UNKNOWN_ATTRIBUTES, Item

COMPLETED_WORDS = frozenset({"ready", "completed", "complete", "succeeded", "success"})
ERROR_WORDS = frozenset({"error", "failed", "failure"})
TRAINING_WORDS = frozenset({"started", "training", "in_progress", "processing", "queued"})
DEFAULT_ERROR = "Tavus reported an error without a message"


@dataclass(frozen=True)
class Observation:
    """Tavus's news about one replica, in our vocabulary."""

    word: str  # what Tavus said, verbatim (kept in history when we do not understand it)
    status: Status | None  # completed, error or training; None when the word is unknown
    progress: int | None = None
    error_message: str | None = None
    thumbnail_video_url: str | None = None  # Get Replica's, once the replica is ready

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and is_terminal(self.status)


def parse_progress(value: Any) -> int | None:
    """``"40/100"``, ``"40%"``, ``40`` or ``0.4``-free integers → 40; anything else → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)|%)?\s*", value)
        if not match:
            return None
        number = float(match.group(1))
        if match.group(2):
            total = float(match.group(2))
            if total <= 0:
                return None
            number = number * 100 / total
    else:
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    return int(min(number, 100))


def observe(status_word: Any, progress: Any, error_message: Any) -> Observation:
    """Read Tavus's words (from a callback or Get Replica) into an Observation."""
    word = str(status_word).strip().lower() if status_word is not None else ""
    parsed_progress = parse_progress(progress)
    if word in COMPLETED_WORDS:
        return Observation(word, Status.COMPLETED, progress=100)
    if word in ERROR_WORDS:
        message = str(error_message).strip() if error_message else ""
        return Observation(word, Status.ERROR, error_message=message or DEFAULT_ERROR)
    if word in TRAINING_WORDS or (not word and parsed_progress is not None):
        return Observation(word or "progress", Status.TRAINING, progress=parsed_progress)
    if parsed_progress is not None:  # an unknown word that still carries progress
        return Observation(word, Status.TRAINING, progress=parsed_progress)
    return Observation(word, None)


def observe_replica(replica: dict[str, Any]) -> Observation:
    """Get Replica's answer as an Observation (the authoritative read)."""
    observation = observe(
        replica.get("status"), replica.get("training_progress"), replica.get("error_message")
    )
    thumbnail = replica.get("thumbnail_video_url")
    if observation.status is Status.COMPLETED and isinstance(thumbnail, str) and thumbnail:
        return replace(observation, thumbnail_video_url=thumbnail)
    return observation


def apply_observation(
    store: ReplicaStore,
    item: Item,
    replica_id: str,
    observation: Observation,
    now: datetime,
    source: str,
) -> Item | None:
    """Apply news about ``replica_id``; the updated item, or None when nothing changed.

    The news changes the item only while the item's replica is ``replica_id``
    (checked in the write itself), so news about an earlier attempt's replica
    never touches a newer one. A ``submitting`` item without a replica yet takes
    the replica the news names: Tavus called back before the ingest had written
    what Create Replica answered. Callers rule out earlier attempts' replicas.
    """
    sid = str(item["submission_id"])
    if observation.status is None:
        store.note(sid, f"{source}: unknown status {observation.word!r} ignored", now)
        return None
    adopting = not item.get("replica_id")
    if adopting and item.get("status") != Status.SUBMITTING.value:
        return None
    fields: Item = {"replica_id": replica_id} if adopting else {}
    change = _Change(store, sid, now, source, replica_id, adopting)
    if observation.status is Status.COMPLETED:
        fields["training_progress"] = 100
        if observation.thumbnail_video_url:
            fields["thumbnail_video_url"] = observation.thumbnail_video_url
        return change.to(Status.COMPLETED, fields)
    if observation.status is Status.ERROR:
        fields["error_message"] = observation.error_message or DEFAULT_ERROR
        return change.to(Status.ERROR, fields)
    if adopting:
        fields["training_progress"] = observation.progress or 0
        return change.to(Status.TRAINING, fields)
    known = item.get("training_progress")
    if observation.progress is None or (known is not None and int(known) >= observation.progress):
        return None  # nothing new: a conditional write that fails is still paid for
    return store.record_progress(sid, replica_id, observation.progress, now)


@dataclass(frozen=True)
class _Change:
    """One status change driven by news about ``replica_id``."""

    store: ReplicaStore
    submission_id: str
    now: datetime
    source: str
    replica_id: str
    adopting: bool

    def to(self, status: Status, fields: Item) -> Item | None:
        note = self.source
        if self.adopting:
            note += (
                f" adopted replica {self.replica_id}: Tavus's news of it came before "
                "its creation was recorded"
            )
        return self.store.transition(
            self.submission_id,
            status,
            self.now,
            fields=fields,
            note=note,
            remove=(*UNKNOWN_ATTRIBUTES, *(CLAIM_ATTRIBUTES if self.adopting else ())),
            expect={"replica_id": None if self.adopting else self.replica_id},
        )

"""The submission state machine: which status may follow which.

Terminal states never change on their own: no callback, reconciler run or
redelivered event moves them. The store turns these rules into DynamoDB
condition expressions, so a late or duplicate write cannot move an item back.
The one way out of a terminal state is a person asking for a retry of an
``error`` item (``RETRYABLE``), which the store handles apart from these rules.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    WAITING_FOR_CONSENT = "waiting_for_consent"
    WAITING_FOR_TRAINING = "waiting_for_training"
    # The deep check (the deep_check setting) is looking at the video before Create Replica.
    CHECKING = "checking"
    SUBMITTING = "submitting"
    TRAINING = "training"
    COMPLETED = "completed"
    ERROR = "error"
    REJECTED = "rejected"


TERMINAL: frozenset[Status] = frozenset({Status.COMPLETED, Status.ERROR, Status.REJECTED})

# Self-transitions are listed where they mean something: a training item takes
# progress updates, and a submitting item may be taken over once its lease ends.
_NEXT: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.SUBMITTING, Status.REJECTED, Status.ERROR}),
    Status.WAITING_FOR_CONSENT: frozenset({Status.SUBMITTING, Status.REJECTED}),
    Status.WAITING_FOR_TRAINING: frozenset({Status.SUBMITTING, Status.REJECTED}),
    # Passed: ingest submits it; failed a requirement: rejected; unreadable: error.
    Status.CHECKING: frozenset({Status.SUBMITTING, Status.REJECTED, Status.ERROR}),
    Status.SUBMITTING: frozenset(
        {Status.SUBMITTING, Status.TRAINING, Status.COMPLETED, Status.ERROR}
    ),
    Status.TRAINING: frozenset({Status.TRAINING, Status.COMPLETED, Status.ERROR}),
    Status.COMPLETED: frozenset(),
    Status.ERROR: frozenset(),
    Status.REJECTED: frozenset(),
}

# Where a brand-new item may start.
INITIAL: frozenset[Status] = frozenset(
    {
        Status.RECEIVED,
        Status.WAITING_FOR_CONSENT,
        Status.WAITING_FOR_TRAINING,
        Status.CHECKING,
        Status.SUBMITTING,
        Status.REJECTED,
        Status.ERROR,
    }
)


# What a person may retry: Tavus failed it, so the same video may yet succeed.
# ``rejected`` is not here: its video failed a requirement and must change first.
RETRYABLE: frozenset[Status] = frozenset({Status.ERROR})


def can_transition(current: Status, new: Status) -> bool:
    return new in _NEXT[current]


def sources_of(new: Status) -> frozenset[Status]:
    """Every status from which ``new`` may be reached (for condition expressions)."""
    return frozenset(status for status, nexts in _NEXT.items() if new in nexts)


def is_terminal(status: Status) -> bool:
    return status in TERMINAL

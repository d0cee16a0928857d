"""How the ingest keeps to its function's timeout, and the sums that make it possible.

A timed-out invocation returns its whole batch to the queue, and each record
loses a delivery. So a record is started only when the invocation has time left
for the slowest record (AWS calls plus one Tavus request at its slowest), and
every Tavus call is given a deadline that ends before the function does.
Records left unstarted are deferred (queued again), not failed.

The durations must nest: the claim's lease outlives the function (or a live
holder could lose its claim), and the function outlives the slowest Tavus call
with its retries. ``problems`` checks that, for the CDK stack's settings and
for the local stack's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from replica_pipeline.config import Settings

# HEAD, a few ranged GETs, the DynamoDB writes and the pre-signing of one record.
AWS_ALLOWANCE_SECONDS = 15.0
# Left unused at the end of an invocation: logging, metrics and the batch response.
SAFETY_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class RecordBudget:
    """The time one invocation has left, as seen when a record starts."""

    time_left_seconds: float
    started: float  # time.monotonic() when time_left_seconds was read

    @classmethod
    def now(cls, time_left_seconds: float) -> RecordBudget:
        return cls(time_left_seconds, time.monotonic())

    @property
    def deadline(self) -> float:
        """The monotonic time by which every Tavus call of this record must be over."""
        return self.started + self.time_left_seconds - SAFETY_MARGIN_SECONDS

    def enough_for_a_record(self, settings: Settings) -> bool:
        needed = AWS_ALLOWANCE_SECONDS + settings.tavus.slowest_attempt_seconds
        return self.deadline - time.monotonic() >= needed


def problems(settings: Settings, function_timeout_seconds: float) -> list[str]:
    """What is wrong with these durations; empty when lease > function > slowest call."""
    found = []
    lease = settings.submit_lease.total_seconds()
    if lease <= function_timeout_seconds:
        found.append(
            f"the submit lease ({lease:g} s) must outlive the ingest function's timeout "
            f"({function_timeout_seconds:g} s), or a live invocation could lose its claim"
        )
    slowest_record = (
        settings.tavus.slowest_call_seconds + AWS_ALLOWANCE_SECONDS + SAFETY_MARGIN_SECONDS
    )
    if function_timeout_seconds <= slowest_record:
        found.append(
            f"the ingest function's timeout ({function_timeout_seconds:g} s) must exceed one "
            f"record with the slowest Tavus call and every retry ({slowest_record:g} s)"
        )
    return found

"""Names and helpers shared by the handlers' telemetry and the stack's alarms and dashboard."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

METRICS_NAMESPACE = "ReplicaPipeline"

# Every metric the handlers emit; the stack's alarms and dashboard read some of them.
# Ingest: one per message, one per record that went back to the queue.
INGEST_MESSAGES = "IngestMessages"
INGEST_RECORD_FAILED = "IngestRecordFailed"
DEEP_CHECK_FAILED = "DeepCheckRecordFailed"
CALLBACKS_APPLIED = "CallbacksApplied"
CALLBACKS_UNCHANGED = "CallbacksUnchanged"
# Reconciler, emitted every run (zeros included, so alarms have data).
STUCK_TRAININGS = "StuckTrainings"
RECONCILE_HEALED = "ReconcileHealed"
RECONCILE_ADOPTED = "ReconcileAdopted"
HALF_PAIRS_REJECTED = "HalfPairsRejected"
RECONCILE_UNKNOWN_REPLICAS = "ReconcileUnknownReplicas"
# 1 when a reconciler run met too many unknown replicas to believe Tavus.
TAVUS_SUSPECT = "TavusForgotReplicas"
RECONCILE_OUT_OF_TIME = "ReconcileOutOfTime"
STATUS_EVENTS_REPUBLISHED = "StatusEventsRepublished"


def deep_checks_metric(outcome: str) -> str:
    """The count of deep checks that ended with ``outcome`` (a ``CheckOutcome``'s value)."""
    return f"DeepChecks{outcome.title()}"


def drops_metric(outcome: str) -> str:
    """The count of drops that ended with ``outcome`` (an ingest ``Outcome``'s value)."""
    return f"Drops{outcome.title()}"


def callbacks_refused_metric(status_code: int) -> str:
    """The count of callbacks refused with HTTP ``status_code``."""
    return f"CallbacksRefused{status_code}"


DROPS_SUBMITTED = drops_metric("submitted")
DROPS_REJECTED = drops_metric("rejected")

Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """``Tracer.capture_lambda_handler``, with the Tracer built on the first invocation.

    Building a Powertools Tracer loads the X-Ray SDK (~100 ms here), so doing it
    at import would make every cold start pay for it before the first event.
    """

    @wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        return _capture(handler)(event, context)

    return wrapper  # type: ignore[return-value]


@cache
def _capture(handler: Callable[..., Any]) -> Callable[..., Any]:
    from aws_lambda_powertools import Tracer

    captured: Callable[..., Any] = Tracer(auto_patch=False).capture_lambda_handler(handler)
    return captured

"""Names and helpers shared by the handlers' telemetry and the stack's alarms and dashboard."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

METRICS_NAMESPACE = "ReplicaPipeline"

# Metric names the stack's alarms and dashboard read (the handlers emit them).
DROPS_SUBMITTED = "DropsSubmitted"
DROPS_REJECTED = "DropsRejected"
CALLBACKS_APPLIED = "CallbacksApplied"
STUCK_TRAININGS = "StuckTrainings"
# 1 when a reconciler run met too many unknown replicas to believe Tavus.
TAVUS_SUSPECT = "TavusForgotReplicas"

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

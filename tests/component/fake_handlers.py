"""A handler for the local runtime's tests: it sleeps, answers or raises as each event asks.

It answers with what a test needs to see where and when it ran: its container's
process id, when that container imported it, when the event started and ended (wall
clock, comparable across processes), how many events it ever ran at once, and the
remaining time its context reported. An SQS event (``Records``) gets a partial batch
response: records whose body says ``fail`` fail, and one whose body says ``crash``
fails the whole invocation.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from replica_pipeline_local.stack.lambda_context import LocalLambdaContext

IMPORTED_AT = time.time()
_lock = threading.Lock()
_running = 0
_most_running = 0


def handler(event: dict[str, Any], context: LocalLambdaContext) -> dict[str, Any]:
    global _running, _most_running
    with _lock:
        _running += 1
        _most_running = max(_most_running, _running)
    started = time.time()
    try:
        if "Records" in event:
            return _batch(event["Records"])
        time.sleep(float(event.get("sleep", 0)))
        if "raise" in event:
            raise RuntimeError(event["raise"])
        return {
            "pid": os.getpid(),
            "imported_at": IMPORTED_AT,
            "started": started,
            "ended": time.time(),
            "most_running": _most_running,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name,
        }
    finally:
        with _lock:
            _running -= 1


def _batch(records: list[dict[str, Any]]) -> dict[str, Any]:
    bodies = [record["body"] for record in records]
    if any("crash" in body for body in bodies):
        raise RuntimeError("this batch crashes the function")
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record in records
            if "fail" in record["body"]
        ]
    }

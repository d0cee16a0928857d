"""Run the real handler modules in this process, one event at a time per function.

Lambda gives each container one event at a time; the handlers keep per-event
state on module-level objects (Powertools' resolver and batch processor), so
each function here has a lock that plays the container.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from local.lambda_context import LocalLambdaContext

HANDLERS = ("ingest", "callback", "status_api", "reconciler")


class LocalFunctions:
    def __init__(self) -> None:
        self._locks = {name: threading.Lock() for name in HANDLERS}

    def invoke(self, name: str, event: dict[str, Any], timeout_seconds: float = 60.0) -> Any:
        module = importlib.import_module(f"replica_pipeline.handlers.{name}")
        with self._locks[name]:
            context = LocalLambdaContext(f"replica-pipeline-{name}", timeout_seconds)
            return module.handler(event, context)

"""moto's server on loopback, made faithful where the pipeline's correctness depends on it.

DynamoDB applies a conditional write atomically: of two concurrent writes under
the same condition, one succeeds and the other gets ConditionalCheckFailed. The
exactly-once claim, the retry and every state transition rest on that. moto
checks the condition and then writes, with no lock, so under threads both can
succeed (seen: two concurrent retries of one attempt both started it). One lock
around moto's DynamoDB item operations restores AWS's guarantee; the rest of
moto is left as it is.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

# Every operation that reads or changes items: reads too, so none sees a half-made write.
ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_ITEM_LOCK = threading.RLock()
_PATCHED_MARK = "_replica_pipeline_serialized"


def serialize_dynamodb_item_operations() -> None:
    """Run moto's DynamoDB item operations one at a time (idempotent)."""
    for name in ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, _PATCHED_MARK, False):
            continue

        def serialized(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _ITEM_LOCK:
                return __original(*args, **kwargs)

        functools.update_wrapper(serialized, original)
        setattr(serialized, _PATCHED_MARK, True)
        setattr(DynamoDBBackend, name, serialized)


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    """A started moto server on a free loopback port, and its endpoint URL."""
    serialize_dynamodb_item_operations()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"

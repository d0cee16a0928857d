"""moto's server on loopback, made faithful where the pipeline's correctness depends on it.

DynamoDB applies a conditional write atomically: of two concurrent writes under
the same condition, one succeeds and the other gets ConditionalCheckFailed. The
exactly-once claim, the retry and every state transition rest on that. moto
checks the condition and then writes, with no lock, so under threads both can
succeed (seen: two concurrent retries of one attempt both started it). One lock
around moto's DynamoDB item operations restores AWS's guarantee; the rest of
moto is left as it is.

S3 announces an object (ObjectCreated) once it is stored with its metadata. moto
sends the event from inside the PUT, before it sets the metadata, so an ingest
quick enough to HEAD the drop saw no replica-name (seen: a flaky test). moto's
S3 events are held until the request that caused them has finished.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.s3 import notifications as s3_notifications
from moto.s3.responses import S3Response
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


# S3 requests that create objects: the bucket-level one covers a browser-form POST.
S3_REQUEST_HANDLERS = ("key_response", "bucket_response")

_held_events = threading.local()  # a server thread serves one request at a time
_moto_send_s3_event = s3_notifications.send_event


def _send_or_hold_s3_event(*args: Any, **kwargs: Any) -> None:
    held: list[tuple[tuple[Any, ...], dict[str, Any]]] | None = getattr(
        _held_events, "events", None
    )
    if held is None:  # not inside an S3 request (moto's own calls): send as moto would
        _moto_send_s3_event(*args, **kwargs)
    else:
        held.append((args, kwargs))


def send_s3_events_after_the_request() -> None:
    """Hold moto's S3 notifications until the request has written everything (idempotent)."""
    if s3_notifications.send_event is _send_or_hold_s3_event:
        return
    s3_notifications.send_event = _send_or_hold_s3_event
    for name in S3_REQUEST_HANDLERS:
        original = getattr(S3Response, name)

        def holding_events(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            if getattr(_held_events, "events", None) is not None:  # the outer request sends
                return __original(*args, **kwargs)
            _held_events.events = []
            try:
                return __original(*args, **kwargs)
            finally:
                held, _held_events.events = _held_events.events, None
                for event_args, event_kwargs in held:
                    _moto_send_s3_event(*event_args, **event_kwargs)

        functools.update_wrapper(holding_events, original)
        setattr(S3Response, name, holding_events)


def start_moto_server() -> tuple[ThreadedMotoServer, str]:
    """A started moto server on a free loopback port, and its endpoint URL."""
    serialize_dynamodb_item_operations()
    send_s3_events_after_the_request()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # it logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"

"""Reading submissions for people and programs: one item, or pages newest first.

Lists come from the status index (never a table scan): one query stream for a
status filter, and for the unfiltered list one stream per status merged by
``updated_at``. The ``next`` cursor is a position, opaque to callers.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item
from replica_pipeline.rules.training_errors import classify, hint

# Bookkeeping of the claim protocol: not part of what a reader sees.
INTERNAL_ATTRIBUTES = frozenset(
    {"claim_token", "lease_until", "first_claimed_at", "retried_attempts"}
)


class BadCursor(ValueError):
    """The ``next`` cursor was not one we handed out."""


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: str | None


def public(item: Item) -> Item:
    """The item as readers see it: no claim bookkeeping, numbers as ints, advice on errors."""
    shown = {key: _plain(value) for key, value in item.items() if key not in INTERNAL_ATTRIBUTES}
    return shown | _error_advice(item)


def _error_advice(item: Item) -> Item:
    """``error_kind`` and ``error_hint`` of an ``error`` item whose message we recognise."""
    # Read from the message at each read, never stored: a better rule helps old items too.
    if item.get("status") != Status.ERROR.value:
        return {}  # a rejection's reason is ours, and already says what to change
    kind = classify(item.get("error_message"))
    advice = hint(kind)
    return {"error_kind": kind, "error_hint": advice} if advice else {}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(entry) for entry in value]
    if isinstance(value, dict):
        return {key: _plain(entry) for key, entry in value.items()}
    return value


def list_submissions(
    store: ReplicaStore, *, status: Status | None, limit: int, cursor: str | None
) -> Page:
    """A page newest first; ``cursor`` is the position after which the page starts."""
    after = decode_cursor(cursor) if cursor else None
    statuses = [status] if status is not None else list(Status)
    streams = [_newest_first(store, each, limit, after) for each in statuses]
    merged = heapq.merge(*streams, key=_position, reverse=True)
    taken: list[Item] = []
    for item in merged:
        if len(taken) == limit:
            return Page([public(i) for i in taken], encode_cursor(_position(taken[-1])))
        taken.append(item)
    return Page([public(i) for i in taken], None)


def _position(item: Item) -> tuple[str, str]:
    return (str(item["updated_at"]), str(item["submission_id"]))


def _newest_first(
    store: ReplicaStore, status: Status, page_size: int, after: tuple[str, str] | None
) -> Iterator[Item]:
    """Items of one status strictly after the cursor position, newest first."""
    start_key: Item | None = None
    # updated_at <= the cursor's time; ties are settled by submission id below.
    before = None if after is None else after[0] + "\uffff"
    while True:
        items, start_key = store.query_status(
            status, limit=page_size, updated_before=before, start_key=start_key
        )
        items.sort(key=_position, reverse=True)
        for item in items:
            if after is None or _position(item) < after:
                yield item
        if not start_key:
            return


# A cursor is a position in time: "<updated_at>~<submission_id>". Any string that
# matches the documented pattern is a valid position, so a client can never send
# a "valid-looking" cursor that we then refuse.
CURSOR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z~[A-Za-z0-9_-]{1,128}$"
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(position: tuple[str, str]) -> str:
    return f"{position[0]}~{position[1]}"


def decode_cursor(cursor: str) -> tuple[str, str]:
    if not _CURSOR.match(cursor):
        raise BadCursor("the next cursor is not valid")
    updated_at, _, submission_id = cursor.partition("~")
    return updated_at, submission_id

"""Reading submissions for people and programs: one item, or pages newest first.

Lists come from the status index (never a table scan): one query for a status
filter, and for the unfiltered list one query per status merged by
``updated_at``. The ``next`` cursor is opaque to callers (base64url JSON).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from replica_pipeline.states import Status
from replica_pipeline.store import Item, ReplicaStore

# Bookkeeping of the claim protocol: not part of what a reader sees.
INTERNAL_ATTRIBUTES = frozenset({"claim_token", "lease_until", "first_claimed_at"})


class BadCursor(ValueError):
    """The ``next`` cursor was not one we handed out."""


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next: str | None


def public(item: Item) -> Item:
    """The item as readers see it: no claim bookkeeping, numbers as ints."""
    return {key: _plain(value) for key, value in item.items() if key not in INTERNAL_ATTRIBUTES}


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
    position = _decode(cursor) if cursor else None
    if status is not None:
        if position is not None and position.get("status") != status.value:
            raise BadCursor("the cursor belongs to another status filter")
        items, last = store.query_status(status, limit=limit, start_key=position)
        return Page([public(item) for item in items], _encode(last) if last else None)
    return _list_all(store, limit, position)


def _list_all(store: ReplicaStore, limit: int, position: Item | None) -> Page:
    """Newest first across every status: merge one index query stream per status."""
    after = (position["updated_at"], position["submission_id"]) if position else None
    streams = [_newest_first(store, status, limit, after) for status in Status]
    merged = heapq.merge(
        *streams, key=lambda item: (item["updated_at"], item["submission_id"]), reverse=True
    )
    taken: list[Item] = []
    for item in merged:
        if len(taken) == limit:
            last = taken[-1]
            cursor = {"updated_at": last["updated_at"], "submission_id": last["submission_id"]}
            return Page([public(i) for i in taken], _encode(cursor))
        taken.append(item)
    return Page([public(i) for i in taken], None)


def _newest_first(
    store: ReplicaStore, status: Status, page_size: int, after: tuple[str, str] | None
) -> Iterator[Item]:
    """Items of one status strictly after the cursor position, newest first."""
    start_key: Item | None = None
    while True:
        # updated_at <= the cursor's time; ties are settled by submission id below.
        before = None if after is None else after[0] + "\uffff"
        items, start_key = store.query_status(
            status, limit=page_size, updated_before=before, start_key=start_key
        )
        items.sort(key=lambda item: (item["updated_at"], item["submission_id"]), reverse=True)
        for item in items:
            if after is None or (item["updated_at"], item["submission_id"]) < after:
                yield item
        if not start_key:
            return


def _encode(position: Item) -> str:
    raw = json.dumps({k: str(v) for k, v in position.items()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> Item:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadCursor("the next cursor is not valid") from None
    if (
        not isinstance(position, dict)
        or not position
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in position.items())
        or "submission_id" not in position
        or "updated_at" not in position
    ):
        raise BadCursor("the next cursor is not valid")
    return position

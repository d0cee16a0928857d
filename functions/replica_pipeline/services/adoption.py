"""Finding the replica an interrupted attempt created, so a retry adopts it.

Tavus takes no idempotency key. Each submission sends a replica name unique to
it (``<name> [<submission id prefix>]``); a retry lists Tavus's replicas and
adopts the one with that name created after the submission was first claimed,
instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

from replica_pipeline.adapters.tavus import OURS, TavusClient
from replica_pipeline.clock import parse_iso

# Tavus's clock and ours may disagree a little.
ADOPTION_CLOCK_SKEW = timedelta(minutes=5)


def find_earlier_replica(
    tavus: TavusClient,
    tavus_replica_name: str,
    first_claimed_at: str,
    exclude: Collection[str] = (),
    *,
    deadline: float | None = None,
) -> str | None:
    """The replica an interrupted attempt created, found by its unique name and age.

    Tavus takes no idempotency key, so this is how a retry learns whether the
    attempt that died after calling Create Replica got through. ``exclude``
    names the replicas of earlier attempts (a person's retry after a failed
    training): they carry the same name and may be recent, but are not this
    attempt's. A listing Tavus could not give in full raises
    (``TavusListingIncomplete`` or another ``TavusUnavailable``): "not found"
    is said only after every one of the account's replicas was seen.
    """
    return earlier_replica_in(
        tavus.list_user_replicas(deadline=deadline), tavus_replica_name, first_claimed_at, exclude
    )


def earlier_replica_in(
    replicas: Iterable[dict[str, Any]],
    tavus_replica_name: str,
    first_claimed_at: str,
    exclude: Collection[str] = (),
) -> str | None:
    """``find_earlier_replica`` in a complete listing already read (one for many items).

    ``replicas`` as ``TavusClient.list_user_replicas`` gives them: under our names,
    whichever vocabulary Tavus answered in.
    """
    not_before = parse_iso(first_claimed_at) - ADOPTION_CLOCK_SKEW if first_claimed_at else None
    for replica in replicas:
        if replica.get(OURS.name_field) != tavus_replica_name:
            continue
        created_at = replica.get("created_at")
        if not_before and isinstance(created_at, str) and parse_iso(created_at) < not_before:
            continue
        replica_id = replica.get(OURS.id_field)
        if isinstance(replica_id, str) and replica_id and replica_id not in exclude:
            return replica_id
    return None

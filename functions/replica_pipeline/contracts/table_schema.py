"""The replicas table, defined once: the CDK stack and the local bootstrap build it from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

PARTITION_KEY = "submission_id"
REPLICA_ID_INDEX = "by-replica-id"
REPLICA_ID_ATTRIBUTE = "replica_id"
STATUS_INDEX = "by-status"
STATUS_ATTRIBUTE = "status"
UPDATED_AT_ATTRIBUTE = "updated_at"
# The outbox: items holding status events not yet known to be on the bus.
PENDING_EVENT_INDEX = "by-pending-event"
EVENT_PENDING_ATTRIBUTE = "event_pending"


@dataclass(frozen=True)
class IndexDefinition:
    name: str
    partition_key: str
    sort_key: str | None
    # KEYS_ONLY: the reader fetches the item itself (and a consistent read at that).
    projection: Literal["ALL", "KEYS_ONLY"] = "ALL"


INDEXES: tuple[IndexDefinition, ...] = (
    # Callbacks and the CLI find a submission from Tavus's replica id (sparse:
    # only items that reached Tavus have one).
    IndexDefinition(REPLICA_ID_INDEX, REPLICA_ID_ATTRIBUTE, None),
    # Listing by status, newest first, and the reconciler's sweep of stuck items.
    IndexDefinition(STATUS_INDEX, STATUS_ATTRIBUTE, UPDATED_AT_ATTRIBUTE),
    # The reconciler's sweep of events whose publisher died or failed (sparse: only
    # items with an event in their outbox carry the marker; oldest news first).
    IndexDefinition(
        PENDING_EVENT_INDEX, EVENT_PENDING_ATTRIBUTE, UPDATED_AT_ATTRIBUTE, projection="KEYS_ONLY"
    ),
)

# Every key attribute is a string.
KEY_ATTRIBUTES: tuple[str, ...] = (
    PARTITION_KEY,
    REPLICA_ID_ATTRIBUTE,
    STATUS_ATTRIBUTE,
    UPDATED_AT_ATTRIBUTE,
    EVENT_PENDING_ATTRIBUTE,
)


def create_table_request(table_name: str) -> dict[str, Any]:
    """The DynamoDB CreateTable request for the replicas table (on-demand)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in KEY_ATTRIBUTES
        ],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
                + (
                    [{"AttributeName": index.sort_key, "KeyType": "RANGE"}]
                    if index.sort_key
                    else []
                ),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in INDEXES
        ],
    }

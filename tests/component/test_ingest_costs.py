"""What a submission costs in DynamoDB writes and S3 bytes read (counted, not timed)."""

from __future__ import annotations

from collections import Counter

from replica_pipeline.services.ingest import ingest_notification
from tests.harness import DATA, Pipeline

WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def writes(calls: Counter[str]) -> int:
    return sum(n for name, n in calls.items() if name.split(".")[1] in WRITE_OPERATIONS)


def test_a_successful_submission_costs_four_dynamodb_writes(
    pipeline: Pipeline, aws_calls: Counter[str]
) -> None:
    pipeline.upload("uploads/mia.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    aws_calls.clear()

    ingest_notification(body, deps)

    assert pipeline.only_item()["status"] == "training"
    # claim (submitting), then record (training), each with its event in the item's
    # outbox; once EventBridge has each event, one more write takes it off the item
    assert writes(aws_calls) == 4
    assert aws_calls["eventbridge.PutEvents"] == 2
    # the record's event is made from the item as read (the claim's is from the drop)
    assert aws_calls["dynamodb.GetItem"] == 1
    assert aws_calls["s3.HeadObject"] == 1
    assert aws_calls["s3.GetObject"] == 1  # the faststart sample's header fits one block


def test_a_rejection_costs_two_writes(pipeline: Pipeline, aws_calls: Counter[str]) -> None:
    pipeline.upload("uploads/short.mp4", DATA / "short-20s.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    aws_calls.clear()

    ingest_notification(body, deps)

    assert writes(aws_calls) == 2  # the rejected item with its event, then the event sent
    assert aws_calls["eventbridge.PutEvents"] == 1


def test_a_moov_at_the_end_costs_a_second_ranged_read_not_a_download(
    pipeline: Pipeline, aws_calls: Counter[str]
) -> None:
    pipeline.upload("uploads/tail.mp4", DATA / "moov-at-end.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    aws_calls.clear()

    ingest_notification(body, deps)

    assert pipeline.only_item()["status"] == "training"
    assert 2 <= aws_calls["s3.GetObject"] <= 3

"""What a submission costs in DynamoDB writes and S3 bytes read (counted, not timed)."""

from __future__ import annotations

from collections import Counter

from replica_pipeline.ingest import ingest_notification
from tests.harness import DATA, Pipeline

WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def writes(calls: Counter[str]) -> int:
    return sum(n for name, n in calls.items() if name.split(".")[1] in WRITE_OPERATIONS)


def test_a_successful_submission_costs_two_dynamodb_writes(
    pipeline: Pipeline, aws_calls: Counter[str]
) -> None:
    pipeline.upload("uploads/mia.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    aws_calls.clear()

    ingest_notification(body, deps)

    assert pipeline.only_item()["status"] == "training"
    assert writes(aws_calls) == 2  # claim (submitting), then record (training)
    assert aws_calls["s3.HeadObject"] == 1
    assert aws_calls["s3.GetObject"] == 1  # the faststart sample's header fits one block


def test_a_rejection_costs_one_write(pipeline: Pipeline, aws_calls: Counter[str]) -> None:
    pipeline.upload("uploads/short.mp4", DATA / "short-20s.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    aws_calls.clear()

    ingest_notification(body, deps)

    assert writes(aws_calls) == 1


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

"""The deep check (the deep_check setting): the pre-flight runs in AWS before Create Replica.

The handlers against moto's server and the Tavus emulator: ingest leaves a complete
submission ``checking`` and queues it; the deep-check handler downloads the video,
judges it, and rejects it or sends it back to ingest, which creates the replica once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replica_pipeline.config import INGEST_QUEUE_URL
from replica_pipeline.services.deep_check import DeepCheckRequest
from replica_pipeline_local.cli.output import describe
from tests.harness import SAMPLE_VIDEO, Pipeline, make_deep_checked_pipeline


@pytest.fixture
def pipeline(aws: str) -> Iterator[Pipeline]:
    yield from make_deep_checked_pipeline(aws)


def dropped(pipeline: Pipeline, key: str, video: Path = SAMPLE_VIDEO) -> dict[str, Any]:
    """Drop ``video`` at ``key`` and let ingest handle it; the submission's item."""
    pipeline.upload(key, video)
    assert pipeline.deliver()["batchItemFailures"] == []
    return pipeline.only_item()


def test_a_drop_waits_in_checking_and_reaches_tavus_only_after_the_check(
    pipeline: Pipeline,
) -> None:
    item = dropped(pipeline, "uploads/olga.mp4")
    assert item["status"] == "checking"
    assert pipeline.tavus_stats().get("creates", 0) == 0

    assert [answer["batchItemFailures"] for answer in pipeline.run_deep_checks()] == [[]]
    checked = pipeline.only_item()
    assert checked["status"] == "submitting"
    assert checked["check_findings"] == []  # the sample passes every check
    assert "checked_at" in checked

    assert pipeline.deliver()["batchItemFailures"] == []
    trained = pipeline.only_item()
    assert trained["status"] == "training"
    assert trained["replica_id"]
    assert pipeline.tavus_stats()["creates"] == 1
    statuses = [entry["status"] for entry in trained["history"]]
    assert statuses == ["checking", "submitting", "training"]


def test_two_people_in_view_are_rejected_with_the_reason_and_never_reach_tavus(
    pipeline: Pipeline, two_people_clip: Path
) -> None:
    dropped(pipeline, "uploads/two.mp4", two_people_clip)

    assert [answer["batchItemFailures"] for answer in pipeline.run_deep_checks()] == [[]]

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert "second face" in item["error_message"]
    assert item["error_message"].startswith("the deep check failed it: combined video:")
    failures = [f for f in item["check_findings"] if f["verdict"] == "fail"]
    assert [(f["check"], f["prevents"]) for f in failures] == [("second_face", "second_person")]
    assert [float(second) for second in failures[0]["at_seconds"]][:2] == [0.0, 2.0]
    assert pipeline.receive() == []  # nothing goes back to ingest
    assert pipeline.tavus_stats().get("creates", 0) == 0


def test_the_status_api_and_the_cli_show_the_findings(
    pipeline: Pipeline, two_people_clip: Path
) -> None:
    dropped(pipeline, "uploads/two.mp4", two_people_clip)
    pipeline.run_deep_checks()
    sid = pipeline.only_item()["submission_id"]

    status, shown = pipeline.request(
        "status_api", "GET", f"/replicas/{sid}", resource="/replicas/{submission_id}"
    )

    assert status == 200
    assert shown["status"] == "rejected"
    finding = next(f for f in shown["check_findings"] if f["check"] == "second_face")
    assert finding["verdict"] == "fail"
    assert finding["video"] == "combined"
    assert finding["at_seconds"][:2] == [0.0, 2.0]
    assert finding["prevents"] == "second_person"
    assert shown["checked_at"]
    assert "check       fail: combined video, second_face: a second face in view" in describe(shown)


def test_a_redelivered_drop_is_checked_again_but_trained_once(pipeline: Pipeline) -> None:
    # The first delivery may have written `checking` and died before queueing the check:
    # a redelivery queues it again; whichever check passes first, one replica is made.
    pipeline.upload("uploads/olga.mp4")
    [notification] = pipeline.notification_bodies()
    for _ in range(2):
        pipeline.sqs.send_message(QueueUrl=pipeline.resources.queue_url, MessageBody=notification)
        assert pipeline.deliver()["batchItemFailures"] == []

    answers = pipeline.run_deep_checks()
    for _ in range(3):
        pipeline.deliver()

    assert len(answers) == 2
    item = pipeline.only_item()
    assert item["status"] == "training"
    assert pipeline.tavus_stats()["creates"] == 1
    assert len(pipeline.tavus_replicas()) == 1


def test_a_check_whose_message_to_ingest_was_lost_sends_it_again(pipeline: Pipeline) -> None:
    # The check passes and moves the item to submitting, then sending to ingest fails (the
    # queue is unreachable): the record comes back and sends what ingest needs.
    dropped(pipeline, "uploads/olga.mp4")
    reachable = pipeline.environment[INGEST_QUEUE_URL]
    pipeline.environment[INGEST_QUEUE_URL] = reachable.replace("-ingest", "-unreachable")
    [failed] = pipeline.run_deep_checks()
    assert len(failed["batchItemFailures"]) == 1
    assert pipeline.only_item()["status"] == "submitting"

    pipeline.environment[INGEST_QUEUE_URL] = reachable
    assert [answer["batchItemFailures"] for answer in pipeline.run_deep_checks()] == [[]]
    assert pipeline.deliver()["batchItemFailures"] == []

    assert pipeline.only_item()["status"] == "training"
    assert pipeline.tavus_stats()["creates"] == 1


def test_a_message_that_is_not_a_deep_check_request_fails_its_record(pipeline: Pipeline) -> None:
    queue_url = str(pipeline.resources.deep_check_queue_url)
    pipeline.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"hello": "world"}))
    pipeline.sqs.send_message(
        QueueUrl=queue_url, MessageBody=DeepCheckRequest("no-such-submission").message()
    )

    answers = pipeline.run_deep_checks()

    # The stray message goes back (then to the dead-letter queue, to be read); a request
    # for a submission that is gone is done with.
    assert sorted(len(answer["batchItemFailures"]) for answer in answers) == [0, 1]


def test_a_video_deleted_before_its_check_ends_in_error_saying_so(pipeline: Pipeline) -> None:
    item = dropped(pipeline, "uploads/olga.mp4")
    pipeline.s3.delete_object(
        Bucket=pipeline.resources.bucket, Key="uploads/olga.mp4", VersionId=item["training_version"]
    )

    assert [answer["batchItemFailures"] for answer in pipeline.run_deep_checks()] == [[]]

    gone = pipeline.only_item()
    assert gone["status"] == "error"
    assert gone["error_message"] == "uploads/olga.mp4 is no longer in the bucket; upload it again"
    assert pipeline.receive() == []

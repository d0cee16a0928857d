"""Exactly one Create Replica per submission: duplicates, concurrency and crashes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from replica_pipeline.services.ingest import Outcome, SubmissionBusy, ingest_notification
from tests.component.support import CrashAfterTavus
from tests.harness import DATA, Pipeline


def test_the_same_event_five_times_in_one_batch_creates_one_replica(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/carol.mp4")
    [message] = [m for m in pipeline.receive() if "Records" in m["Body"]]
    copies = [{**message, "MessageId": f"copy-{n}"} for n in range(5)]

    result = pipeline.invoke_ingest(pipeline.sqs_event(copies))

    assert result == {"batchItemFailures": []}
    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "training"


@pytest.mark.faults
def test_the_same_event_five_times_concurrently_creates_one_replica(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/carol.mp4")
    [body] = pipeline.notification_bodies()
    outcomes: list[Any] = []
    start = threading.Barrier(5)

    def deliver() -> None:
        deps = pipeline.deps()  # each "container" has its own clients
        start.wait()
        try:
            outcomes.extend(ingest_notification(body, deps))
        except SubmissionBusy as busy:
            outcomes.append(busy)  # back to the queue: retried later

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert pipeline.tavus_stats()["creates"] == 1
    assert outcomes.count(Outcome.SUBMITTED) == 1
    assert all(
        o in (Outcome.SUBMITTED, Outcome.DUPLICATE) or isinstance(o, SubmissionBusy)
        for o in outcomes
    )
    # and the retries of the busy ones find the work done
    assert ingest_notification(body, pipeline.deps()) == [Outcome.DUPLICATE]
    assert pipeline.only_item()["status"] == "training"


@pytest.mark.faults
def test_a_crash_between_create_and_record_still_makes_one_replica(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/dave.mp4")
    [body] = pipeline.notification_bodies()
    crashing = pipeline.deps()
    crashing.store = CrashAfterTavus(crashing.store.table)

    # the first attempt reaches Tavus and dies
    with pytest.raises(SystemExit):
        ingest_notification(body, crashing)
    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "submitting"

    # a redelivery while the dead attempt's lease still runs is sent back to the queue
    with pytest.raises(SubmissionBusy):
        ingest_notification(body, pipeline.deps())

    # once the lease has run out, the retry adopts the replica instead of creating another
    pipeline.clock.advance(seconds=pipeline.settings.submit_lease.total_seconds() + 1)
    assert ingest_notification(body, pipeline.deps()) == [Outcome.ADOPTED]

    [replica] = pipeline.tavus_replicas()
    item = pipeline.only_item()
    assert item["status"] == "training"
    assert item["replica_id"] == replica["replica_id"]
    assert item["attempts"] == 2
    assert pipeline.tavus_stats()["creates"] == 1


@pytest.mark.faults
def test_a_retry_after_a_crash_before_tavus_creates_the_replica(pipeline: Pipeline) -> None:
    # given an attempt that claimed the submission and died before calling Tavus
    pipeline.upload("uploads/erin.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    deps.tavus = _dies
    with pytest.raises(SystemExit):
        ingest_notification(body, deps)

    # when the lease runs out and the record is retried
    pipeline.clock.advance(seconds=pipeline.settings.submit_lease.total_seconds() + 1)
    assert ingest_notification(body, pipeline.deps()) == [Outcome.SUBMITTED]

    # then the adoption check found nothing and one replica was created
    assert pipeline.tavus_stats()["creates"] == 1


def _dies() -> Any:
    raise SystemExit("killed before calling Tavus")


def test_new_content_under_the_same_key_is_a_new_submission(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/frank.mp4")
    pipeline.deliver()
    pipeline.upload(
        "uploads/frank.mp4", DATA / "moov-at-end.mp4", metadata={"replica-name": "Frank, take two"}
    )
    pipeline.deliver()

    assert pipeline.tavus_stats()["creates"] == 2
    assert sorted(item["replica_name"] for item in pipeline.items()) == ["Frank, take two", "frank"]


def test_the_same_file_uploaded_twice_is_one_submission(pipeline: Pipeline) -> None:
    # Each upload makes a new S3 version, but it is the same drop.
    pipeline.upload("uploads/gus.mp4")
    pipeline.deliver()
    pipeline.upload("uploads/gus.mp4")
    pipeline.deliver()

    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "training"


def test_only_the_failing_record_of_a_batch_returns_to_the_queue(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/nina.mp4")
    [good] = [m for m in pipeline.receive() if "Records" in m["Body"]]
    garbage = {**good, "MessageId": "garbage", "Body": "this is not an S3 notification"}

    result = pipeline.invoke_ingest(pipeline.sqs_event([garbage, good]))

    # the garbage goes back (and, after the receive count, to the DLQ); the drop is submitted
    assert result == {"batchItemFailures": [{"itemIdentifier": "garbage"}]}
    assert pipeline.only_item()["status"] == "training"

"""Separate consent: the pair is submitted once, when both halves are there, in either order."""

from __future__ import annotations

import pytest

from tests.harness import DATA, Pipeline

TRAIN = "uploads/bob/train.mp4"
CONSENT = "uploads/bob/consent.mp4"


@pytest.mark.parametrize(
    ("first", "second", "waiting"),
    [(TRAIN, CONSENT, "waiting_for_consent"), (CONSENT, TRAIN, "waiting_for_training")],
)
def test_pair_in_either_order_becomes_one_replica_with_both_urls(
    pipeline: Pipeline, first: str, second: str, waiting: str
) -> None:
    # given the first half alone
    pipeline.upload(first, metadata={"replica-name": "Bob"} if first == TRAIN else {})
    assert pipeline.deliver() == {"batchItemFailures": []}
    # then it waits for the other half, and Tavus has heard nothing
    assert pipeline.only_item()["status"] == waiting
    assert pipeline.tavus_stats()["creates"] == 0

    # when the other half arrives
    pipeline.upload(second, metadata={"replica-name": "Bob"} if second == TRAIN else {})
    assert pipeline.deliver() == {"batchItemFailures": []}

    # then exactly one submission carries both URLs, and the placeholder is gone
    item = pipeline.only_item()
    assert item["status"] == "training"
    assert item["kind"] == "pair"
    assert (item["training_key"], item["consent_key"]) == (TRAIN, CONSENT)
    assert item["replica_name"] == "Bob"
    [replica] = pipeline.tavus_replicas()
    request = replica["request"]
    assert "/bob/train.mp4" in request["train_video_url"]
    assert "/bob/consent.mp4" in request["consent_video_url"]


def test_both_halves_in_one_batch_make_one_submission(pipeline: Pipeline) -> None:
    pipeline.upload(TRAIN)
    pipeline.upload(CONSENT)

    assert pipeline.deliver() == {"batchItemFailures": []}

    item = pipeline.only_item()
    assert item["status"] == "training"
    assert pipeline.tavus_stats()["creates"] == 1


def test_redelivered_halves_do_not_submit_twice(pipeline: Pipeline) -> None:
    from replica_pipeline.services.ingest import ingest_notification

    pipeline.upload(TRAIN)
    pipeline.upload(CONSENT)
    bodies = pipeline.notification_bodies()
    deps = pipeline.deps()
    for body in bodies * 3:
        ingest_notification(body, deps)

    assert pipeline.only_item()["status"] == "training"
    assert pipeline.tavus_stats()["creates"] == 1


def test_a_rejected_consent_leaves_the_training_half_waiting(pipeline: Pipeline) -> None:
    pipeline.upload(CONSENT, DATA / "low-720p.mp4")
    pipeline.upload(TRAIN)

    assert pipeline.deliver() == {"batchItemFailures": []}

    by_status = {item["status"]: item for item in pipeline.items()}
    assert set(by_status) == {"rejected", "waiting_for_consent"}
    assert by_status["rejected"]["error_message"].startswith("consent video: video is 1280x720")
    assert pipeline.tavus_stats()["creates"] == 0

    # a good consent video completes the pair
    pipeline.upload(CONSENT)
    assert pipeline.deliver() == {"batchItemFailures": []}
    statuses = sorted(item["status"] for item in pipeline.items())
    assert statuses == ["rejected", "training"]
    assert pipeline.tavus_stats()["creates"] == 1


def test_a_short_consent_video_is_enough_but_a_short_training_video_is_not(
    pipeline: Pipeline,
) -> None:
    # A consent video is the spoken statement alone: 20 s is plenty for it.
    pipeline.upload(CONSENT, DATA / "short-20s.mp4")
    pipeline.upload(TRAIN)
    assert pipeline.deliver() == {"batchItemFailures": []}
    assert [item["status"] for item in pipeline.items()] == ["training"]

    # The same 20 s as the training half is still too short.
    pipeline.upload("uploads/cleo/train.mp4", DATA / "short-20s.mp4")
    pipeline.upload("uploads/cleo/consent.mp4", DATA / "short-20s.mp4")
    assert pipeline.deliver() == {"batchItemFailures": []}
    rejected = [item for item in pipeline.items() if item["status"] == "rejected"]
    assert [item["error_message"][:30] for item in rejected] == ["training video: video is 20 s "]

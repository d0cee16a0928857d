"""Drops that fail our own checks: status rejected, a reason, and nothing sent to Tavus."""

from __future__ import annotations

import json

import pytest

from replica_pipeline.services.ingest import ingest_notification
from tests.harness import DATA, Pipeline


@pytest.mark.parametrize(
    ("key", "body", "content_type", "reason"),
    [
        ("uploads/empty.mp4", b"", "video/mp4", "the file is empty (0 bytes)"),
        (
            "uploads/notes.mp4",
            b"meeting notes, definitely not a video\n" * 50,
            "video/mp4",
            "the file is not an MP4/MOV video container",
        ),
        ("uploads/low.mp4", DATA / "low-720p.mp4", "video/mp4", "video is 1280x720"),
        ("uploads/hevc.mp4", DATA / "hevc-codec.mp4", "video/mp4", "video codec is 'hvc1'"),
        ("uploads/short.mp4", DATA / "short-20s.mp4", "video/mp4", "video is 20 s long"),
        ("uploads/clip.avi", DATA / "short-20s.mp4", "video/x-msvideo", ".avi is not a supported"),
        ("uploads/typed.mp4", DATA / "sample.mov", "text/plain", "content type 'text/plain'"),
    ],
)
def test_unsuitable_drop_is_rejected_with_its_reason(
    pipeline: Pipeline, key: str, body: object, content_type: str, reason: str
) -> None:
    pipeline.upload(key, body, content_type=content_type)  # type: ignore[arg-type]

    result = pipeline.deliver()

    assert result == {"batchItemFailures": []}
    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert item["error_message"].startswith(reason)
    assert item["training_key"] == key
    assert pipeline.tavus_stats()["creates"] == 0


def test_an_800_mb_video_is_rejected_from_the_size_s3_reports(pipeline: Pipeline) -> None:
    # S3's event carries the object's size; the test need not store 800 MB to say so.
    pipeline.upload("uploads/huge.mp4")
    [body] = pipeline.notification_bodies()
    event = json.loads(body)
    event["Records"][0]["s3"]["object"]["size"] = 800 * 1024 * 1024

    ingest_notification(json.dumps(event), pipeline.deps())

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert item["error_message"] == "video is 800 MB; Tavus accepts at most 750 MB"
    assert pipeline.tavus_stats()["creates"] == 0


def test_a_rejected_drop_delivered_again_stays_one_item(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/short.mp4", DATA / "short-20s.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    for _ in range(3):
        ingest_notification(body, deps)
    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert len(item["history"]) == 1


def test_keys_outside_uploads_and_the_test_event_change_nothing(pipeline: Pipeline) -> None:
    # The bucket's notification filter already skips other prefixes; the handler
    # checks again, because a misconfigured filter must not submit random files.
    s3_body = json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {
                        "bucket": {"name": pipeline.resources.bucket},
                        "object": {"key": "exports/report.mp4", "size": 10},
                    },
                }
            ]
        }
    )
    assert ingest_notification(s3_body, pipeline.deps()) == ["ignored"]
    assert pipeline.deliver() == {"batchItemFailures": []}  # only the s3:TestEvent is queued
    assert pipeline.items() == []


def test_unicode_names_with_spaces_and_plus_signs_are_submitted(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/team a/José García+1.mp4")

    assert pipeline.deliver() == {"batchItemFailures": []}

    item = pipeline.only_item()
    assert item["status"] == "training"
    assert item["training_key"] == "uploads/team a/José García+1.mp4"
    assert item["replica_name"] == "José García+1"
    [replica] = pipeline.tavus_replicas()
    assert replica["request"]["replica_name"].startswith("José García+1 [")


def test_non_ascii_names_in_metadata_arrive_intact(pipeline: Pipeline) -> None:
    from replica_pipeline.rules.keys import encode_metadata_text

    pipeline.upload(
        "uploads/jose.mp4", metadata={"replica-name": encode_metadata_text("José Núñez")}
    )

    pipeline.deliver()

    assert pipeline.only_item()["replica_name"] == "José Núñez"

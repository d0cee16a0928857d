"""A single video with consent at its start: one drop, one Create Replica, one item."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.harness import SAMPLE_VIDEO, Pipeline


def test_combined_drop_becomes_one_replica_with_the_right_body(pipeline: Pipeline) -> None:
    # given a video dropped with options in its metadata
    pipeline.upload(
        "uploads/alice.mp4",
        metadata={
            "replica-name": "Alice Example",
            "model-name": "phoenix-3",
            "callback-tag": "t-1",
        },
    )

    # when the notification reaches the ingest handler
    result = pipeline.deliver()

    # then Tavus got exactly one Create Replica with what the user asked for
    assert result == {"batchItemFailures": []}
    [replica] = pipeline.tavus_replicas()
    body = replica["request"]
    assert body["replica_name"].startswith("Alice Example [")
    assert body["model_name"] == "phoenix-3"
    assert "consent_video_url" not in body
    token = parse_qs(urlsplit(body["callback_url"]).query)["token"]
    assert len(token[0]) == 64
    # and the item says it is training, with Tavus's id
    item = pipeline.only_item()
    assert item["status"] == "training"
    assert item["replica_id"] == replica["replica_id"]
    assert item["replica_name"] == "Alice Example"
    assert item["callback_tag"] == "t-1"
    assert item["training_key"] == "uploads/alice.mp4"
    assert [entry["status"] for entry in item["history"]] == ["submitting", "training"]
    # and the pre-signed URL really downloads the video
    pipeline.emulator.training_seconds = 3600
    downloads = _wait_for_downloads(pipeline, 1)
    assert downloads[0]["status_code"] == 200
    assert downloads[0]["bytes"] == SAMPLE_VIDEO.stat().st_size


def _wait_for_downloads(pipeline: Pipeline, count: int) -> list[dict[str, object]]:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        downloads = [d for r in pipeline.tavus_replicas() for d in r["downloads"]]
        if len(downloads) >= count:
            return downloads
        time.sleep(0.05)
    raise AssertionError("the emulator did not download the URL in time")

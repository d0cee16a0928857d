"""The local moto server keeps AWS's promises that the pipeline relies on."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto.s3 import notifications

BUCKET = "uploads"
KEY = "uploads/ada.mp4"


@pytest.fixture
def queue_url(aws: str) -> str:
    """A bucket whose ObjectCreated events go to an SQS queue (as the stack's uploads do)."""
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    url = sqs.create_queue(QueueName="drops")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return str(url)


@pytest.fixture
def metadata_when_announced(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The announced object's metadata, read with HEAD at the moment its event is sent."""
    s3 = boto3.client("s3")
    seen: list[dict[str, str]] = []
    send = notifications._send_sqs_message

    def look_then_send(account_id: str, event_body: Any, *args: Any) -> None:
        for record in event_body.get("Records", []):
            key = unquote_plus(record["s3"]["object"]["key"])
            seen.append(s3.head_object(Bucket=BUCKET, Key=key)["Metadata"])
        send(account_id, event_body, *args)

    monkeypatch.setattr(notifications, "_send_sqs_message", look_then_send)
    return seen


def _created_events(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    bodies = [json.loads(message["Body"]) for message in messages]
    return [record["eventName"] for body in bodies for record in body.get("Records", [])]


def test_an_upload_is_announced_after_its_metadata_is_stored(
    queue_url: str, metadata_when_announced: list[dict[str, str]]
) -> None:
    # S3 announces an object once it is stored with its metadata. moto sends the event
    # in the middle of the PUT, before it sets the metadata, so an ingest quick enough
    # read a drop without its replica-name (seen as a flaky "uploaded twice" test).
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=KEY, Body=b"video", Metadata={"replica-name": "Ada"}
    )

    assert metadata_when_announced == [{"replica-name": "Ada"}]
    assert _created_events(queue_url) == ["ObjectCreated:Put"]


def test_a_copy_is_announced_once_with_the_copy_metadata(
    queue_url: str, metadata_when_announced: list[dict[str, str]]
) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="staging/ada.mp4", Body=b"video")
    s3.copy_object(
        Bucket=BUCKET,
        Key=KEY,
        CopySource={"Bucket": BUCKET, "Key": "staging/ada.mp4"},
        Metadata={"replica-name": "Ada"},
        MetadataDirective="REPLACE",
    )

    assert metadata_when_announced == [{}, {"replica-name": "Ada"}]
    assert _created_events(queue_url) == ["ObjectCreated:Put", "ObjectCreated:Copy"]

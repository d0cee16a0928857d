"""Retry through the status API: a new attempt of a failed submission, exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from replica_pipeline.config import INGEST_QUEUE_URL
from replica_pipeline.rules.states import Status
from replica_pipeline.services.retry import (
    RetryAnswer,
    RetryRequest,
    request_retry,
    retry_request_in,
)
from tests.component.support import RETRY_RESOURCE, retry
from tests.harness import Pipeline

RESOURCE = RETRY_RESOURCE


def failed_submission(pipeline: Pipeline, key: str = "uploads/anna.mp4") -> dict[str, Any]:
    """A drop submitted to Tavus whose training then failed (as Tavus's callback says)."""
    pipeline.upload(key)
    pipeline.deliver()
    item = next(i for i in pipeline.items() if i.get("training_key") == key)
    pipeline.store().transition(
        item["submission_id"],
        Status.ERROR,
        pipeline.clock(),
        fields={"error_message": "training failed: the video has no face"},
    )
    pipeline.clock.advance(seconds=5)
    return pipeline.item(item["submission_id"])


def retry_messages(pipeline: Pipeline) -> list[RetryRequest]:
    requests = [retry_request_in(message["Body"]) for message in pipeline.receive()]
    return [request for request in requests if request is not None]


def test_a_retry_is_a_new_attempt_that_reaches_tavus_once(pipeline: Pipeline) -> None:
    failed = failed_submission(pipeline)
    sid, first_replica = failed["submission_id"], failed["replica_id"]
    creates_before = pipeline.tavus_stats()["creates"]

    status, body = retry(pipeline, sid, {"attempt": 1})

    assert status == 202, body
    assert (body["status"], body["attempts"]) == ("submitting", 2)
    assert body.get("replica_id") is None
    assert body.get("error_message") is None
    assert "retry of attempt 1 requested" in body["history"][-1]["note"]
    assert first_replica in body["history"][-1]["note"]
    assert [h["status"] for h in body["history"] if "status" in h][-2:] == ["error", "submitting"]

    pipeline.deliver()

    item = pipeline.item(sid)
    assert item["status"] == "training"
    assert item["replica_id"] not in (None, first_replica)
    assert pipeline.tavus_stats()["creates"] == creates_before + 1
    newest = max(pipeline.tavus_replicas(), key=lambda r: r["created_at"])
    assert newest["replica_id"] == item["replica_id"]
    assert f"versionId={failed['training_version']}" in newest["request"]["train_video_url"]


def test_the_same_retry_sent_twice_starts_one_attempt(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]

    first = retry(pipeline, sid, {"attempt": 1})
    second = retry(pipeline, sid, {"attempt": 1})

    assert first[0] == second[0] == 202
    assert first[1]["attempts"] == second[1]["attempts"] == 2
    assert retry_messages(pipeline) == [RetryRequest(sid, 2)]


def test_concurrent_retries_start_one_attempt_and_one_create_replica(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]
    queue = pipeline.resources.queue_url

    def request(_: int) -> RetryAnswer:
        # Each "request" with its own clients, as separate Lambda invocations would have.
        sqs = boto3.client("sqs")

        def send(body: str) -> None:
            sqs.send_message(QueueUrl=queue, MessageBody=body)

        return request_retry(pipeline.store(), send, sid, 1, pipeline.clock())

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(request, range(8)))

    assert sum(not answer.replayed for answer in answers) == 1
    assert {int(answer.item["attempts"]) for answer in answers} == {2}
    creates_before = pipeline.tavus_stats()["creates"]
    pipeline.deliver()
    assert pipeline.tavus_stats()["creates"] == creates_before + 1
    assert pipeline.item(sid)["status"] == "training"


def test_a_retry_without_an_attempt_retries_the_current_one(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]

    status, body = retry(pipeline, sid)

    assert (status, body["attempts"]) == (202, 2)
    again, answer = retry(pipeline, sid)
    assert again == 409
    assert "is submitting, not error" in answer["error"]


def test_a_redelivered_retry_message_creates_nothing_more(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]
    retry(pipeline, sid, {"attempt": 1})
    pipeline.deliver()
    creates = pipeline.tavus_stats()["creates"]

    pipeline.sqs.send_message(
        QueueUrl=pipeline.resources.queue_url, MessageBody=RetryRequest(sid, 2).message()
    )
    pipeline.deliver()

    assert pipeline.tavus_stats()["creates"] == creates
    assert pipeline.item(sid)["status"] == "training"


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.TRAINING])
def test_only_failed_submissions_can_be_retried(pipeline: Pipeline, status: Status) -> None:
    pipeline.upload("uploads/bea.mp4")
    pipeline.deliver()
    sid = pipeline.only_item()["submission_id"]
    if status is Status.COMPLETED:
        pipeline.store().transition(sid, Status.COMPLETED, pipeline.clock())
    before = pipeline.item(sid)

    code, body = retry(pipeline, sid, {"attempt": int(before["attempts"])})

    assert code == 409
    assert f"is {status.value}, not error" in body["error"]
    # An attempt that was never retried is no replay either, whatever its number.
    assert retry(pipeline, sid, {"attempt": 0})[0] == 409
    assert retry(pipeline, sid)[0] == 409
    assert pipeline.item(sid) == before
    assert retry_messages(pipeline) == []


def test_a_rejected_submission_is_not_retried_and_the_answer_says_why(
    pipeline: Pipeline,
) -> None:
    pipeline.upload("uploads/short.mp4", b"not a video at all")
    pipeline.deliver()
    before = pipeline.only_item()

    code, body = retry(pipeline, before["submission_id"], {"attempt": 0})

    assert code == 409
    assert "was rejected" in body["error"]
    assert "upload a corrected video" in body["error"]
    assert before["error_message"] in body["error"]
    assert pipeline.only_item() == before
    assert retry_messages(pipeline) == []


def test_unknown_submissions_and_attempts_that_do_not_exist(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]

    assert retry(pipeline, "no-such-submission")[0] == 404
    code, body = retry(pipeline, sid, {"attempt": 7})
    assert code == 409
    assert "no attempt 7" in body["error"]
    assert retry(pipeline, sid, {"attempt": -1})[0] == 400
    assert retry(pipeline, sid, {"attempt": "one"})[0] == 400
    assert retry(pipeline, sid, {"attempt": True})[0] == 400
    form = pipeline.request(
        "status_api",
        "POST",
        f"/replicas/{sid}/retry",
        resource=RESOURCE,
        body=b"attempt=1",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert form == (
        415,
        {"error": "send the retry body as JSON (Content-Type: application/json), or no body"},
    )
    not_utf8 = pipeline.request(
        "status_api",
        "POST",
        f"/replicas/{sid}/retry",
        resource=RESOURCE,
        body=b"\xff\xfe{",
        headers={"Content-Type": "application/json"},
    )
    assert not_utf8 == (400, {"error": "the retry body is not UTF-8 JSON"})
    assert retry(pipeline, sid, {"attempt": 0})[0] == 409
    assert pipeline.request("status_api", "GET", f"/replicas/{sid}/retry", resource=RESOURCE)[
        0
    ] == (405)
    assert pipeline.item(sid)["status"] == "error"


def test_a_late_callback_of_the_failed_replica_changes_nothing(pipeline: Pipeline) -> None:
    failed = failed_submission(pipeline)
    sid = failed["submission_id"]
    retry(pipeline, sid, {"attempt": 1})
    pipeline.deliver()
    before = pipeline.item(sid)

    news = {"replica_id": failed["replica_id"], "status": "error", "error_message": "late news"}

    # Through the URL of older releases, the failed replica is no longer found...
    assert pipeline.post_callback(news, token=pipeline.token_for(sid))[0] == 404
    assert pipeline.item(sid) == before
    # ...and through today's, which names the submission, it is news about another replica.
    status, answer = pipeline.post_callback(news, **pipeline.callback_query(sid))

    assert (status, answer["changed"], answer["status"]) == (200, False, "training")
    after = pipeline.item(sid)
    assert (after["status"], after["replica_id"]) == ("training", before["replica_id"])
    assert failed["replica_id"] in after["history"][-1]["note"]


def test_a_retry_of_a_deleted_video_fails_with_the_reason(pipeline: Pipeline) -> None:
    failed = failed_submission(pipeline)
    pipeline.s3.delete_object(
        Bucket=pipeline.resources.bucket,
        Key=failed["training_key"],
        VersionId=failed["training_version"],
    )
    creates = pipeline.tavus_stats()["creates"]

    retry(pipeline, failed["submission_id"], {"attempt": 1})
    pipeline.deliver()

    item = pipeline.item(failed["submission_id"])
    assert item["status"] == "error"
    assert "no longer in the bucket" in item["error_message"]
    assert pipeline.tavus_stats()["creates"] == creates


def test_a_retry_that_cannot_be_queued_leaves_the_item_retryable(pipeline: Pipeline) -> None:
    sid = failed_submission(pipeline)["submission_id"]
    missing_queue = pipeline.resources.queue_url + "-missing"
    pipeline.environment[INGEST_QUEUE_URL] = missing_queue

    code, body = retry(pipeline, sid, {"attempt": 1})

    assert code == 503
    assert "could not be queued" in body["error"]
    item = pipeline.item(sid)
    assert item["status"] == "error"
    assert "retry again" in item["error_message"]
    assert int(item["attempts"]) == 2
    pipeline.environment[INGEST_QUEUE_URL] = pipeline.resources.queue_url
    assert retry(pipeline, sid, {"attempt": 2})[0] == 202


def test_retry_messages_are_told_apart_from_anything_else() -> None:
    assert retry_request_in(RetryRequest("abc", 3).message()) == RetryRequest("abc", 3)
    for body in (
        "",
        "not json",
        "[]",
        '{"Records": []}',
        '{"replica_pipeline_retry": {"submission_id": "", "attempt": 1}}',
        '{"replica_pipeline_retry": {"submission_id": "a", "attempt": true}}',
        '{"replica_pipeline_retry": {"submission_id": "a", "attempt": 0}}',
        '{"replica_pipeline_retry": "a"}',
    ):
        assert retry_request_in(body) is None, body

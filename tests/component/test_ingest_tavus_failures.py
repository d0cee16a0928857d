"""What Tavus's failures do to a submission: retried, recorded, or returned to the queue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from replica_pipeline import runtime
from replica_pipeline.adapters.tavus import TavusUnavailable
from replica_pipeline.services.ingest import Outcome, ingest_record
from tests.harness import Pipeline


def test_429_with_retry_after_is_waited_out_then_submitted(pipeline: Pipeline) -> None:
    pipeline.inject_faults(create_errors=[429], retry_after_seconds=1)
    pipeline.upload("uploads/gina.mp4")

    started = time.monotonic()
    result = pipeline.deliver()
    waited = time.monotonic() - started

    assert result == {"batchItemFailures": []}
    assert waited >= 1.0  # Retry-After was honoured, not ignored
    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "training"


def test_a_5xx_is_never_retried_blindly_but_after_a_look_in_tavus(pipeline: Pipeline) -> None:
    pipeline.inject_faults(create_errors=[503])
    pipeline.upload("uploads/hank.mp4")
    [message] = [m for m in pipeline.receive() if "Records" in m["Body"]]

    # the 503 may hide a replica: no second POST now; the record goes back to the queue
    result = pipeline.invoke_ingest(pipeline.sqs_event([message]))
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert pipeline.tavus_stats()["creates"] == 0
    item = pipeline.only_item()
    assert item["status"] == "submitting"
    assert "may have made the replica" in item["last_error"]

    # its next delivery lists Tavus, finds no replica of it, and creates one
    pipeline.clock.now = datetime.now(UTC) + timedelta(seconds=1)
    assert ingest_record(message["Body"], pipeline.deps()) == [Outcome.SUBMITTED]
    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "training"


def test_a_400_is_an_error_with_tavus_words_and_no_retry(pipeline: Pipeline) -> None:
    pipeline.inject_faults(create_errors=[400, 400])
    pipeline.upload("uploads/ivy.mp4")

    assert pipeline.deliver() == {"batchItemFailures": []}

    item = pipeline.only_item()
    assert item["status"] == "error"
    assert item["error_message"] == "Tavus rejected the replica: Bad Request"
    assert pipeline.tavus_stats()["creates"] == 0


def test_a_wrong_api_key_keeps_the_record_for_a_redrive(pipeline: Pipeline) -> None:
    pipeline.emulator.api_key = "rotated-key"
    pipeline.upload("uploads/jack.mp4")

    result = pipeline.deliver()

    assert len(result["batchItemFailures"]) == 1
    item = pipeline.only_item()
    assert item["status"] == "submitting"
    assert pipeline.tavus_stats()["creates"] == 0


def test_a_read_timeout_after_tavus_acted_returns_the_record_and_the_retry_adopts(
    pipeline: Pipeline,
) -> None:
    # Tavus creates the replica but answers after our read timeout (2 s here).
    pipeline.inject_faults(latency_ms=2500)
    pipeline.upload("uploads/kate.mp4")
    messages = [m for m in pipeline.receive() if "Records" in m["Body"]]

    result = pipeline.invoke_ingest(pipeline.sqs_event(messages))

    # the record goes back to the queue, and the item says it is still being submitted
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [messages[0]["MessageId"]]
    assert pipeline.only_item()["status"] == "submitting"
    # when Tavus is healthy again, the redelivered record adopts the replica Tavus made
    pipeline.inject_faults()
    # The claim was held until the handler's (real) time plus the settle time.
    pipeline.clock.now = datetime.now(UTC) + timedelta(seconds=1)
    assert ingest_record(messages[0]["Body"], pipeline.deps()) == [Outcome.ADOPTED]
    assert pipeline.tavus_stats()["creates"] == 1
    assert pipeline.only_item()["status"] == "training"


def test_temporary_signer_credentials_are_refused_on_the_item(pipeline: Pipeline) -> None:
    import json

    import boto3

    boto3.client("secretsmanager").put_secret_value(
        SecretId=pipeline.resources.signer_secret_arn,
        SecretString=json.dumps(
            {
                "access_key_id": "ASIAEXAMPLEEXAMPLE",
                "secret_access_key": "x",
                "session_token": "y",
            }
        ),
    )
    pipeline.upload("uploads/liam.mp4")

    assert pipeline.deliver() == {"batchItemFailures": []}

    item = pipeline.only_item()
    assert item["status"] == "error"
    assert "temporary credentials" in item["error_message"]
    assert "signer secret" in item["error_message"]
    assert pipeline.tavus_stats()["creates"] == 0


def test_an_unset_tavus_key_keeps_the_record_and_says_how_to_set_it(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from replica_pipeline.config import TAVUS_API_KEY_PLACEHOLDER

    boto3.client("secretsmanager").put_secret_value(
        SecretId=pipeline.resources.tavus_api_key_secret_arn,
        SecretString=TAVUS_API_KEY_PLACEHOLDER,
    )
    pipeline.upload("uploads/mona.mp4")

    result = pipeline.deliver()

    assert len(result["batchItemFailures"]) == 1
    assert pipeline.tavus_stats()["creates"] == 0
    assert pipeline.only_item()["status"] == "submitting"
    # and the reason, as the logs show it, says how to fix it
    for name, value in pipeline.environment.items():
        monkeypatch.setenv(name, value)
    runtime.forget_container()
    with pytest.raises(TavusUnavailable, match=r"the Tavus API key is not set.*put-secret-value"):
        runtime.tavus_api_key()
    runtime.forget_container()


def test_the_metric_names_the_alarms_read_are_the_ones_emitted() -> None:
    from replica_pipeline.observability import DROPS_REJECTED, DROPS_SUBMITTED, drops_metric
    from replica_pipeline.services.ingest import Outcome

    # The ingest handler emits drops_metric(outcome.value); the alarms and dashboard read these.
    assert drops_metric(Outcome.SUBMITTED.value) == DROPS_SUBMITTED == "DropsSubmitted"
    assert drops_metric(Outcome.REJECTED.value) == DROPS_REJECTED == "DropsRejected"


@pytest.mark.faults
def test_tavus_unreachable_returns_the_record_and_the_item_says_why(pipeline: Pipeline) -> None:
    # Connection refused on every try: nothing listens where Tavus should be.
    pipeline.emulator.stop()
    pipeline.upload("uploads/nico.mp4")

    result = pipeline.deliver()

    assert len(result["batchItemFailures"]) == 1
    item = pipeline.only_item()
    assert item["status"] == "submitting"
    assert "Tavus could not be reached: ConnectionError" in item["last_error"]
    assert "will be retried" in item["last_error"]

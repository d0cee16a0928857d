"""Exactly one replica per drop when Tavus (and S3) fail the hard ways.

Tavus that acts and then fails, answers after we gave up, pages its list its
own way, rate limits for minutes; S3 that breaks a read mid-stream; an
invocation that runs out of time. Each case counts the replicas in the
emulator's own record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import IncompleteReadError

from replica_pipeline.adapters.media_probe import HeaderUnreadable
from replica_pipeline.adapters.tavus import (
    ReplicaRequest,
    TavusClient,
    TavusOutcomeUnknown,
    TavusUnavailable,
)
from replica_pipeline.config import INGEST_TIMEOUT_SECONDS, Settings
from replica_pipeline.rules.deferral import Deferred, QueuedMessage
from replica_pipeline.services.ingest import IngestDependencies, Outcome, ingest_record
from replica_pipeline.services.time_budget import RecordBudget, problems
from replica_pipeline_local.stack.tavus_emulator import Faults
from tests.component.support import crash_after_create
from tests.harness import Pipeline, make_pipeline

SETTLE_SECONDS = 30


@pytest.fixture
def pipeline(aws: str) -> Iterator[Pipeline]:
    """A pipeline that keeps an unknown create's claim for 30 s (of its fake clock)."""
    yield from make_pipeline(aws, CREATE_SETTLE_SECONDS=str(SETTLE_SECONDS))


class Requeued:
    """The ingest's requeue, kept for the test to deliver when it likes."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, int]] = []

    def __call__(self, body: str, delay_seconds: int) -> None:
        self.messages.append((body, delay_seconds))

    def pop(self) -> tuple[str, int]:
        return self.messages.pop(0)


def deps_with(pipeline: Pipeline, requeued: Requeued) -> IngestDependencies:
    deps = pipeline.deps()
    deps.requeue = requeued
    return deps


def replicas_named(pipeline: Pipeline, fragment: str) -> list[dict[str, Any]]:
    return [
        r for r in pipeline.tavus_replicas() if fragment in (r["request"].get("replica_name") or "")
    ]


def test_a_504_after_acting_keeps_the_claim_until_tavus_is_checked(pipeline: Pipeline) -> None:
    requeued = Requeued()
    pipeline.inject_faults(create_errors_after_acting=[504])
    pipeline.upload("uploads/abe.mp4")
    [body] = pipeline.notification_bodies()

    # the 504 came after Tavus made the replica: the record goes back, nothing is sent again
    with pytest.raises(TavusOutcomeUnknown):
        ingest_record(body, deps_with(pipeline, requeued))
    item = pipeline.only_item()
    assert item["status"] == "submitting"
    assert "may have made the replica" in item["last_error"]

    # the same event again, while the claim is kept: it waits for the claim
    pipeline.clock.advance(seconds=SETTLE_SECONDS / 2)
    assert ingest_record(body, deps_with(pipeline, requeued)) == [Outcome.DEFERRED]
    assert requeued.pop()[1] == SETTLE_SECONDS / 2

    # once it has settled, whoever comes next looks in Tavus and adopts
    pipeline.clock.advance(seconds=SETTLE_SECONDS)
    assert ingest_record(body, deps_with(pipeline, requeued)) == [Outcome.ADOPTED]
    [replica] = replicas_named(pipeline, "abe")
    item = pipeline.only_item()
    assert (item["status"], item["replica_id"]) == ("training", replica["replica_id"])
    assert "last_error" not in item


def test_a_read_timeout_after_acting_with_the_other_half_arriving_meanwhile(
    pipeline: Pipeline,
) -> None:
    requeued = Requeued()
    pipeline.upload("uploads/bea/train.mp4")
    [train_event] = pipeline.notification_bodies()
    assert ingest_record(train_event, deps_with(pipeline, requeued)) == [Outcome.WAITING]

    # Tavus makes the replica at once but answers after our 2 s read timeout
    pipeline.inject_faults(create_answer_delay_ms=2500)
    pipeline.upload("uploads/bea/consent.mp4")
    [consent_event] = pipeline.notification_bodies()
    with pytest.raises(TavusOutcomeUnknown):
        ingest_record(consent_event, deps_with(pipeline, requeued))

    # the training half's event arrives again meanwhile: it must not create a second one
    pipeline.inject_faults()
    assert ingest_record(train_event, deps_with(pipeline, requeued)) == [Outcome.DEFERRED]
    assert len(replicas_named(pipeline, "bea")) == 1

    pipeline.clock.advance(seconds=SETTLE_SECONDS + 1)
    for body in (consent_event, *(body for body, _ in requeued.messages)):
        ingest_record(body, deps_with(pipeline, requeued))
    [replica] = replicas_named(pipeline, "bea")
    assert replica["request"]["consent_video_url"]
    [item] = [i for i in pipeline.items() if i["kind"] == "pair"]
    assert (item["status"], item["replica_id"]) == ("training", replica["replica_id"])


def test_adoption_reads_a_capped_oldest_first_listing_full_of_stock(pipeline: Pipeline) -> None:
    # an account with 120 replicas of its own, listed 50 a page, oldest first, plus stock
    client = TavusClient(pipeline.settings.tavus, "tavus-test-key")
    for n in range(120):
        client.create_replica(ReplicaRequest("http://127.0.0.1:9/v.mp4", name=f"o{n}"))
    body = crash_after_create(pipeline, "uploads/cal.mp4")
    pipeline.emulator.set_faults(
        Faults(list_page_cap=50, list_order="oldest_first", stock_replicas=150)
    )

    assert ingest_record(body, pipeline.deps()) == [Outcome.ADOPTED]
    assert len(replicas_named(pipeline, "cal")) == 1


def test_a_listing_tavus_cannot_finish_is_never_read_as_not_found(pipeline: Pipeline) -> None:
    body = crash_after_create(pipeline, "uploads/dee.mp4")
    pipeline.emulator.set_faults(Faults(list_garbage=3))

    for _ in range(3):  # three shapes we do not know: transient, nothing created
        with pytest.raises(TavusUnavailable):
            ingest_record(body, pipeline.deps())
        pipeline.clock.advance(seconds=1)  # the record comes back after its visibility timeout
    assert len(replicas_named(pipeline, "dee")) == 1
    assert pipeline.only_item()["status"] == "submitting"

    assert ingest_record(body, pipeline.deps()) == [Outcome.ADOPTED]
    assert len(replicas_named(pipeline, "dee")) == 1


def test_a_long_429_storm_defers_the_drop_without_using_its_deliveries(
    pipeline: Pipeline,
) -> None:
    requeued = Requeued()
    pipeline.inject_faults(rate_limit_seconds=600)
    pipeline.upload("uploads/eve.mp4")
    [body] = pipeline.notification_bodies()

    assert ingest_record(body, deps_with(pipeline, requeued)) == [Outcome.DEFERRED]
    copy, delay = requeued.pop()
    assert 590 <= delay <= 600  # Tavus's Retry-After, waited in the queue
    assert QueuedMessage.read(copy).deferrals == 1
    assert pipeline.tavus_stats()["creates"] == 0

    pipeline.inject_faults()  # the storm is over, and the copy is back from its delay
    pipeline.clock.advance(seconds=delay)
    assert ingest_record(copy, deps_with(pipeline, requeued)) == [Outcome.SUBMITTED]
    assert len(replicas_named(pipeline, "eve")) == 1


def test_a_wait_that_never_ends_finally_fails_like_any_error(pipeline: Pipeline) -> None:
    requeued = Requeued()
    pipeline.inject_faults(rate_limit_seconds=600)
    pipeline.upload("uploads/fay.mp4")
    [body] = pipeline.notification_bodies()
    ingest_record(body, deps_with(pipeline, requeued))
    copy, _ = requeued.pop()

    pipeline.clock.advance(hours=25)  # past MAX_DEFERRAL_HOURS (24)
    with pytest.raises(Deferred):
        ingest_record(copy, deps_with(pipeline, requeued))
    assert requeued.messages == []


def test_capitalised_pair_halves_make_one_submission(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/Gil/Train.mp4")
    pipeline.deliver()
    pipeline.upload("uploads/Gil/CONSENT.mp4")
    pipeline.deliver()

    [item] = pipeline.items()
    assert (item["kind"], item["status"]) == ("pair", "training")
    [replica] = replicas_named(pipeline, "Gil")
    assert "CONSENT.mp4" in replica["request"]["consent_video_url"]


def test_two_halves_handled_at_the_same_instant_make_one_submission(pipeline: Pipeline) -> None:
    requeued = Requeued()
    pipeline.upload("uploads/hal/train.mp4")
    pipeline.upload("uploads/hal/consent.mp4")
    bodies = pipeline.notification_bodies()
    start = threading.Barrier(len(bodies))
    outcomes: list[Outcome] = []

    def handle(body: str) -> None:
        deps = deps_with(pipeline, requeued)  # each invocation its own clients
        start.wait()
        outcomes.extend(ingest_record(body, deps))

    threads = [threading.Thread(target=handle, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for body, _ in list(requeued.messages):  # the one that found the claim taken
        outcomes.extend(ingest_record(body, deps_with(pipeline, requeued)))

    assert outcomes.count(Outcome.SUBMITTED) == 1
    assert len(replicas_named(pipeline, "hal")) == 1
    assert [i["kind"] for i in pipeline.items()] == ["pair"]


class BrokenStream:
    """S3 whose ranged GET breaks mid-stream (or comes back short) ``failures`` times."""

    def __init__(self, s3: Any, failures: int, *, short: bool = False) -> None:
        self._s3, self.failures, self._short = s3, failures, short

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        response = self._s3.get_object(**kwargs)
        if self.failures <= 0:
            return response
        self.failures -= 1
        if self._short:
            data = response["Body"].read()
            return {**response, "Body": _Body(data[: len(data) // 2])}
        return {**response, "Body": _Body(None)}


class _Body:
    def __init__(self, data: bytes | None) -> None:
        self._data = data

    def read(self) -> bytes:
        if self._data is None:
            raise IncompleteReadError(actual_bytes=1024, expected_bytes=131072)
        return self._data


@pytest.mark.parametrize("short", [False, True], ids=["broken stream", "short read"])
def test_a_broken_s3_read_of_the_header_is_retried_never_rejected(
    pipeline: Pipeline, short: bool
) -> None:
    pipeline.upload("uploads/ida.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    deps.s3 = BrokenStream(deps.s3, failures=1, short=short)  # type: ignore[assignment]

    with pytest.raises(HeaderUnreadable):
        ingest_record(body, deps)
    assert pipeline.items() == []  # nothing stored, least of all "rejected"

    assert ingest_record(body, deps) == [Outcome.SUBMITTED]
    assert pipeline.only_item()["status"] == "training"


def test_a_record_that_cannot_finish_in_time_is_deferred_untouched(pipeline: Pipeline) -> None:
    requeued = Requeued()
    pipeline.upload("uploads/jo.mp4")
    [body] = pipeline.notification_bodies()

    outcome = ingest_record(body, deps_with(pipeline, requeued), RecordBudget.now(10))

    assert outcome == [Outcome.DEFERRED]
    assert requeued.pop()[1] == 0
    assert pipeline.items() == []
    assert pipeline.tavus_stats()["creates"] == 0


def test_a_batch_whose_tavus_calls_outlast_the_function_defers_what_does_not_fit(
    pipeline: Pipeline,
) -> None:
    # each Create Replica answers after 1.5 s; ten of them do not fit in a 35 s function
    # that must keep 25 s for a record it starts (AWS calls, one slowest Tavus request)
    pipeline.inject_faults(create_answer_delay_ms=1500)
    for n in range(10):
        pipeline.upload(f"uploads/batch-{n}.mp4")
    messages = [m for m in pipeline.receive() if "Records" in m["Body"]]
    assert len(messages) == 10
    started = time.monotonic()

    result = pipeline.invoke_ingest(pipeline.sqs_event(messages), timeout_seconds=35)

    # nothing failed (no delivery used up), it ended in time, and what did not fit waits
    assert result == {"batchItemFailures": []}
    assert time.monotonic() - started < 35
    submitted = len(pipeline.items())
    assert 0 < submitted < 10
    deferred = pipeline.receive()
    assert len(deferred) == 10 - submitted
    pipeline.invoke_ingest(pipeline.sqs_event(deferred), timeout_seconds=60)
    for n in range(10):
        assert len(replicas_named(pipeline, f"batch-{n} ")) == 1
    assert {item["status"] for item in pipeline.items()} == {"training"}


def test_the_timeouts_nest_lease_over_function_over_slowest_call() -> None:
    # the defaults the CDK stack deploys (it sets only the lease, 300 s)
    deployed = Settings.from_env(_minimal_env(SUBMIT_LEASE_SECONDS="300"))
    assert problems(deployed, INGEST_TIMEOUT_SECONDS) == []
    # the local stack's lease
    local = Settings.from_env(_minimal_env(SUBMIT_LEASE_SECONDS="150"))
    assert problems(local, INGEST_TIMEOUT_SECONDS) == []


def test_a_change_that_breaks_the_nesting_is_caught() -> None:
    short_lease = Settings.from_env(_minimal_env(SUBMIT_LEASE_SECONDS="100"))
    slow_tavus = Settings.from_env(_minimal_env(TAVUS_READ_TIMEOUT_SECONDS="60"))

    assert "must outlive" in problems(short_lease, INGEST_TIMEOUT_SECONDS)[0]
    assert "must exceed" in problems(slow_tavus, INGEST_TIMEOUT_SECONDS)[0]
    assert slow_tavus.submit_lease > timedelta(seconds=INGEST_TIMEOUT_SECONDS)


def _minimal_env(**extra: str) -> dict[str, str]:
    return {
        "REPLICAS_TABLE_NAME": "t",
        "CALLBACK_BASE_URL": "https://example.invalid/callbacks/tavus",
        "CALLBACK_HMAC_SECRET_ARN": "arn:hmac",
        "SIGNER_SECRET_ARN": "arn:signer",
        "TAVUS_API_KEY_SECRET_ARN": "arn:tavus",
        **extra,
    }

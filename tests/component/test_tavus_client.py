"""The Tavus client against the emulator: paths, errors, retries and the key kept secret."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from replica_pipeline.adapters.tavus import (
    ReplicaRequest,
    TavusClient,
    TavusListingIncomplete,
    TavusOutcomeUnknown,
    TavusOutOfTime,
    TavusRateLimited,
    TavusRejected,
    TavusUnavailable,
)
from replica_pipeline.config import TavusSettings
from replica_pipeline_local.stack.tavus_emulator import Faults, TavusEmulator

KEY = "client-test-key"
VIDEO = "http://127.0.0.1:9/video.mp4"  # nothing listens: the training fails, creation works


@pytest.fixture
def emulator() -> Iterator[TavusEmulator]:
    emulator = TavusEmulator(KEY, training_seconds=3600).start()
    yield emulator
    emulator.stop()


def client_for(emulator: TavusEmulator, key: str = KEY) -> TavusClient:
    settings = TavusSettings(
        api_url=emulator.url, api_key_secret_arn="arn", backoff_seconds=0.01, read_timeout=2.0
    )
    return TavusClient(settings, key)


def test_create_get_list_and_delete(emulator: TavusEmulator) -> None:
    client = client_for(emulator)
    created = [client.create_replica(ReplicaRequest(VIDEO, name=f"r{n}")) for n in range(3)]
    assert all(c.status == "started" for c in created)

    replica = client.get_replica(created[0].replica_id, verbose=True)
    assert replica is not None
    assert replica["replica_name"] == "r0"
    assert replica["replica_type"] == "user"

    first_page = client.list_replicas(page=1, limit=2)
    assert first_page["total_count"] == 3
    assert len(first_page["data"]) == 2
    assert {r["replica_id"] for r in client.list_user_replicas()} == {c.replica_id for c in created}

    client.delete_replica(created[0].replica_id)
    assert client.get_replica(created[0].replica_id) is None


def test_an_unknown_replica_is_none_not_an_error(emulator: TavusEmulator) -> None:
    assert client_for(emulator).get_replica("r-nope") is None


def test_a_bad_body_is_rejected_with_tavus_words(emulator: TavusEmulator) -> None:
    with pytest.raises(TavusRejected, match="Invalid train_video_url") as rejected:
        client_for(emulator).create_replica(ReplicaRequest("not a url", name="no video"))
    assert rejected.value.status_code == 400


def test_a_wrong_key_is_transient_and_says_so(emulator: TavusEmulator) -> None:
    with pytest.raises(TavusUnavailable, match="refused our API key"):
        client_for(emulator, key="wrong").create_replica(ReplicaRequest(VIDEO))


def test_429_without_retry_after_backs_off_and_succeeds(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [429, 429]
    client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    assert emulator.stats["creates"] == 1


def test_a_retry_after_longer_than_we_sleep_returns_at_once(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [429]
    emulator.faults.retry_after_seconds = 3600
    with pytest.raises(TavusRateLimited, match="rate limiting"):
        client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    assert emulator.stats["creates"] == 0


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_a_5xx_on_create_is_never_resent_and_leaves_doubt(
    emulator: TavusEmulator, code: int
) -> None:
    emulator.faults.create_errors_after_acting = [code]
    with pytest.raises(TavusOutcomeUnknown, match=f"{code}.*may have made the replica"):
        client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    # one POST, acted on: a retry in the client would have made a second replica
    assert emulator.stats["creates"] == 1


def test_a_read_timeout_on_create_is_never_resent_and_leaves_doubt(
    emulator: TavusEmulator,
) -> None:
    emulator.faults.create_answer_delay_ms = 2500  # our read timeout is 2 s
    with pytest.raises(TavusOutcomeUnknown, match="ReadTimeoutError"):
        client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    assert emulator.stats["creates"] == 1


def test_a_connection_that_never_opened_proves_nothing_was_created() -> None:
    settings = TavusSettings(
        api_url="http://127.0.0.1:9", api_key_secret_arn="arn", backoff_seconds=0.01
    )
    with pytest.raises(TavusUnavailable, match="could not be reached") as failure:
        TavusClient(settings, KEY).create_replica(ReplicaRequest(VIDEO))
    assert not isinstance(failure.value, TavusOutcomeUnknown)


def test_reads_retry_5xx(emulator: TavusEmulator) -> None:
    replica = client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    emulator.faults.get_errors = [503, 502]
    assert client_for(emulator).get_replica(replica.replica_id) is not None


def test_a_rate_limit_longer_than_we_sleep_says_how_long_to_wait(
    emulator: TavusEmulator,
) -> None:
    emulator.faults.create_errors = [429]
    emulator.faults.retry_after_seconds = 600
    with pytest.raises(TavusRateLimited) as limited:
        client_for(emulator).create_replica(ReplicaRequest(VIDEO))
    assert limited.value.wait_seconds == 600
    assert emulator.stats["creates"] == 0


def test_no_retry_sleeps_past_the_deadline(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [429, 429]
    emulator.faults.retry_after_seconds = 3
    with pytest.raises(TavusOutOfTime):
        client_for(emulator).create_replica(ReplicaRequest(VIDEO), deadline=time.monotonic() + 6)
    assert emulator.stats["creates"] == 0


def test_the_listing_is_exact_whatever_tavus_page_size_order_and_stock(
    emulator: TavusEmulator,
) -> None:
    client = client_for(emulator)
    created = {client.create_replica(ReplicaRequest(VIDEO)).replica_id for _ in range(120)}
    emulator.set_faults(Faults(list_page_cap=50, list_order="oldest_first", stock_replicas=150))

    assert {r["replica_id"] for r in client.list_user_replicas()} == created


def test_the_listing_ignores_stock_replicas_even_if_tavus_ignores_the_filter(
    emulator: TavusEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(emulator)
    mine = client.create_replica(ReplicaRequest(VIDEO)).replica_id
    emulator.set_faults(Faults(stock_replicas=30))
    unfiltered = client.list_replicas

    def ignoring_the_filter(**kwargs: Any) -> Any:
        return unfiltered(**{**kwargs, "replica_type": None})

    monkeypatch.setattr(client, "list_replicas", ignoring_the_filter)
    assert [r["replica_id"] for r in client.list_user_replicas()] == [mine]


def test_a_listing_of_unexpected_shape_is_incomplete_never_empty(
    emulator: TavusEmulator,
) -> None:
    client = client_for(emulator)
    client.create_replica(ReplicaRequest(VIDEO))
    emulator.set_faults(Faults(list_garbage=3))  # no "data", a bare list, an empty body
    for _ in range(3):
        with pytest.raises(TavusListingIncomplete):
            client.list_user_replicas()
    assert len(client.list_user_replicas()) == 1


def test_a_listing_that_fails_is_incomplete(emulator: TavusEmulator) -> None:
    emulator.faults.list_errors = [500] * 10
    with pytest.raises(TavusUnavailable):
        client_for(emulator).list_user_replicas()


def test_the_api_key_stays_out_of_repr(emulator: TavusEmulator) -> None:
    assert KEY not in repr(client_for(emulator))

"""The Tavus client against the emulator: paths, errors, retries and the key kept secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.tavus_emulator import TavusEmulator
from replica_pipeline.config import TavusSettings
from replica_pipeline.tavus import TavusClient, TavusRejected, TavusUnavailable

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
    created = [
        client.create_replica({"train_video_url": VIDEO, "replica_name": f"r{n}"}) for n in range(3)
    ]
    assert all(c.status == "started" for c in created)

    replica = client.get_replica(created[0].replica_id, verbose=True)
    assert replica is not None
    assert replica["replica_name"] == "r0"
    assert replica["replica_type"] == "user"

    first_page = client.list_replicas(page=1, limit=2)
    assert first_page["total_count"] == 3
    assert len(first_page["data"]) == 2
    assert {r["replica_id"] for r in client.iter_replicas()} == {c.replica_id for c in created}

    client.delete_replica(created[0].replica_id)
    assert client.get_replica(created[0].replica_id) is None


def test_an_unknown_replica_is_none_not_an_error(emulator: TavusEmulator) -> None:
    assert client_for(emulator).get_replica("r-nope") is None


def test_a_bad_body_is_rejected_with_tavus_words(emulator: TavusEmulator) -> None:
    with pytest.raises(TavusRejected, match="train_video_url is required") as rejected:
        client_for(emulator).create_replica({"replica_name": "no video"})
    assert rejected.value.status_code == 400


def test_a_wrong_key_is_transient_and_says_so(emulator: TavusEmulator) -> None:
    with pytest.raises(TavusUnavailable, match="refused our API key"):
        client_for(emulator, key="wrong").create_replica({"train_video_url": VIDEO})


def test_429_without_retry_after_backs_off_and_succeeds(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [429, 429]
    client_for(emulator).create_replica({"train_video_url": VIDEO})
    assert emulator.stats["creates"] == 1


def test_a_retry_after_longer_than_we_sleep_returns_at_once(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [429]
    emulator.faults.retry_after_seconds = 3600
    with pytest.raises(TavusUnavailable, match="rate limiting"):
        client_for(emulator).create_replica({"train_video_url": VIDEO})
    assert emulator.stats["creates"] == 0


def test_5xx_beyond_the_retries_is_transient(emulator: TavusEmulator) -> None:
    emulator.faults.create_errors = [503] * 6
    with pytest.raises(TavusUnavailable, match="503 after retries"):
        client_for(emulator).create_replica({"train_video_url": VIDEO})


def test_the_api_key_stays_out_of_repr(emulator: TavusEmulator) -> None:
    assert KEY not in repr(client_for(emulator))

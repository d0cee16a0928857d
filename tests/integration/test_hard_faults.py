"""Exactly one replica per drop against a Tavus that fails the hard ways, from the edges.

The emulator acts and then fails, answers after the client gave up, pages its
list its own way and rate limits for longer than the queue would wait. Each
case drops videos into S3 and asserts what a user would see: exactly one
replica per drop in the emulator's own record, the item `completed` once with
that replica's id (through `training`, or straight from `submitting` when Tavus's
callback beat the ingest's retry to it), and nothing in the dead-letter queue.
Run alone with ``pytest -m faults``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from replica_pipeline.rules.identity import pair_submission_id
from tests.harness import SAMPLE_VIDEO
from tests.integration.edges import Edges, submit

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def assert_one_replica_trained_and_completed(edges: Edges, sid: str, name: str) -> None:
    item = edges.wait_for(sid, timeout=90)
    created = edges.created_in_tavus(f"{edges.run} {name}")
    assert len(created) == 1, (item, created)
    [replica] = created
    statuses = [entry.get("status") for entry in item["history"] if entry.get("status")]
    assert item["status"] == "completed", item
    assert item["replica_id"] == replica["replica_id"]
    assert statuses[-1] == "completed"
    assert statuses.count("completed") == 1
    assert statuses[-2] in ("training", "submitting")
    assert edges.dead_letters(edges.run) == []


@pytest.mark.parametrize("code", [504, 502])
def test_an_error_after_tavus_acted_makes_one_replica(edges: Edges, code: int) -> None:
    edges.inject_faults(create_errors_after_acting=[code])
    sid = submit(edges, f"acted-{code}")

    assert_one_replica_trained_and_completed(edges, sid, f"acted-{code}")
    item = edges.wait_for(sid)
    assert any("adopted" in (entry.get("note") or "") for entry in item["history"])


def test_a_503_before_acting_makes_one_replica(edges: Edges) -> None:
    edges.inject_faults(create_errors=[503])
    sid = submit(edges, "refused-503")

    assert_one_replica_trained_and_completed(edges, sid, "refused-503")


def test_a_read_timeout_after_acting_with_the_other_half_arriving_meanwhile(
    edges: Edges,
) -> None:
    name = f"{edges.run}-slow-pair"
    metadata = {"replica-name": f"{edges.run} slow-pair"}
    train_key = f"{edges.stack['upload_prefix']}{name}/train.mp4"
    train_etag = edges.upload(train_key, SAMPLE_VIDEO, metadata)
    wait_for_item(edges, name, "waiting_for_consent")

    # Tavus makes the replica at once, but answers after our 2 s read timeout
    edges.inject_faults(create_answer_delay_ms=3500)
    consent_etag = edges.upload(f"{edges.stack['upload_prefix']}{name}/consent.mp4", SAMPLE_VIDEO)
    sid = pair_submission_id(edges.stack["bucket"], name, train_etag, consent_etag)
    edges.wait_for(sid, {"submitting"})
    # meanwhile the training half arrives again (the same file, a new event)
    edges.upload(train_key, SAMPLE_VIDEO, metadata)
    time.sleep(4)
    edges.reset_faults()

    assert_one_replica_trained_and_completed(edges, sid, "slow-pair")


def test_a_429_storm_of_ten_visibility_timeouts_sends_nothing_to_the_dlq(
    edges: Edges, stack: dict[str, Any]
) -> None:
    # 3 s visibility x 3 receives would park a failing record after 9 s; the storm is 30 s
    edges.inject_faults(rate_limit_seconds=30)
    sids = [submit(edges, f"storm-{n}") for n in range(3)]

    for n, sid in enumerate(sids):
        assert_one_replica_trained_and_completed(edges, sid, f"storm-{n}")


def test_adoption_through_a_capped_oldest_first_listing_full_of_stock(edges: Edges) -> None:
    edges.inject_faults(
        create_errors_after_acting=[504],
        list_page_cap=50,
        list_order="oldest_first",
        stock_replicas=150,
    )
    sid = submit(edges, "capped-list")

    assert_one_replica_trained_and_completed(edges, sid, "capped-list")


def test_capitalised_pair_halves_are_one_pair(edges: Edges) -> None:
    name = f"{edges.run}-Caps"
    prefix = f"{edges.stack['upload_prefix']}{name}"
    train = edges.upload(f"{prefix}/Train.mp4", SAMPLE_VIDEO, {"replica-name": f"{edges.run} caps"})
    consent = edges.upload(f"{prefix}/CONSENT.mp4", SAMPLE_VIDEO)

    sid = pair_submission_id(edges.stack["bucket"], name, train, consent)
    assert_one_replica_trained_and_completed(edges, sid, "caps")


def test_two_halves_uploaded_at_the_same_instant_are_one_pair(edges: Edges) -> None:
    name = f"{edges.run}-together"
    prefix = f"{edges.stack['upload_prefix']}{name}"
    start = threading.Barrier(2)
    etags: dict[str, str] = {}

    def upload(role: str) -> None:
        start.wait()
        etags[role] = edges.upload(
            f"{prefix}/{role}.mp4", SAMPLE_VIDEO, {"replica-name": f"{edges.run} together"}
        )

    threads = [threading.Thread(target=upload, args=(role,)) for role in ("train", "consent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sid = pair_submission_id(edges.stack["bucket"], name, etags["train"], etags["consent"])
    assert_one_replica_trained_and_completed(edges, sid, "together")


def test_the_same_object_written_twice_is_one_replica(edges: Edges) -> None:
    sid = submit(edges, "twice")
    assert submit(edges, "twice") == sid

    assert_one_replica_trained_and_completed(edges, sid, "twice")


def wait_for_item(edges: Edges, key_part: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(item["status"] == status for item in edges.items_for(key_part)):
            return
        time.sleep(0.25)
    raise AssertionError(f"no item for {key_part} reached {status}")

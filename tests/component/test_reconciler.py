"""The reconciler heals lost callbacks and closes what waited too long."""

from __future__ import annotations

import pytest

from replica_pipeline.rules.states import Status
from replica_pipeline.services.ingest import ingest_notification
from tests.component.support import CrashAfterTavus, finish_in_tavus, submitted
from tests.harness import Pipeline


def test_a_lost_callback_is_healed_by_one_run(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])  # Tavus finished; its callback never came

    report = pipeline.invoke("reconciler", {"source": "aws.events"})

    assert report["healed"] == 1
    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["training_progress"]) == ("completed", 100)
    [event] = pipeline.status_events()
    assert (event["old_status"], event["new_status"]) == ("training", "completed")


def test_a_lost_error_callback_is_healed_with_tavus_message(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"], error="Face obstructed for too long")

    pipeline.invoke("reconciler", {})

    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["error_message"]) == ("error", "Face obstructed for too long")


def test_a_run_with_nothing_to_do_changes_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)

    report = pipeline.invoke("reconciler", {})

    assert report["checked"] == 1
    assert report["healed"] == 0
    assert pipeline.item(item["submission_id"])["status"] == "training"
    assert pipeline.status_events() == []


def test_half_pairs_older_than_the_timeout_are_rejected_with_a_reason(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/quinn/train.mp4")
    pipeline.deliver()
    waiting = pipeline.only_item()
    assert waiting["status"] == Status.WAITING_FOR_CONSENT.value
    pipeline.status_events()

    pipeline.environment["PAIR_TIMEOUT_HOURS"] = "0"  # everything is too old now
    report = pipeline.invoke("reconciler", {})

    assert report["half_pairs_rejected"] == 1
    after = pipeline.only_item()
    assert after["status"] == "rejected"
    assert "uploads/quinn/consent.mp4" in after["error_message"]


def test_a_submission_whose_invocation_died_is_adopted_from_tavus(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/rita.mp4")
    [body] = pipeline.notification_bodies()
    crashing = pipeline.deps()
    crashing.store = CrashAfterTavus(crashing.store.table)
    with pytest.raises(SystemExit):
        ingest_notification(body, crashing)
    # and its message was lost too (say, redriven nowhere): only the reconciler is left
    pipeline.environment["STALE_SUBMITTING_MINUTES"] = "0"
    pipeline.environment["SUBMIT_LEASE_SECONDS"] = "0"
    pipeline.store().release(
        pipeline.only_item()["submission_id"],
        pipeline.only_item()["claim_token"],
        pipeline.clock(),
        clean=False,
    )

    report = pipeline.invoke("reconciler", {})

    assert report["adopted"] == 1
    [replica] = pipeline.tavus_replicas()
    after = pipeline.only_item()
    assert (after["status"], after["replica_id"]) == ("training", replica["replica_id"])
    assert pipeline.tavus_stats()["creates"] == 1

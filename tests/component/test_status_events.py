"""No status change without its event: each change reaches the bus at least once, under one id.

The events are read where a consumer reads them: the local events queue, fed
by the EventBridge rule. A publisher that fails, or a process that dies between
the write and the publish, leaves the event in the item's outbox, and the
reconciler's sweep sends it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from replica_pipeline.adapters.events import EventBridgePublisher, Publisher, StatusChange
from replica_pipeline.adapters.outbox import PENDING_EVENTS, drain_pending_events
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.contracts.table_schema import EVENT_PENDING_ATTRIBUTE, PENDING_EVENT_INDEX
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item
from replica_pipeline.services.ingest import ingest_notification
from tests.component.support import finish_in_tavus, reconciler, retry, run, submitted
from tests.harness import Pipeline

TRAIN = "uploads/ines/train.mp4"
CONSENT = "uploads/ines/consent.mp4"


# -- publishers that fail the way production ones can ------------------------------


class RefusedOnce:
    """An EventBridge whose first PutEvents refuses the entry (as under throttling)."""

    def __init__(self) -> None:
        self.events = boto3.client("events")
        self.refused = 0

    def put_events(self, **request: Any) -> Any:
        if not self.refused:
            self.refused += 1
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}
        return self.events.put_events(**request)


def dies_before_publishing(change: StatusChange) -> bool:
    raise SystemExit("killed between the write and the publish")


def dies_after_publishing(publisher: Publisher) -> Publisher:
    """EventBridge takes the event; the process dies before taking it off the item."""

    def publish(change: StatusChange) -> bool:
        publisher(change)
        raise SystemExit("killed between the publish and the outbox removal")

    return publish


def store_with(pipeline: Pipeline, publisher: Publisher) -> ReplicaStore:
    return ReplicaStore(pipeline.table, on_change=publisher)


def outbox_of(pipeline: Pipeline, submission_id: str) -> set[str]:
    return set(pipeline.item(submission_id).get(PENDING_EVENTS, set()))


def outbox_index(pipeline: Pipeline) -> list[Item]:
    return list(
        pipeline.table.query(
            IndexName=PENDING_EVENT_INDEX,
            KeyConditionExpression=f"{EVENT_PENDING_ATTRIBUTE} = :marker",
            ExpressionAttributeValues={":marker": "1"},
        )["Items"]
    )


def sweep_later(pipeline: Pipeline) -> int:
    """The reconciler's sweep, once the grace for in-flight events is over."""
    pipeline.clock.advance(minutes=2)
    return drain_pending_events(pipeline.store(), pipeline.clock())


def ready(pipeline: Pipeline, item: Item) -> tuple[int, Any]:
    finish_in_tavus(pipeline, item["replica_id"])
    return pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )


# -- one event per change ------------------------------------------------------------


def test_every_status_change_arrives_once_under_its_own_id(pipeline: Pipeline) -> None:
    # given a drop that trains, fails, is retried and trains again
    pipeline.upload("uploads/lena.mp4")
    pipeline.deliver()
    sid = pipeline.only_item()["submission_id"]
    first = pipeline.item(sid)["replica_id"]
    finish_in_tavus(pipeline, first, error="no face")
    pipeline.post_callback({"replica_id": first, "status": "error"}, **pipeline.callback_query(sid))
    assert retry(pipeline, sid, {"attempt": 1})[0] == 202
    pipeline.deliver()

    # when a consumer reads the bus
    events = pipeline.status_events()

    # then it saw each change once, in its own words, each under its own id
    assert [(e["old_status"], e["new_status"]) for e in events] == [
        (None, "submitting"),
        ("submitting", "training"),
        ("training", "error"),
        ("error", "submitting"),
        ("submitting", "training"),
    ]
    assert len({e["event_id"] for e in events}) == 5
    assert events[0]["event_id"] == f"{sid}/1/submitting/"
    assert events[3]["event_id"] == f"{sid}/2/submitting/"
    assert all(e["event_id"].startswith(f"{sid}/") for e in events)
    # and nothing waits to be sent
    assert outbox_of(pipeline, sid) == set()
    assert outbox_index(pipeline) == []
    assert sweep_later(pipeline) == 0


def test_progress_events_are_told_apart_by_their_progress(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    store = pipeline.store()

    for progress in (40, 75):
        store.record_progress(item["submission_id"], item["replica_id"], progress, pipeline.clock())

    events = pipeline.status_events()
    assert [e["event_id"].rsplit("/", 2)[1:] for e in events] == [
        ["training", "40"],
        ["training", "75"],
    ]


def test_a_replayed_callback_announces_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    assert ready(pipeline, item)[0] == 200
    [completed] = pipeline.status_events()

    status, body = ready(pipeline, item)

    assert (status, body["changed"]) == (200, False)
    assert pipeline.status_events() == []
    assert outbox_of(pipeline, item["submission_id"]) == set()
    assert completed["event_id"] == f"{item['submission_id']}/1/completed/100"


def test_a_write_whose_condition_fails_leaves_nothing_to_send(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    store = pipeline.store()
    store.record_progress(item["submission_id"], item["replica_id"], 60, pipeline.clock())
    pipeline.status_events()

    # progress never falls, and news of another replica changes nothing
    assert (
        store.record_progress(item["submission_id"], item["replica_id"], 30, pipeline.clock())
        is None
    )
    assert store.record_progress(item["submission_id"], "r-other", 90, pipeline.clock()) is None

    assert pipeline.status_events() == []
    assert outbox_index(pipeline) == []


# -- nothing lost --------------------------------------------------------------------


def test_an_event_the_bus_refused_arrives_with_the_next_reconciler_run(
    pipeline: Pipeline,
) -> None:
    item = submitted(pipeline)
    sid = item["submission_id"]
    bus = RefusedOnce()
    flaky = store_with(
        pipeline, EventBridgePublisher(lambda: bus, pipeline.settings.event_bus_name)
    )

    # when EventBridge refuses the event of a change
    changed = flaky.record_progress(sid, item["replica_id"], 40, pipeline.clock())

    # then the change stands, its event waits on the item, and the caller never knew
    assert changed is not None
    assert changed["training_progress"] == 40
    assert pipeline.status_events() == []
    assert len(outbox_of(pipeline, sid)) == 1
    # a run within the grace leaves it to its writer
    assert run(reconciler(pipeline)).events_republished == 0
    assert pipeline.status_events() == []
    # the next change is announced at once; the refused event still waits
    pipeline.store().record_progress(sid, item["replica_id"], 60, pipeline.clock())
    [later] = pipeline.status_events()
    assert later["training_progress"] == 60
    assert len(outbox_of(pipeline, sid)) == 1

    # a run after the grace sends it, once
    pipeline.clock.advance(minutes=2)
    report = run(reconciler(pipeline))

    assert report.events_republished == 1
    [event] = pipeline.status_events()
    assert (event["new_status"], event["training_progress"]) == ("training", 40)
    assert event["event_id"] == f"{sid}/1/training/40"
    assert outbox_of(pipeline, sid) == set()
    assert outbox_index(pipeline) == []
    assert run(reconciler(pipeline)).events_republished == 0
    assert pipeline.status_events() == []


def test_a_crash_between_the_write_and_the_publish_loses_no_event(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    sid, rid = item["submission_id"], item["replica_id"]
    dying = store_with(pipeline, dies_before_publishing)

    with pytest.raises(SystemExit):
        dying.transition(
            sid,
            Status.COMPLETED,
            pipeline.clock(),
            fields={"training_progress": 100},
            expect={"replica_id": rid},
        )

    assert pipeline.item(sid)["status"] == "completed"
    assert pipeline.status_events() == []

    assert sweep_later(pipeline) == 1

    [event] = pipeline.status_events()
    assert (event["old_status"], event["new_status"]) == ("training", "completed")
    assert (event["replica_id"], event["training_progress"]) == (rid, 100)
    assert outbox_of(pipeline, sid) == set()


def test_a_resent_event_carries_the_same_id(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    sid = item["submission_id"]
    dying = store_with(pipeline, dies_after_publishing(pipeline.store().on_change))

    with pytest.raises(SystemExit):
        dying.record_progress(sid, item["replica_id"], 50, pipeline.clock())
    [sent] = pipeline.status_events()
    assert len(outbox_of(pipeline, sid)) == 1  # its sender died before taking it off

    assert sweep_later(pipeline) == 1

    [again] = pipeline.status_events()
    assert again == sent  # the same event, under the same id: a consumer drops it
    assert outbox_of(pipeline, sid) == set()
    assert sweep_later(pipeline) == 0


def test_an_event_made_from_a_stale_read_is_made_again_from_the_item(
    pipeline: Pipeline,
) -> None:
    item = submitted(pipeline)
    sid, rid = item["submission_id"], item["replica_id"]
    stale = {**pipeline.item(sid), "status": "submitting"}
    store = pipeline.store()

    class ReadsStale(ReplicaStore):
        reads = 0

        def get(self, submission_id: str) -> Item | None:
            self.reads += 1
            return stale if self.reads == 1 else super().get(submission_id)

    racing = ReadsStale(pipeline.table, on_change=store.on_change)
    changed = racing.transition(
        sid, Status.COMPLETED, pipeline.clock(), fields={"training_progress": 100}
    )

    assert changed is not None
    [event] = pipeline.status_events()
    assert (event["old_status"], event["replica_id"]) == ("training", rid)


# -- the end of a half pair --------------------------------------------------------


def test_a_retired_placeholder_announces_its_end(pipeline: Pipeline) -> None:
    pipeline.upload(TRAIN, metadata={"callback-tag": "crm-7"})
    pipeline.deliver()
    placeholder = pipeline.only_item()
    [waiting] = pipeline.status_events()
    assert waiting["new_status"] == "waiting_for_consent"

    pipeline.upload(CONSENT)
    pipeline.deliver()

    pair = pipeline.only_item()  # the placeholder is gone
    events = pipeline.status_events()
    [retired] = [e for e in events if e["submission_id"] == placeholder["submission_id"]]
    assert retired["old_status"] == "waiting_for_consent"
    assert retired["new_status"] == "retired"
    assert retired["superseded_by"] == pair["submission_id"]
    assert retired["callback_tag"] == "crm-7"
    assert retired["event_id"] == f"{placeholder['submission_id']}/0/retired/"
    assert [e["new_status"] for e in events if e["submission_id"] == pair["submission_id"]] == [
        "submitting",
        "training",
    ]
    assert outbox_index(pipeline) == []


def test_a_placeholder_whose_retirer_died_is_closed_by_the_sweep(pipeline: Pipeline) -> None:
    pipeline.upload(TRAIN)
    pipeline.deliver()
    placeholder = pipeline.only_item()["submission_id"]
    pipeline.status_events()

    with pytest.raises(SystemExit):
        store_with(pipeline, dies_before_publishing).retire_waiting(
            placeholder, "the-pair", pipeline.clock()
        )
    assert pipeline.item(placeholder)["retired_by"] == "the-pair"  # marked, not yet gone

    assert sweep_later(pipeline) == 1

    [retired] = pipeline.status_events()
    assert (retired["new_status"], retired["superseded_by"]) == ("retired", "the-pair")
    assert pipeline.items() == []


def test_a_placeholder_keeps_an_earlier_unsent_event_until_it_is_sent(
    pipeline: Pipeline,
) -> None:
    # given a placeholder whose own "waiting" event was never sent
    pipeline.upload(TRAIN)
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    deps.store = store_with(pipeline, dies_before_publishing)
    with pytest.raises(SystemExit):
        ingest_notification(body, deps)
    placeholder = pipeline.only_item()["submission_id"]

    # when its pair retires it
    pipeline.store().retire_waiting(placeholder, "the-pair", pipeline.clock())

    # then the closing event is out, but the placeholder stays until its other one is
    [retired] = pipeline.status_events()
    assert retired["new_status"] == "retired"
    assert pipeline.item(placeholder)["retired_by"] == "the-pair"
    assert sweep_later(pipeline) == 1
    [waiting] = pipeline.status_events()
    assert waiting["new_status"] == "waiting_for_consent"
    assert pipeline.items() == []

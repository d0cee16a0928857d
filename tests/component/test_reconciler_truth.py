"""The reconciler never writes a wrong status, and reaches every training item.

Tavus answers badly at times (5xx, an empty 200, ``{}``), forgets nothing for
good without saying so for a while, and news about an old replica must never
move a newer attempt. These tests drive the reconciler with the emulator's
faults and a fake clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import TavusRateLimited
from replica_pipeline.clock import iso
from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Item, Submission, SubmissionKind
from replica_pipeline_local.stack.tavus_emulator import Replica
from tests.component.support import (
    CountingTavus,
    finish_in_tavus,
    reconciler,
    retry,
    run,
    submitted,
)
from tests.harness import Pipeline

# -- bad answers change nothing --------------------------------------------------


@pytest.mark.faults
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"get_errors": [500, 502, 503, 504]}, id="5xx through every retry"),
        pytest.param({"get_garbage": 1}, id="an empty 200"),
        pytest.param({"get_garbage": 2}, id="a bare list, after an empty 200"),
    ],
)
def test_a_bad_get_replica_answer_changes_nothing(
    pipeline: Pipeline, fault: dict[str, Any]
) -> None:
    item = submitted(pipeline)
    sid, rid = item["submission_id"], item["replica_id"]
    pipeline.inject_faults(**fault)
    # an empty 200 first, so the second garbage answer is the next shape
    if fault.get("get_garbage") == 2:
        run(reconciler(pipeline))

    report = run(reconciler(pipeline))

    after = pipeline.item(sid)
    assert (after["status"], after["replica_id"]) == ("training", rid)
    assert "unknown_since" not in after
    assert report.unconfirmed == 1
    assert report.unknown == 0
    assert pipeline.status_events() == []
    # Tavus recovers and the replica has finished: the next run applies it
    finish_in_tavus(pipeline, rid)
    run(reconciler(pipeline))
    assert pipeline.item(sid)["status"] == "completed"


def test_an_empty_object_is_not_a_replica(pipeline: Pipeline) -> None:
    item = submitted(pipeline)

    class EmptyObjects(CountingTavus):
        def _call(self, method: str, path: str, deadline: float | None, **kwargs: Any) -> Any:
            return {}

    report = run(reconciler(pipeline, client=EmptyObjects))

    assert report.unconfirmed == 1
    assert pipeline.item(item["submission_id"])["status"] == "training"


# -- "unknown" waits for its grace period ------------------------------------------


def forget_in_tavus(pipeline: Pipeline, replica_id: str) -> None:
    with pipeline.emulator.lock:
        pipeline.emulator.replicas[replica_id].deleted = True


def test_an_unknown_replica_is_marked_error_only_after_the_grace_period(
    pipeline: Pipeline,
) -> None:
    item = submitted(pipeline)
    sid, rid = item["submission_id"], item["replica_id"]
    forget_in_tavus(pipeline, rid)

    first = run(reconciler(pipeline))
    assert first.unknown == 1
    assert pipeline.item(sid)["status"] == "training"
    pipeline.clock.advance(minutes=59)
    run(reconciler(pipeline))
    assert pipeline.item(sid)["status"] == "training"
    assert pipeline.status_events() == []

    pipeline.clock.advance(minutes=2)
    last = run(reconciler(pipeline))

    after = pipeline.item(sid)
    assert last.unknown_errors == 1
    assert after["status"] == "error"
    assert f"Tavus has not known replica {rid} since" in after["error_message"]
    assert "3 checks over at least 1 h" in after["error_message"]
    [event] = pipeline.status_events()
    assert (event["old_status"], event["new_status"]) == ("training", "error")


def test_one_long_gap_between_two_checks_is_not_enough(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    forget_in_tavus(pipeline, item["replica_id"])
    pipeline.clock.advance(hours=5)  # the item is old, but Tavus was asked only now

    run(reconciler(pipeline))

    assert pipeline.item(item["submission_id"])["status"] == "training"


def test_a_replica_tavus_knows_again_starts_its_grace_afresh(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    sid, rid = item["submission_id"], item["replica_id"]
    forget_in_tavus(pipeline, rid)
    run(reconciler(pipeline))
    assert "unknown_since" in pipeline.item(sid)

    with pipeline.emulator.lock:
        pipeline.emulator.replicas[rid].deleted = False
    pipeline.clock.advance(minutes=45)
    run(reconciler(pipeline))
    assert "unknown_since" not in pipeline.item(sid)

    forget_in_tavus(pipeline, rid)
    pipeline.clock.advance(minutes=45)
    run(reconciler(pipeline))
    pipeline.clock.advance(minutes=45)
    run(reconciler(pipeline))
    assert pipeline.item(sid)["status"] == "training"  # 45 min unknown, not 90


@pytest.mark.faults
def test_many_unknown_replicas_at_once_change_nothing_and_raise_the_alarm(
    pipeline: Pipeline,
) -> None:
    items = training_items(pipeline, 6)
    for item in items:
        forget_in_tavus(pipeline, item["replica_id"])

    for _ in range(3):
        report = run(reconciler(pipeline, max_unknown_per_run=4))
        pipeline.clock.advance(hours=1)

    assert report.tavus_suspect
    assert report.unknown == 5  # it stopped asking once Tavus was not believable
    for item in items:
        after = pipeline.item(item["submission_id"])
        assert after["status"] == "training"
        assert "unknown_since" not in after


def test_the_handler_emits_the_alarm_metric_every_run(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    submitted(pipeline)
    capsys.readouterr()

    pipeline.invoke("reconciler", {})

    assert '"TavusForgotReplicas":[0.0]' in capsys.readouterr().out.replace(" ", "")


# -- news about an old replica ------------------------------------------------------


class RetryDuringTheRun(ReplicaStore):
    """A store whose training batch is read, then a person retries before Tavus is asked."""

    pipeline: Pipeline

    def query_status(self, status: Status, **kwargs: Any) -> tuple[list[Item], Item | None]:
        page = super().query_status(status, **kwargs)
        if status is Status.TRAINING and page[0]:
            sid = page[0][0]["submission_id"]
            self.pipeline.store().transition(
                sid, Status.ERROR, self.pipeline.clock(), fields={"error_message": "no face"}
            )
            assert retry(self.pipeline, sid, {"attempt": 1})[0] == 202
            self.pipeline.deliver()
        return page


def test_a_stale_batch_racing_a_retry_leaves_the_new_attempt_training(
    pipeline: Pipeline,
) -> None:
    item = submitted(pipeline)
    sid, first = item["submission_id"], item["replica_id"]
    finish_in_tavus(pipeline, first, error="no face")  # what the stale batch will learn
    store = RetryDuringTheRun(pipeline.table, on_change=pipeline.store().on_change)
    store.pipeline = pipeline

    run(reconciler(pipeline, store=store))

    after = pipeline.item(sid)
    second = after["replica_id"]
    assert second != first
    assert (after["status"], after["attempts"]) == ("training", 2)
    # the new attempt trains on and completes
    finish_in_tavus(pipeline, second)
    run(reconciler(pipeline))
    done = pipeline.item(sid)
    assert (done["status"], done["replica_id"]) == ("completed", second)
    assert pipeline.tavus_stats()["creates"] == 2


# -- every item, every period ---------------------------------------------------------


def training_items(pipeline: Pipeline, count: int) -> list[Item]:
    """``count`` submissions training in Tavus, as the ingest leaves them (their events sent)."""
    now = pipeline.clock()
    items = []
    with pipeline.table.batch_writer() as batch:
        for n in range(count):
            replica = Replica(
                replica_id=f"r{n:04d}x",
                replica_name=f"bulk {n}",
                model_name=None,
                created_at=now,
                request={},
            )
            pipeline.emulator.replicas[replica.replica_id] = replica
            at = iso(now + timedelta(microseconds=n))  # a distinct place in the index each
            item = Submission(
                submission_id=f"bulk-{n:04d}",
                kind=SubmissionKind.COMBINED,
                bucket=pipeline.resources.bucket,
                name=f"bulk {n}",
                replica_name=f"bulk {n}",
                training_key=f"uploads/bulk-{n}.mp4",
            ).attributes()
            item.update(
                status=Status.TRAINING.value,
                replica_id=replica.replica_id,
                training_progress=0,
                attempts=1,
                created_at=at,
                updated_at=at,
                history=[{"status": "submitting", "at": at}, {"status": "training", "at": at}],
            )
            batch.put_item(Item=item)
            items.append(item)
    return items


def test_250_training_items_are_all_asked_about_in_one_run(pipeline: Pipeline) -> None:
    items = training_items(pipeline, 250)
    finished = items[::5]  # spread over every page, the last included
    for item in finished:  # Tavus finished these; every one of their callbacks was lost
        finish_in_tavus(pipeline, item["replica_id"])
    asked: list[str] = []

    report = run(reconciler(pipeline, asked=asked, batch_size=100))

    assert sorted(asked) == sorted(item["replica_id"] for item in items)
    assert (report.checked, report.healed, report.tavus_calls) == (250, 50, 250)
    assert report.finished_round
    healed = {pipeline.item(item["submission_id"])["status"] for item in finished}
    assert healed == {"completed"}
    assert len(pipeline.status_events()) == 50


class RateLimitedAfter(CountingTavus):
    """Tavus starts answering 429 after this many Get Replica calls (in one run)."""

    limit = 100

    def get_replica(self, replica_id: str, **kwargs: Any) -> dict[str, Any] | None:
        if len(self.asked) >= self.limit:
            raise TavusRateLimited("429 from Tavus", 60)
        return super().get_replica(replica_id, **kwargs)


def test_a_run_that_stops_early_is_carried_on_by_the_next(pipeline: Pipeline) -> None:
    items = training_items(pipeline, 250)
    order = [item["replica_id"] for item in items]
    first_run: list[str] = []

    stopped = run(reconciler(pipeline, asked=first_run, client=RateLimitedAfter, batch_size=100))
    second_run: list[str] = []
    run(reconciler(pipeline, asked=second_run, batch_size=100))

    assert stopped.tavus_unavailable
    assert not stopped.finished_round
    assert first_run == order[:100]
    # the next run starts after the last one asked about, and rounds back to it
    assert second_run == order[100:] + order[:99]


def test_runs_do_not_overlap(pipeline: Pipeline) -> None:
    submitted(pipeline)
    store = pipeline.store()
    now = pipeline.clock()
    holder = store.begin_reconcile(now, now + timedelta(minutes=5))
    assert holder is not None

    report = run(reconciler(pipeline))

    assert report.overlapping
    assert report.checked == 0
    store.end_reconcile(holder, None)
    assert not run(reconciler(pipeline)).overlapping


def test_a_crashed_run_lets_go_when_its_hold_ends(pipeline: Pipeline) -> None:
    store = pipeline.store()
    now = pipeline.clock()
    assert store.begin_reconcile(now, now + timedelta(minutes=5)) is not None  # never ended

    pipeline.clock.advance(minutes=6)

    assert not run(reconciler(pipeline)).overlapping


def test_stale_submissions_are_looked_up_with_one_listing(pipeline: Pipeline) -> None:
    store = pipeline.store()
    now = pipeline.clock()
    for n in range(3):
        submission = Submission(
            submission_id=f"lost-{n}",
            kind=SubmissionKind.COMBINED,
            bucket=pipeline.resources.bucket,
            name=f"lost {n}",
            replica_name=f"lost {n}",
            training_key=f"uploads/lost-{n}.mp4",
            tavus_replica_name=f"lost {n} [lost-{n}]",
        )
        store.claim(submission, now, timedelta(seconds=0))
    listings = []

    class CountingListings(CountingTavus):
        def list_user_replicas(self, **kwargs: Any) -> list[dict[str, Any]]:
            listings.append(1)
            return super().list_user_replicas(**kwargs)

    pipeline.clock.advance(hours=1)
    report = run(reconciler(pipeline, client=CountingListings))

    assert report.checked == 3
    assert len(listings) == 1

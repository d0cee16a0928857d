"""Callback URLs name their submission: a callback finds its item at once, and only it.

The token is the HMAC of the submission id the URL names, so it is checked
before anything is read; the item is then read consistently, so a callback
that beats the ingest's write of ``replica_id`` (or the index) still lands.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.config import CALLBACK_TIMEOUT_SECONDS
from replica_pipeline.rules.states import Status
from replica_pipeline.services.callbacks import confirming_settings
from replica_pipeline.services.ingest import ingest_notification
from tests.component.support import finish_in_tavus, submitted
from tests.harness import Pipeline


def url_given_to_tavus(pipeline: Pipeline, replica_id: str) -> dict[str, str]:
    """The query of the callback URL the ingest put in Create Replica, as Tavus got it."""
    [replica] = [r for r in pipeline.tavus_replicas() if r["replica_id"] == replica_id]
    query = parse_qs(urlsplit(replica["request"]["callback_url"]).query)
    return {name: values[0] for name, values in query.items()}


def test_the_callback_url_names_the_submission(pipeline: Pipeline) -> None:
    item = submitted(pipeline)

    query = url_given_to_tavus(pipeline, item["replica_id"])

    assert query == {
        "submission": item["submission_id"],
        "token": pipeline.token_for(item["submission_id"]),
    }


class TavusCallsBackFirst(ReplicaStore):
    """Tavus's callback arrives between Create Replica's answer and the ingest's write."""

    pipeline: Pipeline
    news: dict[str, Any]
    answers: list[tuple[int, Any]]

    def transition(self, submission_id: str, new: Status, *args: Any, **kwargs: Any) -> Any:
        if new is Status.TRAINING and not self.answers:
            [replica] = self.pipeline.tavus_replicas()
            if self.news["status"] == "ready":
                finish_in_tavus(self.pipeline, replica["replica_id"])
            query = url_given_to_tavus(self.pipeline, replica["replica_id"])
            self.answers.append(
                self.pipeline.post_callback(
                    {**self.news, "replica_id": replica["replica_id"]},
                    token=query["token"],
                    submission=query["submission"],
                )
            )
        return super().transition(submission_id, new, *args, **kwargs)


@pytest.mark.parametrize(
    ("news", "status", "progress"),
    [
        pytest.param({"status": "ready"}, "completed", 100, id="completion"),
        pytest.param(
            {"status": "training", "training_progress": "10/100"}, "training", 10, id="progress"
        ),
    ],
)
def test_a_callback_before_the_replica_id_is_written_lands_at_once(
    pipeline: Pipeline, news: dict[str, Any], status: str, progress: int
) -> None:
    pipeline.upload("uploads/early.mp4")
    [body] = pipeline.notification_bodies()
    deps = pipeline.deps()
    store = TavusCallsBackFirst(deps.store.table, on_change=deps.store.on_change)
    store.pipeline, store.news, store.answers = pipeline, news, []
    deps.store = store

    ingest_notification(body, deps)

    [(code, answer)] = store.answers
    assert (code, answer["changed"], answer["status"]) == (200, True, status)
    [replica] = pipeline.tavus_replicas()
    after = pipeline.only_item()
    assert (after["status"], after["replica_id"]) == (status, replica["replica_id"])
    assert after["training_progress"] == progress
    assert "claim_token" not in after
    assert pipeline.tavus_stats()["creates"] == 1
    events = [(e["old_status"], e["new_status"]) for e in pipeline.status_events()]
    assert events == [(None, "submitting"), ("submitting", status)]


@pytest.mark.security
def test_a_wrong_token_for_the_named_submission_is_403_and_writes_nothing(
    pipeline: Pipeline,
) -> None:
    item = submitted(pipeline)
    other = submitted(pipeline, "uploads/other.mp4")
    before = pipeline.items()
    news = {"replica_id": item["replica_id"], "status": "ready"}

    forged = pipeline.post_callback(news, submission=item["submission_id"], token="f" * 64)
    borrowed = pipeline.post_callback(
        news, submission=item["submission_id"], token=pipeline.token_for(other["submission_id"])
    )

    assert forged[0] == borrowed[0] == 403
    assert pipeline.items() == before


@pytest.mark.security
def test_the_token_is_checked_before_the_submission_is_looked_up(pipeline: Pipeline) -> None:
    """A caller without the token cannot tell a real submission from an invented one."""
    item = submitted(pipeline)
    news = {"replica_id": item["replica_id"], "status": "ready"}

    real = pipeline.post_callback(news, submission=item["submission_id"], token="f" * 64)
    invented = pipeline.post_callback(news, submission="no-such-submission", token="f" * 64)

    assert real == invented == (403, {"error": "callback token is not valid for this submission"})


def test_a_valid_token_for_a_missing_submission_is_404(pipeline: Pipeline) -> None:
    status, answer = pipeline.post_callback(
        {"replica_id": "r-gone", "status": "ready"}, **pipeline.callback_query("deleted-by-hand")
    )

    assert (status, answer) == (404, {"error": "no such submission"})


def test_news_about_another_replica_changes_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    other = submitted(pipeline, "uploads/other.mp4")
    finish_in_tavus(pipeline, other["replica_id"])

    status, answer = pipeline.post_callback(
        {"replica_id": other["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, answer["changed"], answer["status"]) == (200, False, "training")
    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["replica_id"]) == ("training", item["replica_id"])
    assert "not this attempt's: ignored" in after["history"][-1]["note"]
    assert pipeline.item(other["submission_id"])["status"] == "training"
    assert pipeline.status_events() == []


def test_confirmation_fits_well_inside_the_callback_timeout(pipeline: Pipeline) -> None:
    quick = confirming_settings(pipeline.settings.tavus)

    assert quick.max_retries == 0  # so no Retry-After is ever waited for
    assert quick.slowest_call_seconds <= CALLBACK_TIMEOUT_SECONDS / 3


@pytest.mark.faults
def test_a_rate_limited_confirmation_applies_the_callback_word(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])
    pipeline.inject_faults(rate_limit_seconds=600, retry_after_seconds=20)

    status, answer = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, answer["status"]) == (200, "completed")

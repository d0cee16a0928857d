"""The deep check in the local stack (`--deep-check`, deep_check in cdk.json): from the edges.

A video dropped into the bucket shows `checking`, then either `rejected` with the
visual reason and no Create Replica, or goes on to Tavus and completes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import local_stack
from tests.integration.edges import Edges, submit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deep_checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    for description in local_stack(
        tmp_path_factory.mktemp("deep-check-stack"), flags=("--deep-check",)
    ):
        yield Edges(description)


def test_the_stack_says_where_the_deep_check_queues_are(deep_checked: Edges) -> None:
    assert deep_checked.stack["deep_check_queue_url"].endswith("-deep-check")
    assert deep_checked.stack["deep_check_dlq_url"].endswith("-deep-check-dlq")


def test_a_clip_with_two_people_is_rejected_with_the_reason_and_never_sent(
    deep_checked: Edges, two_people_clip: Path
) -> None:
    sid = submit(deep_checked, "two-people", two_people_clip)

    item = deep_checked.wait_for(sid, timeout=120)

    assert item["status"] == "rejected"
    assert "second face in view" in item["error_message"]
    assert [entry["status"] for entry in item["history"]] == ["checking", "rejected"]
    [finding] = [f for f in item["check_findings"] if f["verdict"] == "fail"]
    assert (finding["check"], finding["prevents"]) == ("second_face", "second_person")
    assert finding["at_seconds"][0] == 0.0
    assert deep_checked.created_in_tavus(deep_checked.run) == []


def test_a_good_recording_is_checked_then_trained_once(deep_checked: Edges) -> None:
    sid = submit(deep_checked, "good")

    item = deep_checked.wait_for(sid, timeout=120)

    assert item["status"] == "completed"
    statuses = [entry["status"] for entry in item["history"]]
    assert statuses[:3] == ["checking", "submitting", "training"]
    assert item["checked_at"]
    assert item["check_findings"] == []
    assert len(deep_checked.created_in_tavus(deep_checked.run)) == 1

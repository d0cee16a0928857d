"""The status API through API Gateway's proxy events: lists, lookups, errors, OpenAPI."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from openapi_spec_validator import validate

from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Submission, SubmissionKind
from tests.harness import Pipeline


def get(pipeline: Pipeline, raw_path: str, resource: str = "/replicas") -> tuple[int, Any]:
    return pipeline.request("status_api", "GET", raw_path, resource=resource)


def seed(pipeline: Pipeline, count: int, status: Status, start: int = 0) -> list[str]:
    """``count`` items in ``status``, one second apart (newest last)."""
    store = pipeline.store()
    ids = []
    for n in range(start, start + count):
        sid = f"sub-{n:03d}"
        store.create(
            Submission(sid, SubmissionKind.COMBINED, "bucket", f"name-{n}", f"Name {n}"),
            status,
            pipeline.clock(),
            error_message="too short" if status is Status.REJECTED else None,
        )
        pipeline.clock.advance(seconds=1)
        ids.append(sid)
    return ids


def walk(pipeline: Pipeline, query: str) -> tuple[list[str], int]:
    """Follow ``next`` to the end: every id in order, and how many pages it took."""
    ids: list[str] = []
    pages = 0
    cursor = None
    while True:
        path = f"/replicas?{query}" + (f"&next={quote(cursor)}" if cursor else "")
        status, body = get(pipeline, path)
        assert status == 200, body
        pages += 1
        ids.extend(item["submission_id"] for item in body["items"])
        cursor = body["next"]
        if not cursor:
            return ids, pages


def test_unfiltered_pages_are_newest_first_across_statuses(pipeline: Pipeline) -> None:
    rejected = seed(pipeline, 4, Status.REJECTED)
    waiting = seed(pipeline, 3, Status.WAITING_FOR_CONSENT, start=10)
    more_rejected = seed(pipeline, 2, Status.REJECTED, start=20)

    ids, pages = walk(pipeline, "limit=3")

    assert ids == list(reversed(rejected + waiting + more_rejected))
    assert pages == 3


def test_a_status_filter_pages_through_the_index(pipeline: Pipeline) -> None:
    rejected = seed(pipeline, 7, Status.REJECTED)
    seed(pipeline, 3, Status.WAITING_FOR_TRAINING, start=10)

    ids, pages = walk(pipeline, "status=rejected&limit=3")

    assert ids == list(reversed(rejected))
    assert pages == 3


def test_the_default_page_is_25(pipeline: Pipeline) -> None:
    seed(pipeline, 27, Status.REJECTED)
    status, body = get(pipeline, "/replicas")
    assert status == 200
    assert len(body["items"]) == 25
    assert body["next"]


def test_one_item_by_submission_id_and_by_replica_id(pipeline: Pipeline) -> None:
    pipeline.upload("uploads/pia.mp4")
    pipeline.deliver()
    item = pipeline.only_item()

    status, by_id = get(pipeline, f"/replicas/{item['submission_id']}", "/replicas/{submission_id}")
    assert status == 200
    assert by_id["status"] == "training"
    assert by_id["replica_id"] == item["replica_id"]
    assert by_id["training_key"] == "uploads/pia.mp4"
    assert [entry["status"] for entry in by_id["history"]] == ["submitting", "training"]
    assert "claim_token" not in by_id

    status, by_replica = get(
        pipeline,
        f"/replicas/by-replica/{item['replica_id']}",
        "/replicas/by-replica/{replica_id}",
    )
    assert (status, by_replica) == (200, by_id)


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/replicas/nope", "/replicas/{submission_id}"),
        ("/replicas/by-replica/r-nope", "/replicas/by-replica/{replica_id}"),
    ],
)
def test_absent_items_are_404_with_a_json_error(
    pipeline: Pipeline, path: str, resource: str
) -> None:
    status, body = get(pipeline, path, resource)
    assert status == 404
    assert "nope" in body["error"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "status=sleeping",
        "next=%25%25",
        "next=bm9wZQ",
        "next=x~y",
    ],
)
def test_bad_parameters_are_400(pipeline: Pipeline, query: str) -> None:
    status, body = get(pipeline, f"/replicas?{query}")
    assert status == 400
    assert body["error"]


def test_a_cursor_is_a_position_that_works_with_any_filter(pipeline: Pipeline) -> None:
    rejected = seed(pipeline, 3, Status.REJECTED)
    waiting = seed(pipeline, 3, Status.WAITING_FOR_CONSENT, start=10)
    _, first = get(pipeline, "/replicas?limit=2")  # the two newest: waiting items

    assert [i["submission_id"] for i in first["items"]] == waiting[:0:-1]
    status, body = get(pipeline, f"/replicas?status=rejected&next={quote(first['next'])}")

    assert status == 200
    assert [i["submission_id"] for i in body["items"]] == list(reversed(rejected))


def test_other_methods_are_405(pipeline: Pipeline) -> None:
    status, body = pipeline.request(
        "status_api", "DELETE", "/replicas/x", resource="/replicas/{submission_id}"
    )
    assert (status, body) == (405, {"error": "this resource is read-only: use GET"})


def test_the_openapi_document_is_valid_and_describes_every_route(pipeline: Pipeline) -> None:
    status, document = get(pipeline, "/openapi.json", "/openapi.json")
    assert status == 200
    validate(document)
    assert {"/replicas", "/replicas/{submission_id}", "/replicas/by-replica/{replica_id}"} <= set(
        document["paths"]
    )
    parameters = {p["name"] for p in document["paths"]["/replicas"]["get"]["parameters"]}
    assert parameters == {"status", "limit", "next"}
    retry = document["paths"]["/replicas/{submission_id}/retry"]
    assert set(retry) == {"post"}
    assert {"202", "400", "404", "409", "503"} <= set(retry["post"]["responses"])
    body_schema = retry["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/RetryBody"} in body_schema["anyOf"]
    assert set(document["components"]["schemas"]["RetryBody"]["properties"]) == {"attempt"}


def test_internal_claim_fields_never_leave_the_api(pipeline: Pipeline) -> None:
    pipeline.clock.advance(minutes=1)
    seed(pipeline, 1, Status.REJECTED)
    _, body = get(pipeline, "/replicas")
    assert not {"claim_token", "lease_until", "first_claimed_at"} & set(body["items"][0])

"""The pipeline speaking Tavus's faces vocabulary, and callbacks that name a ``face_id``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from replica_pipeline.config import TAVUS_API_VOCABULARY
from replica_pipeline.rules.states import Status
from replica_pipeline.services.callbacks import MalformedCallback, parse_callback
from replica_pipeline.services.ingest import Outcome, ingest_record
from replica_pipeline_local.stack.tavus_emulator import Faults
from tests.component.support import crash_after_create, finish_in_tavus, submitted
from tests.harness import Pipeline, make_pipeline


@pytest.fixture
def faces(aws: str) -> Iterator[Pipeline]:
    """A pipeline whose Tavus client speaks faces (TAVUS_API_VOCABULARY=faces)."""
    yield from make_pipeline(aws, **{TAVUS_API_VOCABULARY: "faces"})


# -- callbacks name a face_id ------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"face_id": "f1", "status": "ready"}, id="flat"),
        pytest.param(
            {"event_type": "face.training", "properties": {"face_id": "f1", "status": "ready"}},
            id="in an envelope",
        ),
        pytest.param(
            {"replica_id": " ", "face_id": "f1", "status": "ready"}, id="a blank legacy id"
        ),
    ],
)
def test_a_face_id_callback_is_read_like_a_replica_id_one(payload: dict[str, object]) -> None:
    parsed = parse_callback(json.dumps(payload).encode())

    assert parsed.replica_id == "f1"
    assert parsed.observation.status is Status.COMPLETED


def test_a_face_error_callback_keeps_tavus_message() -> None:
    body = {"face_id": "f2", "status": "error", "error_message": "Face obstructed"}

    parsed = parse_callback(json.dumps(body).encode())

    assert (parsed.observation.status, parsed.observation.error_message) == (
        Status.ERROR,
        "Face obstructed",
    )


def test_a_callback_naming_neither_is_refused_saying_what_is_missing() -> None:
    with pytest.raises(MalformedCallback, match="no replica_id \\(or face_id\\)"):
        parse_callback(b'{"id": "f3", "status": "ready"}')


def test_a_replicas_pipeline_accepts_a_face_id_callback(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])

    status, body = pipeline.post_callback(
        {"face_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, body["status"], body["changed"]) == (200, "completed", True)


# -- the pipeline in the faces vocabulary --------------------------------------------


def test_a_drop_becomes_a_face_named_and_completed_in_faces_words(faces: Pipeline) -> None:
    item = submitted(faces)
    finish_in_tavus(faces, item["replica_id"])

    status, body = faces.post_callback(
        {"face_id": item["replica_id"], "status": "ready"},
        **faces.callback_query(item["submission_id"]),
    )

    assert (status, body["status"]) == (200, "completed")
    request = faces.emulator.replicas[item["replica_id"]].request
    assert request["face_name"] == item["tavus_replica_name"]
    assert "replica_name" not in request
    # created, then confirmed with Get Face: never a word of the replicas vocabulary
    assert set(faces.emulator.calls) == {"POST /v2/faces", "GET /v2/faces"}
    # our own record keeps our names, whatever Tavus calls it
    assert faces.item(item["submission_id"])["replica_id"] == item["replica_id"]


def test_the_reconciler_heals_a_lost_callback_through_get_face(faces: Pipeline) -> None:
    item = submitted(faces)
    finish_in_tavus(faces, item["replica_id"], error="Face obstructed for too long")

    faces.invoke("reconciler", {})

    after = faces.item(item["submission_id"])
    assert (after["status"], after["error_message"]) == ("error", "Face obstructed for too long")
    assert faces.emulator.calls["GET /v2/faces"] == 1


def test_an_interrupted_attempt_is_adopted_from_a_faces_listing_full_of_stock(
    faces: Pipeline,
) -> None:
    body = crash_after_create(faces, "uploads/fay.mp4")
    faces.emulator.set_faults(Faults(list_page_cap=2, stock_replicas=5))

    assert ingest_record(body, faces.deps()) == [Outcome.ADOPTED]
    assert faces.emulator.stats["creates"] == 1
    assert faces.emulator.calls["GET /v2/faces"] >= 1
    assert faces.only_item()["status"] == Status.TRAINING.value

"""The local stack speaking Tavus's faces vocabulary, from its edges: a drop becomes a face."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from replica_pipeline.config import TAVUS_API_VOCABULARY
from tests.integration.conftest import local_stack
from tests.integration.edges import Edges, submit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    """A stack whose handlers speak faces, and an emulator that calls back with face_id."""
    for description in local_stack(
        tmp_path_factory.mktemp("faces-stack"), f"{TAVUS_API_VOCABULARY}=faces"
    ):
        edges = Edges(description)
        edges.inject_faults(callback_vocabulary="faces")
        yield edges


def test_a_drop_becomes_a_ready_face_through_faces_callbacks(faces: Edges) -> None:
    sid = submit(faces, "faye")

    item = faces.wait_for(sid)

    assert item["status"] == "completed"
    assert item["training_progress"] == 100
    [face] = [
        r
        for r in faces.tavus("/_emulator/replicas")["data"]
        if r["replica_id"] == item["replica_id"]
    ]
    # created through /v2/faces: the name went out as face_name
    assert face["request"]["face_name"].startswith(f"{faces.run} faye [")
    assert "replica_name" not in face["request"]
    # Tavus's callback named a face_id, and the callback function took it. The item
    # may read completed before the emulator has noted the callback's answer: wait for it.
    callbacks = faces.wait_for_callbacks(item["replica_id"], 1)
    assert [c["body"] for c in callbacks] == [{"face_id": item["replica_id"], "status": "ready"}]
    assert [c["status_code"] for c in callbacks] == [200]

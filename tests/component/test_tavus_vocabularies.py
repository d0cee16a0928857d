"""Tavus renamed replicas to faces: the client speaks either, reads both, and the emulator too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from replica_pipeline.adapters.tavus import FACES, REPLICAS, ReplicaRequest, TavusClient, normalized
from replica_pipeline.config import TavusSettings
from replica_pipeline_local.stack.tavus_emulator import Faults, TavusEmulator
from replica_pipeline_local.stack.tavus_training_errors import TRAINING_ERRORS

KEY = "vocabulary-test-key"
VIDEO = "http://127.0.0.1:9/video.mp4"  # nothing listens: the training fails, creation works
CONSENT = "http://127.0.0.1:9/consent.mp4"
VOCABULARY_NAMES = ["replicas", "faces"]


@pytest.fixture
def emulator() -> Iterator[TavusEmulator]:
    emulator = TavusEmulator(KEY, training_seconds=3600).start()
    yield emulator
    emulator.stop()


def client_for(emulator: TavusEmulator, vocabulary: str) -> TavusClient:
    settings = TavusSettings(
        api_url=emulator.url,
        api_key_secret_arn="arn",
        backoff_seconds=0.01,
        read_timeout=2.0,
        vocabulary=vocabulary,
    )
    return TavusClient(settings, KEY)


def raw(emulator: TavusEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One call to the emulator as any HTTP client would make it."""
    return requests.request(
        method, f"{emulator.url}{path}", headers={"x-api-key": KEY}, timeout=5, **kwargs
    )


# -- the client, in either vocabulary, against the emulator -------------------------


@pytest.mark.parametrize("vocabulary", VOCABULARY_NAMES)
def test_create_get_list_and_delete_in_either_vocabulary(
    emulator: TavusEmulator, vocabulary: str
) -> None:
    client = client_for(emulator, vocabulary)
    created = [client.create_replica(ReplicaRequest(VIDEO, name=f"v{n}")) for n in range(3)]

    replica = client.get_replica(created[0].replica_id, verbose=True)
    listed = client.list_user_replicas()
    client.delete_replica(created[1].replica_id)

    # the name went out under the path's own field, or the emulator would not know it
    assert replica is not None
    assert (replica["replica_id"], replica["replica_name"]) == (created[0].replica_id, "v0")
    assert replica["replica_type"] == "user"
    assert {(r["replica_id"], r["replica_name"]) for r in listed} == {
        (c.replica_id, f"v{n}") for n, c in enumerate(created)
    }
    assert client.get_replica(created[1].replica_id) is None
    path = client.vocabulary.path
    assert set(emulator.calls) == {f"POST {path}", f"GET {path}", f"DELETE {path}"}


def test_the_faces_client_words_its_create_body_in_faces_names(emulator: TavusEmulator) -> None:
    request = ReplicaRequest(
        VIDEO,
        name="Ada [0123abcd]",
        callback_url="http://127.0.0.1:9/callbacks/tavus?submission=s&token=t",
        consent_video_url=CONSENT,
        model_name="phoenix-4",
        properties={"gaze_correction": True},
    )

    created = client_for(emulator, "faces").create_replica(request)

    assert emulator.replicas[created.replica_id].request == {
        "train_video_url": VIDEO,
        "face_name": "Ada [0123abcd]",
        "callback_url": request.callback_url,
        # deprecated for faces, yet still the only way to hand Tavus a separate consent video
        "consent_video_url": CONSENT,
        "model_name": "phoenix-4",
        "properties": {"gaze_correction": True},
    }


@pytest.mark.parametrize("properties", [None, {}])
def test_no_properties_means_no_properties_field(
    emulator: TavusEmulator, properties: dict[str, Any] | None
) -> None:
    created = client_for(emulator, "replicas").create_replica(
        ReplicaRequest(VIDEO, name="plain", properties=properties)
    )

    assert emulator.replicas[created.replica_id].request == {
        "train_video_url": VIDEO,
        "replica_name": "plain",
    }


@pytest.mark.parametrize("vocabulary", VOCABULARY_NAMES)
def test_stock_replicas_are_asked_away_in_the_vocabulary_spoken(
    emulator: TavusEmulator, vocabulary: str
) -> None:
    client = client_for(emulator, vocabulary)
    mine = client.create_replica(ReplicaRequest(VIDEO, name="mine")).replica_id
    emulator.set_faults(Faults(stock_replicas=30))

    filtered = client.list_replicas(replica_type="user", verbose=True)

    # the emulator heeds only the filter named as its path names it: stock is gone
    assert filtered["total_count"] == 1
    assert [r["replica_id"] for r in client.list_user_replicas()] == [mine]


@pytest.mark.parametrize("vocabulary", VOCABULARY_NAMES)
def test_a_listing_narrowed_to_some_ids(emulator: TavusEmulator, vocabulary: str) -> None:
    client = client_for(emulator, vocabulary)
    ids = [client.create_replica(ReplicaRequest(VIDEO)).replica_id for _ in range(4)]

    page = client.list_replicas(replica_ids=ids[1:3])

    assert page["total_count"] == 2
    id_field = client.vocabulary.id_field
    assert {item[id_field] for item in page["data"]} == set(ids[1:3])


def test_answers_in_either_vocabulary_reach_the_pipeline_under_one_set_of_names() -> None:
    face = {"face_id": "f1", "face_name": "Ada", "face_type": "user", "status": "completed"}
    both = {**face, "replica_id": "f1", "replica_name": "Ada (legacy)"}

    assert normalized(face, FACES) == {
        "replica_id": "f1",
        "replica_name": "Ada",
        "replica_type": "user",
        "status": "completed",
    }
    assert normalized(face, REPLICAS)["replica_id"] == "f1"  # Tavus answered in faces anyway
    assert normalized(both, FACES)["replica_name"] == "Ada"  # the vocabulary asked in wins
    assert normalized(both, REPLICAS)["replica_name"] == "Ada (legacy)"
    assert "face_name" not in normalized(both, FACES)


# -- the emulator, as Tavus documents it ----------------------------------------------


def test_the_emulator_answers_each_path_in_its_own_names_from_one_store(
    emulator: TavusEmulator,
) -> None:
    created = raw(emulator, "POST", "/v2/faces", json={"train_video_url": VIDEO, "face_name": "F"})
    face_id = created.json()["face_id"]

    as_face = raw(emulator, "GET", f"/v2/faces/{face_id}", params={"verbose": "true"}).json()
    as_replica = raw(emulator, "GET", f"/v2/replicas/{face_id}", params={"verbose": "true"})
    faces_page = raw(emulator, "GET", "/v2/faces", params={"face_ids": face_id}).json()

    assert created.status_code == 200
    assert "replica_id" not in created.json()
    assert (as_face["face_id"], as_face["face_name"], as_face["face_type"]) == (
        face_id,
        "F",
        "user",
    )
    assert not {"replica_id", "replica_name", "replica_type"} & set(as_face)
    assert as_replica.json()["replica_name"] == "F"
    assert [item["face_id"] for item in faces_page["data"]] == [face_id]
    unknown = raw(emulator, "GET", "/v2/faces/f-nope")
    assert (unknown.status_code, unknown.json()) == (400, {"error": "Invalid face_id"})


@pytest.mark.parametrize(
    ("path", "type_field", "id_field"),
    [("/v2/replicas", "replica_type", "replica_id"), ("/v2/faces", "face_type", "face_id")],
)
def test_stock_replicas_are_listed_unfiltered_and_readable(
    emulator: TavusEmulator, path: str, type_field: str, id_field: str
) -> None:
    raw(emulator, "POST", path, json={"train_video_url": VIDEO})
    emulator.set_faults(Faults(stock_replicas=3))

    everything = raw(emulator, "GET", path, params={"verbose": "true"}).json()
    stock = raw(emulator, "GET", path, params={"verbose": "true", type_field: "system"}).json()
    one = raw(emulator, "GET", f"{path}/{stock['data'][0][id_field]}").json()

    assert everything["total_count"] == 4
    assert sorted(item[type_field] for item in everything["data"]) == ["system"] * 3 + ["user"]
    assert stock["total_count"] == 3
    assert one["status"] == "completed"


@pytest.mark.parametrize("path", ["/v2/replicas", "/v2/faces"])
def test_a_video_and_an_image_together_are_refused(emulator: TavusEmulator, path: str) -> None:
    answer = raw(
        emulator,
        "POST",
        path,
        json={"train_video_url": VIDEO, "train_image_url": "http://127.0.0.1:9/me.png"},
    )

    assert answer.status_code == 400
    assert "train_video_url" in answer.json()["error"]
    assert "train_image_url" in answer.json()["error"]
    assert emulator.stats["creates"] == 0


def test_an_image_alone_with_a_voice_is_accepted(emulator: TavusEmulator) -> None:
    answer = raw(
        emulator,
        "POST",
        "/v2/faces",
        json={"train_image_url": "http://127.0.0.1:9/me.png", "voice_name": "Ada's voice"},
    )

    assert answer.status_code == 200
    assert answer.json()["face_id"]


class CallbackCatcher:
    """A callback URL on loopback that keeps what Tavus POSTs to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                catcher.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                catcher.arrived.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/callbacks/tavus"

    def first(self) -> dict[str, Any]:
        assert self.arrived.wait(30), "no callback came"
        return self.bodies[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def catcher() -> Iterator[CallbackCatcher]:
    catcher = CallbackCatcher()
    yield catcher
    catcher.close()


@pytest.mark.parametrize(
    ("callback_vocabulary", "id_field"), [(None, "replica_id"), ("faces", "face_id")]
)
def test_a_failed_download_calls_back_in_tavus_words_and_the_chosen_vocabulary(
    emulator: TavusEmulator,
    catcher: CallbackCatcher,
    callback_vocabulary: str | None,
    id_field: str,
) -> None:
    if callback_vocabulary:
        emulator.set_faults(Faults.parse({"callback_vocabulary": callback_vocabulary}))
    # the faces path does not decide the callback's names: Tavus documents none for faces
    created = raw(
        emulator, "POST", "/v2/faces", json={"train_video_url": VIDEO, "callback_url": catcher.url}
    ).json()

    callback = catcher.first()

    assert callback == {
        id_field: created["face_id"],
        "status": "error",
        "error_message": "There was an issue downloading your video file. Please ensure that "
        "the link you provided is correct and try again",
    }
    assert callback["error_message"] == TRAINING_ERRORS["download_link"]


def test_an_unknown_callback_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match="callback_vocabulary must be one of replicas, faces"):
        Faults.parse({"callback_vocabulary": "avatars"})

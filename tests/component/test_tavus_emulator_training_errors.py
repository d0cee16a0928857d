"""The emulator's ``fail_training`` presets: Tavus's message for each kind of training error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from replica_pipeline_local.stack.tavus_emulator import TavusEmulator
from replica_pipeline_local.stack.tavus_training_errors import TRAINING_ERRORS

KEY = "k"


class _Video(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"mp4!")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def video_url() -> Iterator[str]:
    """A training video Tavus can download, so training gets as far as the injected failure."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Video)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/train.mp4"
    server.shutdown()
    server.server_close()


class Tavus:
    """The emulator as the pipeline calls it, plus its control endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["x-api-key"] = KEY

    def faults(self, **faults: Any) -> requests.Response:
        return self.http.post(f"{self.url}/_emulator/faults", json=faults, timeout=5)

    def trained(self, video_url: str) -> dict[str, Any]:
        """Create a replica, wait for its training to end, and Get it."""
        body = {"train_video_url": video_url}
        created = self.http.post(f"{self.url}/v2/replicas", json=body, timeout=5)
        replica_id = created.json()["replica_id"]
        deadline = time.monotonic() + 5
        while True:
            replica: dict[str, Any] = self.http.get(
                f"{self.url}/v2/replicas/{replica_id}", timeout=5
            ).json()
            if replica["status"] != "started" or time.monotonic() > deadline:
                return replica
            time.sleep(0.02)


@pytest.fixture(scope="module")
def tavus() -> Iterator[Tavus]:
    emulator = TavusEmulator(KEY, training_seconds=3600).start()
    yield Tavus(emulator.url)
    emulator.stop()


@pytest.mark.parametrize("preset", TRAINING_ERRORS)
def test_a_preset_fails_training_with_tavus_message_for_it(
    tavus: Tavus, video_url: str, preset: str
) -> None:
    tavus.faults(fail_training=preset).raise_for_status()

    replica = tavus.trained(video_url)

    assert (replica["status"], replica["error_message"]) == ("error", TRAINING_ERRORS[preset])


def test_free_text_is_still_the_message_word_for_word(tavus: Tavus, video_url: str) -> None:
    tavus.faults(fail_training="boom").raise_for_status()

    assert tavus.trained(video_url)["error_message"] == "boom"


@pytest.mark.parametrize("value", ["video_durations", "", 42, ["video_fps"]])
def test_a_misspelt_preset_or_a_non_message_is_refused_with_the_presets(
    tavus: Tavus, value: Any
) -> None:
    answer = tavus.faults(fail_training=value)

    assert answer.status_code == 400
    assert "video_duration" in answer.json()["error"]


def test_the_download_preset_reads_as_tavus_documents_it() -> None:
    assert TRAINING_ERRORS["download_link"] == (
        "There was an issue downloading your video file. Please ensure that the link you "
        "provided is correct and try again"
    )
    assert TRAINING_ERRORS["video_duration"].endswith(
        "does not meet the minimum duration requirement for training"
    )

"""Retry from the edges: the HTTP API and the `replicas` CLI on the local stack."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from replica_pipeline.rules.identity import combined_submission_id
from tests.integration.edges import Edges

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.mp4"
TOO_SHORT = ROOT / "tests" / "data" / "short-20s.mp4"


def failed_training(edges: Edges, name: str) -> dict[str, Any]:
    """A drop whose Tavus training ends in error; the fault is cleared afterwards."""
    edges.inject_faults(fail_training="The training video has no visible face.")
    key = edges.key(f"{name}.mp4")
    etag = edges.upload(key, SAMPLE)
    name_part = key.removeprefix(edges.stack["upload_prefix"]).removesuffix(".mp4")
    item = edges.wait_for(combined_submission_id(edges.stack["bucket"], name_part, etag))
    edges.reset_faults()
    assert item["status"] == "error"
    assert item["error_message"] == "The training video has no visible face."
    return item


def post_retry(edges: Edges, sid: str, body: Any = None) -> tuple[int, Any]:
    response = requests.post(
        f"{edges.stack['api_url']}/replicas/{sid}/retry", json=body, timeout=30
    )
    return response.status_code, response.json()


def creates(edges: Edges) -> int:
    return int(edges.tavus("/_emulator/stats")["creates"])


def test_a_retry_sent_twice_makes_one_new_replica_that_completes(edges: Edges) -> None:
    failed = failed_training(edges, "twice")
    before = creates(edges)

    first = post_retry(edges, failed["submission_id"], {"attempt": failed["attempts"]})
    second = post_retry(edges, failed["submission_id"], {"attempt": failed["attempts"]})

    assert first[0] == second[0] == 202
    assert first[1]["attempts"] == second[1]["attempts"] == failed["attempts"] + 1
    item = edges.wait_for(failed["submission_id"])
    assert item["status"] == "completed"
    assert creates(edges) == before + 1
    assert item["replica_id"] != failed["replica_id"]
    assert item["previous_replica_ids"] == [failed["replica_id"]]
    statuses = [entry["status"] for entry in item["history"] if entry.get("status")]
    assert statuses == ["submitting", "training", "error", "submitting", "training", "completed"]


def test_concurrent_retries_make_one_new_replica(edges: Edges) -> None:
    failed = failed_training(edges, "concurrent")
    before = creates(edges)
    body = {"attempt": failed["attempts"]}

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda _: post_retry(edges, failed["submission_id"], body), range(6))
        )

    assert {code for code, _ in answers} == {202}
    assert edges.wait_for(failed["submission_id"])["status"] == "completed"
    assert creates(edges) == before + 1


def test_a_completed_replica_shows_its_thumbnail_video(edges: Edges) -> None:
    failed = failed_training(edges, "thumbnail")
    post_retry(edges, failed["submission_id"])

    item = edges.wait_for(failed["submission_id"])

    assert item["status"] == "completed"
    video = requests.get(item["thumbnail_video_url"], timeout=10)
    assert video.status_code == 200
    assert video.headers["Content-Type"] == "video/mp4"
    assert video.content == SAMPLE.read_bytes()


@pytest.mark.parametrize("state", ["completed", "rejected"])
def test_retrying_what_did_not_fail_is_refused_and_changes_nothing(
    edges: Edges, state: str
) -> None:
    key = edges.key(f"refused-{state}.mp4")
    etag = edges.upload(key, SAMPLE if state == "completed" else TOO_SHORT)
    name_part = key.removeprefix(edges.stack["upload_prefix"]).removesuffix(".mp4")
    item = edges.wait_for(combined_submission_id(edges.stack["bucket"], name_part, etag))
    assert item["status"] == state
    before = creates(edges)

    code, body = post_retry(edges, item["submission_id"], {"attempt": item["attempts"]})

    assert code == 409
    assert ("upload a corrected video" if state == "rejected" else "not error") in body["error"]
    assert edges.api(f"/replicas/{item['submission_id']}") == (200, item)
    assert creates(edges) == before


def test_retrying_a_training_replica_is_refused(edges: Edges) -> None:
    edges.inject_faults(training_seconds=600)
    key = edges.key("still-training.mp4")
    etag = edges.upload(key, SAMPLE)
    name_part = key.removeprefix(edges.stack["upload_prefix"]).removesuffix(".mp4")
    item = edges.wait_for(
        combined_submission_id(edges.stack["bucket"], name_part, etag), {"training"}
    )
    before = creates(edges)

    code, body = post_retry(edges, item["submission_id"], {"attempt": item["attempts"]})

    assert code == 409
    assert "is training, not error" in body["error"]
    assert creates(edges) == before


def test_the_cli_retries_and_watches_to_completion(edges: Edges, stack: dict[str, str]) -> None:
    failed = failed_training(edges, "cli")
    replicas = str(ROOT / ".venv" / "bin" / "replicas")
    common = [replicas, "--state-dir", stack["state_dir"], "--json"]

    result = subprocess.run(
        [*common, "retry", failed["replica_id"], "--watch"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout[result.stdout.index('{\n  "items"') :])
    assert [item["status"] for item in final["items"]] == ["completed"]
    again = subprocess.run(
        [*common, "retry", failed["submission_id"]], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1
    assert "is completed, not error" in json.loads(again.stdout)["error"]

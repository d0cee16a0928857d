"""The pipeline on the local stack, driven from its edges: S3 in; API, DynamoDB and Tavus out."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from replica_pipeline.rules.identity import pair_submission_id
from tests.integration.edges import DATA, ROOT, SAMPLE, Edges, submit

pytestmark = pytest.mark.integration


def test_a_combined_drop_becomes_a_completed_replica(edges: Edges) -> None:
    sid = submit(edges, "alice")

    item = edges.wait_for(sid)

    assert item["status"] == "completed"
    assert item["training_progress"] == 100
    stored = edges.table.get_item(Key={"submission_id": sid})["Item"]
    assert stored["status"] == "completed"
    assert [e.get("status") for e in item["history"] if e.get("status")] == [
        "submitting",
        "training",
        "completed",
    ]


def test_a_drop_through_the_aws_cli_completes(edges: Edges, tmp_path: Path) -> None:
    key = edges.key("from the cli.mp4")
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": edges.stack["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": edges.stack["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": edges.stack["region"],
    }
    environment.pop("AWS_ENDPOINT_URL", None)
    copied = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "aws"),
            "--endpoint-url",
            edges.stack["aws_endpoint_url"],
            "s3",
            "cp",
            str(SAMPLE),
            f"s3://{edges.stack['bucket']}/{key}",
        ],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr

    item = edges.wait_for_key(key)

    assert item["status"] == "completed"
    assert item["training_key"] == key


@pytest.mark.parametrize("consent_first", [False, True], ids=["training first", "consent first"])
def test_a_separate_consent_pair_completes_with_the_consent_downloaded(
    edges: Edges, consent_first: bool
) -> None:
    train, consent = edges.key("bob/train.mp4"), edges.key("bob/consent.mp4")
    order = [(consent, DATA / "sample.mov"), (train, SAMPLE)]
    if not consent_first:
        order.reverse()
    etags = {}
    for key, body in order:
        etags[key] = edges.upload(key, body)
        time.sleep(0.5)  # the first half is seen alone
    name = f"{edges.run}-bob"
    sid = pair_submission_id(edges.stack["bucket"], name, etags[train], etags[consent])

    item = edges.wait_for(sid)

    assert item["status"] == "completed"
    assert (item["training_key"], item["consent_key"]) == (train, consent)
    replica = edges.emulator_replica(item["replica_id"])
    assert "consent" in replica["request"]["consent_video_url"]
    assert sorted(d["status_code"] for d in replica["downloads"]) == [200, 200]
    # the placeholder of the first half is gone
    assert [i["kind"] for i in edges.items_for(f"{edges.run}-bob/")] == ["pair"]


def test_a_rejected_drop_shows_its_reason(edges: Edges) -> None:
    key = edges.key("too-short.mp4")
    edges.upload(key, DATA / "short-20s.mp4")

    deadline = time.monotonic() + 30
    while not (items := edges.items_for(key)) and time.monotonic() < deadline:
        time.sleep(0.25)

    [item] = items
    assert item["status"] == "rejected"
    assert item["error_message"].startswith("video is 20 s long")
    assert edges.created_in_tavus(f"{edges.run}") == []


def test_the_same_file_uploaded_twice_is_one_replica(edges: Edges) -> None:
    first = submit(edges, "twice")
    second = submit(edges, "twice")

    assert first == second
    assert edges.wait_for(first)["status"] == "completed"
    assert len(edges.created_in_tavus(f"{edges.run} twice")) == 1


def test_tavus_503_twice_then_ok_completes(edges: Edges) -> None:
    # each 503 may hide a replica: a delivery each, and a look in Tavus before the next POST
    edges.inject_faults(create_errors=[503, 503])
    sid = submit(edges, "flaky")

    assert edges.wait_for(sid)["status"] == "completed"
    assert len(edges.created_in_tavus(f"{edges.run} flaky")) == 1


def test_429_with_retry_after_is_respected(edges: Edges) -> None:
    edges.inject_faults(create_errors=[429], retry_after_seconds=2)
    started = time.monotonic()
    sid = submit(edges, "throttled")

    item = edges.wait_for(sid, {"training", "completed"})

    assert time.monotonic() - started >= 2
    assert item["status"] in ("training", "completed")
    assert len(edges.created_in_tavus(f"{edges.run} throttled")) == 1


def test_a_dropped_callback_is_healed_by_the_reconciler(edges: Edges) -> None:
    edges.inject_faults(callback_drop_rate=1)
    sid = submit(edges, "lost-callback")

    item = edges.wait_for(sid)

    assert item["status"] == "completed"
    replica = edges.emulator_replica(item["replica_id"])
    assert replica["callbacks"] == []  # Tavus never reached us: the reconciler did it
    assert any(e.get("note") == "reconciler" for e in item["history"])


def test_duplicated_and_reordered_callbacks_end_completed(edges: Edges) -> None:
    edges.inject_faults(callback_duplicate_rate=1, callback_reorder=True)
    sid = submit(edges, "noisy-callbacks")

    item = edges.wait_for(sid)
    # Tavus calls back once, at the end: that one twice, then the stale progress one twice
    sent = edges.wait_for_callbacks(item["replica_id"], 4)

    after = edges.wait_for(sid)
    assert (after["status"], after["training_progress"]) == ("completed", 100)
    assert [c["body"]["status"] for c in sent] == ["ready", "ready", "training", "training"]
    assert all(c["status_code"] == 200 for c in sent)


def test_training_failure_in_tavus_ends_in_error_with_its_message(edges: Edges) -> None:
    message = "There was an issue processing your training video. A second person was detected."
    edges.inject_faults(fail_training=message)
    sid = submit(edges, "two-people")

    item = edges.wait_for(sid)

    assert (item["status"], item["error_message"]) == ("error", message)


@pytest.mark.parametrize(("token", "expected"), [(None, 401), ("f" * 64, 403)])
def test_a_forged_callback_is_refused_and_changes_nothing(
    edges: Edges, token: str | None, expected: int
) -> None:
    sid = submit(edges, f"forged-{expected}")
    item = edges.wait_for(sid, {"training", "completed"})
    before = edges.table.get_item(Key={"submission_id": sid})["Item"]

    response = requests.post(
        edges.stack["callback_url"],
        params={"token": token} if token else None,
        json={"replica_id": item["replica_id"], "status": "error", "error_message": "forged"},
        timeout=10,
    )

    assert response.status_code == expected
    after = edges.table.get_item(Key={"submission_id": sid})["Item"]
    assert after["status"] != "error"
    before_history, after_history = list(before["history"]), list(after["history"])  # type: ignore[arg-type]
    assert after_history[: len(before_history)] == before_history


def test_schemathesis_finds_nothing_wrong_with_the_status_api(
    stack: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "st"),
            "run",
            f"{stack['api_url']}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_cli_submits_and_watches_to_completion(stack: dict[str, str], tmp_path: Path) -> None:
    state_dir = Path(stack["state_dir"])
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "replicas"),
            "--state-dir",
            str(state_dir),
            "--json",
            "submit",
            str(SAMPLE),
            "--key-name",
            f"cli-{tmp_path.name}",
            "--name",
            "Zoë from the CLI",
            "--watch",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout
    final = json.loads(lines[lines.index('{\n  "items"') :])
    [item] = final["items"]
    assert (item["status"], item["replica_name"]) == ("completed", "Zoë from the CLI")

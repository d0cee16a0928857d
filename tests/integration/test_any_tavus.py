"""`TAVUS_API_URL=… TAVUS_API_KEY=… make up` runs the local stack against that Tavus.

"Some other Tavus" here is a second emulator started by the test, with its own key:
the stack must start no emulator of its own, give the handlers that URL and keep that
key in its Tavus key secret, so the drop's one Create Replica arrives there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from replica_pipeline_local.stack.tavus_emulator import TavusEmulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "sample.mp4"
OTHER_TAVUS_KEY = "another-tavus-key"
STACK = [sys.executable, "-m", "replica_pipeline_local.stack"]


def stack_environment(**tavus: str) -> dict[str, str]:
    """This environment with no AWS endpoint and no Tavus choice, plus ``tavus``."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_ENDPOINT_URL", "TAVUS_API_URL", "TAVUS_API_KEY")
    }
    return {**environment, **tavus}


@pytest.fixture
def other_tavus() -> Iterator[TavusEmulator]:
    emulator = TavusEmulator(OTHER_TAVUS_KEY, training_seconds=2).start()
    yield emulator
    emulator.stop()


def wait_for_item(api_url: str, training_key: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the status API until the drop's item is terminal."""
    deadline = time.monotonic() + timeout
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        page = requests.get(f"{api_url}/replicas", params={"limit": "100"}, timeout=10).json()
        item = next((i for i in page["items"] if i.get("training_key") == training_key), item)
        if item.get("status") in ("completed", "error", "rejected"):
            return item
        time.sleep(0.5)
    raise AssertionError(f"{training_key} did not finish within {timeout:.0f} s: {item}")


def test_the_stack_runs_against_the_tavus_named_by_the_environment(
    other_tavus: TavusEmulator, tmp_path: Path
) -> None:
    # given the stack started against some other Tavus
    environment = stack_environment(TAVUS_API_URL=other_tavus.url, TAVUS_API_KEY=OTHER_TAVUS_KEY)
    options = ["--state-dir", str(tmp_path), "--training-seconds=2", "--reconcile-every=2"]
    try:
        started = subprocess.run(
            [*STACK, "up", *options], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert "Tavus (external)" in started.stdout
        stack: dict[str, Any] = json.loads((tmp_path / "stack.json").read_text())
        assert stack["tavus_url"] == other_tavus.url
        assert stack["tavus_api_key"] == OTHER_TAVUS_KEY

        # when a video is dropped into the uploads bucket
        name = f"any-tavus-{uuid.uuid4().hex[:8]}"
        key = f"{stack['upload_prefix']}{name}.mp4"
        s3 = boto3.client(
            "s3",
            endpoint_url=stack["aws_endpoint_url"],
            aws_access_key_id=stack["aws_access_key_id"],
            aws_secret_access_key=stack["aws_secret_access_key"],
            region_name=stack["region"],
        )
        s3.put_object(
            Bucket=stack["bucket"], Key=key, Body=SAMPLE.read_bytes(), ContentType="video/mp4"
        )

        # then it completes, trained by that Tavus: exactly one replica was created there
        item = wait_for_item(stack["api_url"], key)
        assert item["status"] == "completed", item
        replicas = requests.get(f"{other_tavus.url}/_emulator/replicas", timeout=10).json()["data"]
        mine = [r for r in replicas if name in (r["request"].get("replica_name") or "")]
        assert len(mine) == 1
        assert mine[0]["replica_id"] == item["replica_id"]
    finally:
        subprocess.run([*STACK, "down", "--state-dir", str(tmp_path)], cwd=ROOT, env=environment)


@pytest.mark.parametrize(
    ("given", "missing"),
    [("TAVUS_API_URL", "TAVUS_API_KEY"), ("TAVUS_API_KEY", "TAVUS_API_URL")],
)
def test_up_with_only_one_tavus_variable_fails_at_once_naming_the_other(
    tmp_path: Path, given: str, missing: str
) -> None:
    value = "http://127.0.0.1:9" if given == "TAVUS_API_URL" else "some-key"
    environment = stack_environment(**{given: value})

    result = up_in(tmp_path, environment)

    assert result.returncode != 0
    assert missing in result.stderr
    assert not (tmp_path / "stack.json").exists()
    assert not (tmp_path / "stack.pid").exists()  # nothing was started


def test_up_refuses_a_tavus_url_that_is_not_http(tmp_path: Path) -> None:
    environment = stack_environment(TAVUS_API_URL="ftp://tavus.example", TAVUS_API_KEY="k")

    result = up_in(tmp_path, environment)

    assert result.returncode != 0
    assert "TAVUS_API_URL must be an http(s) URL" in result.stderr


def up_in(state_dir: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m replica_pipeline_local.stack up`` in ``state_dir``; expected to refuse fast."""
    return subprocess.run(
        [*STACK, "up", "--state-dir", str(state_dir)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )

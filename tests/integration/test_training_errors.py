"""Every kind of Tavus training error, end to end: a drop fails in the emulator with Tavus's
message, and the status API and ``replicas status`` show it with what to do about it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from replica_pipeline.rules.training_errors import hint
from replica_pipeline_local.stack.tavus_training_errors import TRAINING_ERRORS
from tests.integration.edges import Edges, submit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def wait_for_create(edges: Edges, name: str, timeout: float = 30) -> None:
    """Until Tavus was asked for this drop's replica (it reads the faults at that moment)."""
    deadline = time.monotonic() + timeout
    while not edges.created_in_tavus(f"{edges.run} {name}"):
        assert time.monotonic() < deadline, f"Tavus was never asked to create {name}"
        time.sleep(0.1)


def test_every_fail_training_preset_ends_in_error_with_tavus_message_and_our_hint(
    edges: Edges, stack: dict[str, str]
) -> None:
    # One drop per preset. Faults are global, so each drop waits for its Create Replica
    # before the next preset is set; the trainings themselves fail side by side.
    drops: dict[str, str] = {}
    for preset in TRAINING_ERRORS:
        edges.inject_faults(fail_training=preset)
        drops[preset] = submit(edges, f"tavus-says-{preset}")
        wait_for_create(edges, f"tavus-says-{preset}")
    edges.reset_faults()

    for preset, sid in drops.items():
        item = edges.wait_for(sid)
        assert (item["status"], item["error_message"]) == ("error", TRAINING_ERRORS[preset])
        assert (item["error_kind"], item["error_hint"]) == (preset, hint(preset))

    # replicas status: the hint on its own line after the error, and in its JSON
    sid = drops["video_fps"]
    command = [str(ROOT / ".venv" / "bin" / "replicas"), "--state-dir", stack["state_dir"]]
    shown = subprocess.run(
        [*command, "status", sid], capture_output=True, text=True, timeout=60, check=True
    )
    as_json = subprocess.run(
        [*command, "--json", "status", sid], capture_output=True, text=True, timeout=60, check=True
    )

    lines = shown.stdout.splitlines()
    error = lines.index(f"error       {TRAINING_ERRORS['video_fps']}")
    assert lines[error + 1] == f"what to do  {hint('video_fps')}"
    item = json.loads(as_json.stdout)
    assert (item["error_kind"], item["error_hint"]) == ("video_fps", hint("video_fps"))

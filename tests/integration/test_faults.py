"""The fault matrix on the local stack: each case asserts every item's final state and the
number of Create Replica calls Tavus saw. Run alone with ``pytest -m faults``.

Out of scope, on purpose: moto restarted mid-run (the local stack keeps AWS state in
memory; a restart is a new, empty account, not a fault the pipeline could survive).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.edges import Edges, submit

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]


def creates_for(edges: Edges, name: str) -> int:
    return len(edges.created_in_tavus(f"{edges.run} {name}"))


# The client reads every 5xx of Create Replica alike (tests/component/test_tavus_client.py
# covers 500-504 one by one); here a gateway error and an overload, end to end.
@pytest.mark.parametrize("code", [502, 503])
def test_a_burst_of_server_errors_is_retried_to_one_replica(edges: Edges, code: int) -> None:
    # Each 5xx may hide a replica, so each costs a delivery and a look in Tavus; two in a
    # row still fit in the local queue's three deliveries.
    edges.inject_faults(create_errors=[code] * 2)
    sid = submit(edges, f"burst-{code}")

    assert edges.wait_for(sid)["status"] == "completed"
    assert creates_for(edges, f"burst-{code}") == 1


@pytest.mark.parametrize("retry_after", [None, 1], ids=["without Retry-After", "with Retry-After"])
def test_429_is_waited_out_to_one_replica(edges: Edges, retry_after: int | None) -> None:
    faults: dict[str, Any] = {"create_errors": [429, 429]}
    if retry_after:
        faults["retry_after_seconds"] = retry_after
    edges.inject_faults(**faults)
    sid = submit(edges, f"throttled-{retry_after}")

    assert edges.wait_for(sid)["status"] == "completed"
    assert creates_for(edges, f"throttled-{retry_after}") == 1


def test_a_read_timeout_after_tavus_acted_still_makes_one_replica(edges: Edges) -> None:
    # Tavus creates the replica but answers after our 2 s read timeout; the record goes
    # back to the queue and the retry finds (adopts) the replica instead of making another.
    edges.inject_faults(latency_ms=2500)
    sid = submit(edges, "slow-tavus")
    edges.wait_for(sid, {"submitting"})
    time.sleep(3)
    edges.reset_faults()

    item = edges.wait_for(sid)

    assert item["status"] == "completed"
    assert creates_for(edges, "slow-tavus") == 1
    assert any("adopted" in (entry.get("note") or "") for entry in item["history"])


def test_tavus_down_longer_than_the_retries_parks_the_record_then_redrive_completes(
    edges: Edges, stack: dict[str, str]
) -> None:
    # every try of every delivery fails: 1 + 4 retries per invocation, 3 receives
    edges.inject_faults(create_errors=[503] * 30)
    sid = submit(edges, "outage")

    deadline = time.monotonic() + 90
    dead: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not dead:
        dead = [d for d in replicas_cli(stack, "dlq")["dead_letters"] if edges.run in str(d)]
        time.sleep(1)
    assert dead, "the record never reached the dead-letter queue"
    code, item = edges.api(f"/replicas/{sid}")
    assert (code, item["status"]) == (200, "submitting")
    assert "503" in item["last_error"]
    assert creates_for(edges, "outage") == 0

    edges.reset_faults()  # Tavus is back
    redriven = replicas_cli(stack, "dlq", "--redrive")

    assert redriven["redriven"] >= 1
    assert edges.wait_for(sid)["status"] == "completed"
    assert creates_for(edges, "outage") == 1


def test_callbacks_duplicated_five_times_apply_once(edges: Edges) -> None:
    edges.inject_faults(callback_duplicate_rate=1, callback_duplicates=4)
    sid = submit(edges, "five-copies")

    item = edges.wait_for(sid)
    finals = edges.wait_for_callbacks(item["replica_id"], 5, "ready")

    assert all(c["status_code"] == 200 for c in finals)
    after = edges.wait_for(sid)
    assert after["status"] == "completed"
    assert len([e for e in after["history"] if e.get("status") == "completed"]) == 1
    assert creates_for(edges, "five-copies") == 1


def test_a_stale_progress_callback_after_completion_changes_nothing(edges: Edges) -> None:
    edges.inject_faults(callback_reorder=True)
    sid = submit(edges, "late-progress")
    item = edges.wait_for(sid)
    # Tavus calls back once, at the end; the stale progress callback (75/100) comes after it
    sent = edges.wait_for_callbacks(item["replica_id"], 2)

    after = edges.wait_for(sid)

    assert (after["status"], after["training_progress"]) == ("completed", 100)
    assert [c["body"]["status"] for c in sent] == ["ready", "training"]  # it did arrive last
    assert sent[-1]["body"]["training_progress"] == "75/100"
    assert sent[-1]["status_code"] == 200


def test_every_callback_lost_is_healed_by_the_reconciler(edges: Edges) -> None:
    edges.inject_faults(callback_drop_rate=1)
    sids = [submit(edges, f"no-callbacks-{n}") for n in range(3)]

    items = [edges.wait_for(sid) for sid in sids]

    assert [item["status"] for item in items] == ["completed"] * 3
    assert sum(creates_for(edges, f"no-callbacks-{n}") for n in range(3)) == 3


def replicas_cli(stack: dict[str, str], *arguments: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "replicas"),
            "--state-dir",
            stack["state_dir"],
            "--json",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer

"""Hard failures: replicas per drop and seconds from drop to ``training``, per fault.

One local stack (3 s visibility timeout, a 2 s read timeout, a create's unknown
outcome settled for 2 s), one drop per case, each against an emulator fault
that fails the hard way: acting and then answering 5xx, answering after the
client gave up, rate limiting for ten visibility timeouts, listing 50 a page
oldest first among 150 stock replicas; and drops that race (capitalised pair
halves, halves uploaded at the same instant, one object written twice). The
reference, in the same run, is the same drop with no fault. Replicas are
counted from the emulator's own record; seconds run from the upload to the
item's ``training`` entry.

These are local figures: in AWS the visibility timeout is 720 s and the settle
time 120 s, so a case that costs a delivery (5xx, read timeout) reaches
``training`` about 12 minutes after the drop instead of seconds.

Run: ``.venv/bin/python -m bench.hard_failures``.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench import ROOT
from bench.bulk_drop import training_at
from bench.figures import Figure, Report, run_alone
from bench.local_stack import LocalStack, local_stack

SAMPLE = ROOT / "samples" / "sample.mp4"
VISIBILITY_TIMEOUT_SECONDS = 3
SETTINGS = {
    "TAVUS_READ_TIMEOUT_SECONDS": "2",
    "TAVUS_BACKOFF_SECONDS": "0.05",
    "CREATE_SETTLE_SECONDS": "2",
}
TIME_LIMIT_SECONDS = 120.0


@dataclass(frozen=True)
class Case:
    name: str
    faults: dict[str, Any]
    # Puts the drop: (stack, key stem, metadata) -> the training key to follow.
    drop: Callable[[LocalStack, str, dict[str, str]], str]


def single(stack: LocalStack, stem: str, metadata: dict[str, str]) -> str:
    key = f"{stem}.mp4"
    put(stack, key, metadata)
    return key


def twice(stack: LocalStack, stem: str, metadata: dict[str, str]) -> str:
    key = f"{stem}.mp4"
    put(stack, key, metadata)
    put(stack, key, metadata)
    return key


def capitalised_pair(stack: LocalStack, stem: str, metadata: dict[str, str]) -> str:
    put(stack, f"{stem}/Train.mp4", metadata)
    put(stack, f"{stem}/CONSENT.mp4", {})
    return f"{stem}/Train.mp4"


def simultaneous_pair(stack: LocalStack, stem: str, metadata: dict[str, str]) -> str:
    start = threading.Barrier(2)

    def half(role: str) -> None:
        start.wait()
        put(stack, f"{stem}/{role}.mp4", metadata)

    threads = [threading.Thread(target=half, args=(role,)) for role in ("train", "consent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return f"{stem}/train.mp4"


def slow_pair(stack: LocalStack, stem: str, metadata: dict[str, str]) -> str:
    """The consent half's create times out after acting; the training half arrives again."""
    put(stack, f"{stem}/consent.mp4", {})
    put(stack, f"{stem}/train.mp4", metadata)
    time.sleep(3)
    put(stack, f"{stem}/train.mp4", metadata)
    return f"{stem}/train.mp4"


CASES = (
    Case("no fault (reference)", {}, single),
    Case("504 after acting", {"create_errors_after_acting": [504]}, single),
    Case("502 after acting", {"create_errors_after_acting": [502]}, single),
    Case("503 before acting", {"create_errors": [503]}, single),
    Case("read timeout after acting", {"create_answer_delay_ms": 3000}, single),
    Case(
        "read timeout after acting, other half meanwhile",
        {"create_answer_delay_ms": 3000},
        slow_pair,
    ),
    Case(
        "429 storm, 10x visibility (30 s)",
        {"rate_limit_seconds": 10 * VISIBILITY_TIMEOUT_SECONDS},
        single,
    ),
    Case(
        "504 after acting, list 50/page oldest first, 150 stock",
        {
            "create_errors_after_acting": [504],
            "list_page_cap": 50,
            "list_order": "oldest_first",
            "stock_replicas": 150,
        },
        single,
    ),
    Case("capitalised pair halves", {}, capitalised_pair),
    Case("pair halves at the same instant", {}, simultaneous_pair),
    Case("same object written twice", {}, twice),
)


def put(stack: LocalStack, key: str, metadata: dict[str, str]) -> None:
    stack.client("s3").put_object(
        Bucket=stack.description.bucket,
        Key=f"{stack.description.upload_prefix}{key}",
        Body=SAMPLE.read_bytes(),
        Metadata=metadata,
        ContentType="video/mp4",
    )


def wait_for_training(stack: LocalStack, training_key: str, deadline: float) -> dict[str, Any]:
    full_key = f"{stack.description.upload_prefix}{training_key}"
    while time.monotonic() < deadline:
        items = [
            i
            for i in stack.table().scan(ConsistentRead=True)["Items"]
            if i.get("training_key") == full_key and i.get("kind") != "part"
        ]
        if items and items[0]["status"] in ("training", "completed"):
            return dict(items[0])
        time.sleep(0.2)
    raise TimeoutError(f"{training_key} did not reach training in {TIME_LIMIT_SECONDS:.0f} s")


def run_case(stack: LocalStack, case: Case, run: str, n: int) -> tuple[int, float]:
    """Replicas the drop made and seconds from its upload to ``training``."""
    stack.set_emulator_faults(case.faults)
    tag = f"{run}-{n}"
    uploaded = datetime.now().astimezone()
    training_key = case.drop(stack, f"bench-hard-{tag}", {"replica-name": f"hard {tag}"})
    item = wait_for_training(stack, training_key, time.monotonic() + TIME_LIMIT_SECONDS)
    stack.set_emulator_faults({})
    reached = training_at(item)
    seconds = (reached - uploaded).total_seconds() if reached else float("inf")
    replicas = [
        r
        for r in stack.emulator("/_emulator/replicas")["data"]
        if f"hard {tag} " in str(r["request"].get("replica_name", ""))
    ]
    return len(replicas), seconds


def measure_on(stack: LocalStack) -> Report:
    run = uuid.uuid4().hex[:6]
    # Unmeasured: the first drop starts an ingest container (a cold start) for all the rest.
    run_case(stack, Case("warm-up", {}, single), f"{run}-warm", 0)
    results = [run_case(stack, case, run, n) for n, case in enumerate(CASES)]
    reference_seconds = results[0][1]
    report = Report("Hard failures (one drop per Tavus fault, local stack)")
    for case, (replicas, seconds) in zip(CASES, results, strict=True):
        report.figures.append(
            Figure(
                f"{case.name}: replicas for the drop",
                replicas,
                str(replicas),
                1,
                "1 drop",
                "exactly 1",
                replicas == 1,
            )
        )
        report.figures.append(
            Figure(
                f"{case.name}: seconds from drop to training",
                seconds,
                f"{seconds:.1f} s",
                reference_seconds,
                f"{reference_seconds:.1f} s with no fault",
                "report only",
                None,
            )
        )
    report.notes.append(
        f"visibility timeout {VISIBILITY_TIMEOUT_SECONDS} s, "
        + ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
        + "; in AWS (720 s visibility, 120 s settle) the cases that cost a delivery take ~12 min"
    )
    return report


def measure() -> Report:
    with local_stack(
        training_seconds=3600,
        reconcile_every=3600,
        visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
        settings=SETTINGS,
    ) as stack:
        return measure_on(stack)


def main() -> None:
    report = run_alone(measure)
    missed = [f.line() for f in report.figures if f.met is False]
    if missed:
        sys.exit("hard failures FAILED: " + "; ".join(missed))


if __name__ == "__main__":
    main()

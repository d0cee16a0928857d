"""DynamoDB writes for one drop, from upload to ``completed``, counted at the SDK.

Everything runs in this process, as the unit tests run it: moto's server,
the same bootstrap as the local stack, the Tavus emulator on a 4-second
training (it posts one callback, when training ends, as Tavus does), the API
adapter for the callback function, the SQS pump for the ingest function, and
the reconciler, run during the training as often, relative to it, as AWS runs
it (every 15 minutes of a 4-hour training): it is what brings progress.
The real handlers make their AWS calls through boto3's default session, where
a ``before-call`` hook counts every DynamoDB operation and every PutEvents. The
reference is the number of status changes the item records in its history. The
target is two writes per status event published for the drop (a status or
progress change): the change, carrying its event in the item's outbox, and the
write that takes the event off the outbox once EventBridge has it; plus one for
the race at the end, where the callback and a reconciler run both learn that the
training is over and the loser's conditional write fails (and is charged).

Run: ``.venv/bin/python -m bench.writes_per_lifecycle``.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, run_alone
from replica_pipeline.contracts.routes import TAVUS_CALLBACK
from replica_pipeline_local.stack.moto_server import start_moto_server

use_functions_package()

from replica_pipeline.rules.states import Status  # noqa: E402
from replica_pipeline_local.stack.api_gateway import ApiAdapter  # noqa: E402
from replica_pipeline_local.stack.bootstrap import bootstrap, lambda_environment  # noqa: E402
from replica_pipeline_local.stack.lambda_runtime import LocalFunctions  # noqa: E402
from replica_pipeline_local.stack.sqs_pump import SqsPump  # noqa: E402
from replica_pipeline_local.stack.tavus_emulator import TavusEmulator  # noqa: E402

REGION = "us-east-1"
TAVUS_KEY = "bench-tavus-key"
SAMPLE = ROOT / "samples" / "sample.mp4"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# The change (with its event in the outbox), then the event taken off the outbox.
WRITES_PER_EVENT = 2
# The end-of-training callback racing a reconciler run: the loser's failed write.
LOST_RACES = 1
TIME_LIMIT_SECONDS = 60.0
TRAINING_SECONDS = 4.0
# AWS: the reconciler every 15 minutes (cdk.json's default), a training of about 4 hours
# (Tavus says 3-6): 16 runs see it training. Scaled down to the emulator's training.
RECONCILE_EVERY_SECONDS = TRAINING_SECONDS / 16


def measure() -> Report:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's dummy credentials
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    server, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    emulator = TavusEmulator(TAVUS_KEY, training_seconds=TRAINING_SECONDS).start()
    adapter = ApiAdapter(LocalFunctions())
    threading.Thread(target=adapter.serve_forever, daemon=True).start()
    try:
        # The handlers log and print metrics to stdout: keep the benchmark's output readable.
        with contextlib.redirect_stdout(io.StringIO()):
            return _measure(endpoint, emulator, adapter)
    finally:
        adapter.stop()
        emulator.stop()
        server.stop()


def _measure(endpoint: str, emulator: TavusEmulator, adapter: ApiAdapter) -> Report:
    resources = bootstrap(endpoint_url=endpoint, region=REGION, tavus_api_key=TAVUS_KEY)
    os.environ.update(
        lambda_environment(
            resources,
            tavus_url=emulator.url,
            callback_base_url=f"{adapter.url}{TAVUS_CALLBACK.path}",
        )
    )
    # The handlers use boto3's default session; the benchmark's own calls use another.
    calls: list[Call] = []
    stage = {"now": "ingest"}  # then "callback": all the handlers' calls but the reconciler's
    # Set around the reconciler's runs, in this thread only: callbacks run in the adapter's.
    reconciling = threading.local()

    def count(event_name: str, params: dict[str, Any], **kwargs: Any) -> None:
        body = params.get("body") or b""
        calls.append(
            Call(
                event_name.split(".")[-1],
                "reconciler" if getattr(reconciling, "now", False) else stage["now"],
                body if isinstance(body, bytes) else str(body).encode(),
            )
        )

    boto3._get_default_session().events.register("before-call.dynamodb", count)
    boto3._get_default_session().events.register("before-call.eventbridge.PutEvents", count)
    own = boto3.session.Session(region_name=REGION)
    s3 = own.client("s3", endpoint_url=endpoint)
    table = own.resource("dynamodb", endpoint_url=endpoint).Table(resources.table)
    pump = SqsPump(
        own.client("sqs", endpoint_url=endpoint),
        resources.queue_url,
        resources.queue_arn,
        REGION,
        adapter.functions,
        wait_seconds=1,
    )

    s3.put_object(
        Bucket=resources.bucket,
        Key=f"{resources.upload_prefix}bench-lifecycle.mp4",
        Body=SAMPLE.read_bytes(),
        ContentType="video/mp4",
    )
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    item: dict[str, Any] = {}
    while time.monotonic() < deadline and item.get("status") != Status.TRAINING.value:
        pump.pump_once()  # the S3 test event, then the drop
        item = only_item(table)
    stage["now"] = "callback"
    # Tavus calls back only at the end: progress comes from the reconciler's Get Replica.
    runs, progress_seen = 0, set()
    next_run = time.monotonic()
    while time.monotonic() < deadline and item.get("status") != Status.COMPLETED.value:
        next_run += RECONCILE_EVERY_SECONDS  # a fixed rate, like a schedule: no drift
        time.sleep(max(0.0, next_run - time.monotonic()))
        reconciling.now = True
        try:
            adapter.functions.invoke("reconciler", {"source": "bench"})
        finally:
            reconciling.now = False
        runs += 1
        item = only_item(table)
        if item.get("status") == Status.TRAINING.value:
            progress_seen.add(int(item.get("training_progress", 0)))
    if item.get("status") != Status.COMPLETED.value:
        raise RuntimeError(f"the drop did not complete within {TIME_LIMIT_SECONDS:.0f} s: {item}")
    time.sleep(0.5)  # a late duplicate would still be counted

    # A write counts for the drop when it names the drop's item; a failed conditional
    # write counts too (DynamoDB charges it). Other writes are shared bookkeeping.
    mine = str(item["submission_id"]).encode()
    writes = sum(1 for call in calls if call.operation in WRITES and mine in call.body)
    published = sum(1 for call in calls if call.operation == "PutEvents" and mine in call.body)
    target = WRITES_PER_EVENT * published + LOST_RACES
    shared = Counter(c.operation for c in calls if c.operation in WRITES and mine not in c.body)
    transitions = [entry["status"] for entry in item.get("history", []) if "status" in entry]
    report = Report("Writes per lifecycle (one combined drop, upload → completed)")
    report.figures.append(
        Figure(
            "DynamoDB writes per lifecycle (one drop → completed)",
            writes,
            f"{writes} writes",
            len(transitions),
            f"{len(transitions)} status changes ({' → '.join(transitions)})",
            f"≤ {target} ({WRITES_PER_EVENT} per status event published ({published}), "
            f"+{LOST_RACES} lost race)",
            writes <= target,
        )
    )

    def listing(by: str) -> str:
        counted = Counter(call.operation for call in calls if call.by == by)
        return ", ".join(f"{name} {count}" for name, count in sorted(counted.items())) or "none"

    report.notes.append(
        f"ingest: {listing('ingest')}; reconciler ({runs} runs, one every "
        f"{RECONCILE_EVERY_SECONDS:g} s of a {TRAINING_SECONDS:g} s training, as AWS's "
        f"15-minute schedule sees a 4-hour one; the item showed progress "
        f"{', '.join(map(str, sorted(progress_seen))) or 'none'}): {listing('reconciler')}; "
        f"callbacks ({len(emulator_callbacks(emulator))} posted by the emulator, which like "
        f"Tavus calls back only when training ends): {listing('callback')}"
    )
    if shared:
        report.notes.append(
            "not counted for the drop, written whatever the number of drops (the reconciler's "
            "own record): " + ", ".join(f"{n} {c}" for n, c in sorted(shared.items()))
        )
    return report


@dataclass(frozen=True)
class Call:
    """One DynamoDB call a handler made: its operation, who made it, its request body."""

    operation: str
    by: str  # ingest, reconciler or callback
    body: bytes


def only_item(table: Any) -> dict[str, Any]:
    """The drop's item; the reconciler's own record (it has no status) is not one."""
    scanned: list[dict[str, Any]] = table.scan(ConsistentRead=True)["Items"]
    items = [item for item in scanned if "status" in item]
    if len(items) > 1:
        raise RuntimeError(f"one drop made {len(items)} items")
    return items[0] if items else {}


def emulator_callbacks(emulator: TavusEmulator) -> list[dict[str, Any]]:
    with emulator.lock:
        return [callback for r in emulator.replicas.values() for callback in r.callbacks]


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

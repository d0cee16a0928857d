"""DynamoDB writes for one drop, from upload to ``completed``, counted at the SDK.

Everything runs in this process, as the unit tests run it: moto's server,
the same bootstrap as the local stack, the Tavus emulator on a 2-second
training (it posts three progress callbacks and the final one), the API
adapter for the callback function, and the SQS pump for the ingest function.
The real handlers make their AWS calls through boto3's default session, where
a ``before-call`` hook counts every DynamoDB operation. The reference is the
number of status changes the item records in its history.

Run: ``.venv/bin/python -m bench.writes_per_lifecycle``.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections import Counter
from typing import Any

import boto3

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, run_alone
from local.moto_server import start_moto_server

use_functions_package()

from local.api_adapter import ApiAdapter  # noqa: E402
from local.bootstrap import bootstrap, lambda_environment  # noqa: E402
from local.lambda_runtime import LocalFunctions  # noqa: E402
from local.sqs_pump import SqsPump  # noqa: E402
from local.tavus_emulator import TavusEmulator  # noqa: E402
from replica_pipeline.states import Status  # noqa: E402

REGION = "us-east-1"
TAVUS_KEY = "bench-tavus-key"
SAMPLE = ROOT / "samples" / "sample.mp4"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
TARGET = 10
TIME_LIMIT_SECONDS = 60.0


def measure() -> Report:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's dummy credentials
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    server, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    emulator = TavusEmulator(TAVUS_KEY, training_seconds=2).start()
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
            resources, tavus_url=emulator.url, callback_base_url=f"{adapter.url}/callbacks/tavus"
        )
    )
    # The handlers use boto3's default session; the benchmark's own calls use another.
    calls: Counter[str] = Counter()
    boto3._get_default_session().events.register(
        "before-call.dynamodb", lambda event_name, **kw: calls.update([event_name.split(".")[-1]])
    )
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
    by_ingest = Counter(calls)
    while time.monotonic() < deadline and item.get("status") != Status.COMPLETED.value:
        time.sleep(0.2)
        item = only_item(table)
    if item.get("status") != Status.COMPLETED.value:
        raise RuntimeError(f"the drop did not complete within {TIME_LIMIT_SECONDS:.0f} s: {item}")
    time.sleep(0.5)  # a late duplicate would still be counted
    by_callbacks = calls - by_ingest

    writes = sum(count for name, count in calls.items() if name in WRITES)
    transitions = [entry["status"] for entry in item.get("history", []) if "status" in entry]
    report = Report("Writes per lifecycle (one combined drop, upload → completed)")
    report.figures.append(
        Figure(
            "DynamoDB writes per lifecycle (one drop → completed)",
            writes,
            f"{writes} writes",
            len(transitions),
            f"{len(transitions)} status changes ({' → '.join(transitions)})",
            f"≤ {TARGET}",
            writes <= TARGET,
        )
    )

    def listing(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(counter.items()))

    report.notes.append(
        f"ingest: {listing(by_ingest)}; callbacks ({len(emulator_callbacks(emulator))} posted "
        f"by the emulator): {listing(by_callbacks)}"
    )
    return report


def only_item(table: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] = table.scan(ConsistentRead=True)["Items"]
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

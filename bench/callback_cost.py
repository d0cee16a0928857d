"""What one valid callback costs: in-process time of our code, and DynamoDB calls.

Runs the callback service against moto's server and the Tavus emulator, and in
the same run times the bare AWS calls the callback cannot avoid (the replica-id
index query, the conditional update, the event put), so the difference is our
own code. Each round times one callback and then the bare calls on the same
item, and the figure is the median of the differences (target < 1 ms).
Progress callbacks are used: a terminal one adds a Get Replica to Tavus, which
is Tavus's time, not ours. ``BENCH_PROFILE=1`` also prints a cProfile of the callbacks.

Run: ``.venv/bin/python -m bench.callback_cost`` (``make bench``).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import boto3

from bench import use_functions_package
from bench.figures import Figure, Report, run_alone
from replica_pipeline_local.stack.moto_server import start_moto_server

use_functions_package()

from replica_pipeline.adapters.events import (  # noqa: E402
    DETAIL_TYPE,
    EVENT_SOURCE,
    EventBridgePublisher,
    StatusChange,
)
from replica_pipeline.adapters.store.repository import ReplicaStore  # noqa: E402
from replica_pipeline.adapters.tavus import TavusClient  # noqa: E402
from replica_pipeline.clock import iso, utc_now  # noqa: E402
from replica_pipeline.config import TavusSettings  # noqa: E402
from replica_pipeline.rules.callback_token import callback_token  # noqa: E402
from replica_pipeline.rules.states import Status  # noqa: E402
from replica_pipeline.rules.submission import Submission, SubmissionKind  # noqa: E402
from replica_pipeline.services.callbacks import CallbackDependencies, handle_callback  # noqa: E402
from replica_pipeline_local.stack.bootstrap import bootstrap  # noqa: E402
from replica_pipeline_local.stack.tavus_emulator import TavusEmulator  # noqa: E402

ROUNDS = 99
WARM_UP = 5  # first calls load botocore models and open connections: not measured
TARGET_MS = 1.0


def measure() -> Report:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")  # noqa: S106
    server, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    calls: Counter[str] = Counter()
    boto3._get_default_session().events.register(
        "before-call.*.*", lambda event_name, **kw: calls.update([event_name.split(".", 1)[1]])
    )
    emulator = TavusEmulator("bench-key").start()
    try:
        return _measure(endpoint, emulator, calls)
    finally:
        emulator.stop()
        server.stop()


def _measure(endpoint: str, emulator: TavusEmulator, calls: Counter[str]) -> Report:
    resources = bootstrap(endpoint_url=endpoint, region="us-east-1", tavus_api_key="bench-key")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    key = secrets.get_secret_value(SecretId=resources.callback_hmac_secret_arn)["SecretString"]
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resources.table)
    events = boto3.client("events", region_name="us-east-1")
    store = ReplicaStore(table, on_change=EventBridgePublisher(lambda: events, resources.event_bus))

    # one item per round, each training with a replica id, so every callback applies
    replica_ids = []
    for n in range(WARM_UP + ROUNDS):
        sid = f"bench-{n:03d}"
        store.create(
            Submission(sid, SubmissionKind.COMBINED, resources.bucket, f"b{n}", f"B {n}"),
            Status.SUBMITTING,
            utc_now(),
        )
        store.transition(sid, Status.TRAINING, utc_now(), fields={"replica_id": f"r{n:03d}"})
        replica_ids.append((sid, f"r{n:03d}"))
    deps = CallbackDependencies(
        store=store,
        callback_key=lambda: key.encode(),
        tavus=lambda: TavusClient(TavusSettings(emulator.url, "arn"), "bench-key"),
    )
    bodies = [
        json.dumps(
            {"replica_id": rid, "status": "training", "training_progress": "40/100"}
        ).encode()
        for _, rid in replica_ids
    ]
    tokens = [callback_token(sid, key.encode()) for sid, _ in replica_ids]

    def callback(n: int) -> None:
        result = handle_callback(tokens[n], bodies[n], deps)
        if not result.changed:
            raise RuntimeError(f"callback {n} changed nothing: {result}")

    def bare(n: int) -> None:
        """The AWS calls a callback cannot avoid, made directly, on the same item."""
        table.query(
            IndexName="by-replica-id",
            KeyConditionExpression="replica_id = :r",
            ExpressionAttributeValues={":r": replica_ids[n][1]},
            Limit=1,
        )
        table.update_item(
            Key={"submission_id": replica_ids[n][0]},
            UpdateExpression="SET training_progress = :p, updated_at = :now",
            ConditionExpression="#s = :t AND training_progress < :p",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":p": 60, ":now": iso(utc_now()), ":t": "training"},
            ReturnValues="ALL_NEW",
        )
        # The same event our publisher sends, so moto's rule delivery is in both figures.
        change = StatusChange(
            replica_ids[n][0],
            "training",
            "training",
            replica_ids[n][1],
            60,
            None,
            None,
            None,
            iso(utc_now()),
        )
        events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(asdict(change)),
                    "EventBusName": resources.event_bus,
                }
            ]
        )

    for n in range(WARM_UP):
        callback(n)
        bare(n)
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        cProfile.runctx(
            "for n in range(WARM_UP, WARM_UP + ROUNDS): callback(n)",
            globals(),
            {"callback": callback},
            sort="cumulative",
        )
    # Paired rounds: the callback, then the bare calls, on the same item and moto state.
    callback_ms: list[float] = []
    bare_ms: list[float] = []
    calls.clear()
    for n in range(WARM_UP, WARM_UP + ROUNDS):
        callback_ms.append(elapsed_ms(callback, n))
        bare_ms.append(elapsed_ms(bare, n))
    per_callback = {name: count / ROUNDS for name, count in calls.items()}

    ours = statistics.median(c - b for c, b in zip(callback_ms, bare_ms, strict=True))
    bare_median = statistics.median(bare_ms)
    callback_median = statistics.median(callback_ms)
    report = Report("Callback cost (in process, moto server)")
    report.figures.append(
        Figure(
            f"callback: our own code per valid callback (median of {ROUNDS} paired rounds)",
            ours,
            f"{ours:.2f} ms",
            bare_median,
            f"{bare_median:.2f} ms (its AWS calls made bare)",
            f"< {TARGET_MS:g} ms",
            ours < TARGET_MS,
        )
    )
    report.notes.append(
        f"whole callback {callback_median:.2f} ms vs bare AWS calls {bare_median:.2f} ms "
        f"(ratio {callback_median / bare_median:.2f}); AWS calls per callback and bare round: "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(per_callback.items()))
    )
    if ours < 0:
        report.notes.append(
            "a negative figure means our code is below the noise of the moto calls around it"
        )
    return report


def elapsed_ms(action: Callable[[int], Any], n: int) -> float:
    started = time.perf_counter()
    action(n)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

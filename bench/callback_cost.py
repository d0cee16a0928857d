"""What one valid callback costs: in-process time of our code, and DynamoDB calls.

Runs the callback service against moto's server and the Tavus emulator, and in
the same run times the bare AWS calls the callback cannot avoid (the replica-id
index query, the conditional update, the event put), so the difference is our
own code. Progress callbacks are used: a terminal one adds a Get Replica to
Tavus, which is Tavus's time, not ours.

Run: ``.venv/bin/python -m bench.callback_cost`` (``make bench``).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bench import use_functions_package

use_functions_package()

from local.bootstrap import bootstrap  # noqa: E402
from local.tavus_emulator import TavusEmulator  # noqa: E402
from replica_pipeline.callback_token import callback_token  # noqa: E402
from replica_pipeline.callbacks import CallbackDependencies, handle_callback  # noqa: E402
from replica_pipeline.clock import iso, utc_now  # noqa: E402
from replica_pipeline.config import TavusSettings  # noqa: E402
from replica_pipeline.events import (  # noqa: E402
    DETAIL_TYPE,
    EVENT_SOURCE,
    EventBridgePublisher,
    StatusChange,
)
from replica_pipeline.states import Status  # noqa: E402
from replica_pipeline.store import ReplicaStore, Submission, SubmissionKind  # noqa: E402
from replica_pipeline.tavus import TavusClient  # noqa: E402

ROUNDS = 99


def median_ms(action: Callable[[int], Any], rounds: int = ROUNDS) -> float:
    samples = []
    for n in range(rounds):
        started = time.perf_counter()
        action(n)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")  # noqa: S106
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    calls: Counter[str] = Counter()
    boto3._get_default_session().events.register(
        "before-call.*.*", lambda event_name, **kw: calls.update([event_name.split(".", 1)[1]])
    )
    emulator = TavusEmulator("bench-key").start()
    resources = bootstrap(endpoint_url=endpoint, region="us-east-1", tavus_api_key="bench-key")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    key = secrets.get_secret_value(SecretId=resources.callback_hmac_secret_arn)["SecretString"]
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(resources.table)
    events = boto3.client("events", region_name="us-east-1")
    store = ReplicaStore(table, on_change=EventBridgePublisher(lambda: events, resources.event_bus))

    # one item per round, each training with a replica id, so every callback applies
    replica_ids = []
    for n in range(ROUNDS):
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

    calls.clear()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        cProfile.runctx(
            "for n in range(ROUNDS): handle_callback(tokens[n], bodies[n], deps)",
            globals(),
            {"tokens": tokens, "bodies": bodies, "deps": deps, "handle_callback": handle_callback},
            sort="cumulative",
        )
        return
    callback = median_ms(lambda n: handle_callback(tokens[n], bodies[n], deps))
    per_callback = {name: count / ROUNDS for name, count in calls.items()}

    def bare(n: int) -> None:
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

    bare_ms = median_ms(bare)
    emulator.stop()
    server.stop()

    ours = callback - bare_ms
    print(f"one valid callback, median of {ROUNDS}: {callback:.2f} ms")
    print(f"the same AWS calls made bare:          {bare_ms:.2f} ms")
    print(
        f"our own code: {ours:.2f} ms (target < 1 ms); "
        f"ratio callback / bare = {callback / bare_ms:.2f}"
    )
    print(
        "AWS calls per callback: "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(per_callback.items()))
    )


if __name__ == "__main__":
    main()

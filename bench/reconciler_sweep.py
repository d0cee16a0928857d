"""The reconciler: one run over 1,000 lost callbacks, and how long a lost callback takes to heal.

Part one runs in process, against moto's server and the Tavus emulator: 1,000
items ``training`` (written through the store as the ingest leaves them, their
events taken as sent, so no outbox is left for the runs to send), their
replicas put straight into the emulator and finished there, as if every
callback was lost. One ``reconcile`` run with the default settings (pages of
100) must heal them all; its per-item time is compared with one bare Get
Replica to the same emulator, measured in the same process (median of 200,
half before the runs, half after): the reconciler cannot avoid that call, so
the ratio is what it adds around it (target ≤ 3). A second run over 1,000 other
items that are still training shows what a run that changes nothing writes:
only the reconciler's own item (2 UpdateItems). DynamoDB and EventBridge calls are
counted and timed at the SDK (``before-call``/``after-call`` hooks on boto3's
default session) and Get Replica in the client, so the notes say where a run's
time went; moto serves the AWS calls from this same process.

Part two starts a local stack (the reconciler every 10 s, the stack's default),
tells the emulator to drop every callback and train for 3 s, waits for the
reconciler's first run, then drops the sample video three times, one after the
other (the n-th waiting n/3 of a period after the previous heal, so they finish
at different points of the schedule's cycle), and measures from the moment
Tavus finished training (Get Replica's ``updated_at``) to the moment the item
became ``completed`` (its history entry). A lost callback waits at most for the
next run: the target is one period plus the run that heals it (that run's
length read from the stack's log, as the gap between its end and the previous
run's end, less the period).

Run: ``.venv/bin/python -m bench.reconciler_sweep``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import requests

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, ms, run_alone
from bench.local_stack import LocalStack, local_stack
from replica_pipeline_local.stack.moto_server import start_moto_server

use_functions_package()

from replica_pipeline.adapters.events import EventBridgePublisher  # noqa: E402
from replica_pipeline.adapters.store.repository import ReplicaStore  # noqa: E402
from replica_pipeline.adapters.tavus import TavusClient  # noqa: E402
from replica_pipeline.clock import parse_iso, utc_now  # noqa: E402
from replica_pipeline.config import ReconcileSettings, TavusSettings  # noqa: E402
from replica_pipeline.rules.states import Status  # noqa: E402
from replica_pipeline.rules.submission import Submission, SubmissionKind  # noqa: E402
from replica_pipeline.services.reconcile import (  # noqa: E402
    ReconcileDependencies,
    ReconcileReport,
    reconcile,
)
from replica_pipeline_local.stack.bootstrap import LocalResources, bootstrap  # noqa: E402
from replica_pipeline_local.stack.tavus_emulator import Replica, TavusEmulator  # noqa: E402

REGION = "us-east-1"
TAVUS_KEY = "bench-tavus-key"
ITEMS = 1_000
REFERENCE_CALLS = 200  # bare Get Replica calls: half before the runs, half after
WARM_UP = 5  # first calls load botocore models and open connections: not measured
TARGET_RATIO = 3.0
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

SAMPLE = ROOT / "samples" / "sample.mp4"
RECONCILE_EVERY_SECONDS = 10.0  # `python -m replica_pipeline_local.stack up`'s default
VISIBILITY_TIMEOUT_SECONDS = 10  # ... and its default
TRAINING_SECONDS = 3
DROPS = 3
DROP_TIME_LIMIT_SECONDS = 90.0
POLL_SECONDS = 0.1
LOG_WAIT_SECONDS = 10.0  # for a run's line in the stack's log


# -- part one: one run over 1,000 lost callbacks, in process -----------------------------


class TimedTavus(TavusClient):
    """The real client, adding up the time its Get Replica calls take."""

    seconds: float = 0.0

    def get_replica(self, replica_id: str, **kwargs: Any) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            return super().get_replica(replica_id, **kwargs)
        finally:
            TimedTavus.seconds += time.perf_counter() - started


class AwsCalls:
    """DynamoDB and EventBridge calls this thread makes through boto3's default session."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # Per service, from before-call to after-call (sending, moto's answer, parsing).
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._thread = threading.get_ident()
        self._started = 0.0
        events = boto3._get_default_session().events
        events.register("before-call.*.*", self._before, unique_id="bench-sweep-before")
        events.register("after-call.*.*", self._after, unique_id="bench-sweep-after")

    def clear(self) -> None:
        self.counts.clear()
        self.seconds.clear()

    def _before(self, event_name: str, **kwargs: Any) -> None:
        if threading.get_ident() == self._thread:
            self.counts[event_name.split(".", 1)[1]] += 1
            self._started = time.perf_counter()

    def _after(self, event_name: str, **kwargs: Any) -> None:
        if threading.get_ident() == self._thread:
            self.seconds[event_name.split(".")[1]] += time.perf_counter() - self._started


@dataclass(frozen=True)
class Run:
    report: ReconcileReport
    seconds: float
    calls: Counter[str]
    aws_seconds: dict[str, float]
    tavus_seconds: float

    @property
    def per_item(self) -> float:
        return self.seconds / max(1, self.report.checked)

    def calls_text(self) -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))

    def breakdown(self) -> str:
        """Where the run's time went: Tavus, each AWS service, and the rest (our code)."""
        parts = {"Get Replica": self.tavus_seconds, **dict(self.aws_seconds)}
        ours = self.seconds - sum(parts.values())
        return ", ".join(
            f"{name} {seconds:.2f} s ({seconds / self.seconds:.0%})"
            for name, seconds in (*parts.items(), ("the rest (our code)", ours))
        )


def seed_training_items(
    table: Any, emulator: TavusEmulator, resources: LocalResources, prefix: str
) -> list[str]:
    """``ITEMS`` submissions training in Tavus (written as the ingest writes them, no events sent).

    Their replica ids, in the emulator as ``started`` with no progress.
    """
    # As if the bus took each event when it was written (nothing is sent): events left in
    # the items' outboxes would be sent by the runs measured here, as the sweep's work.
    store = ReplicaStore(table, on_change=lambda change: True)
    now = utc_now()
    replica_ids = []
    for n in range(ITEMS):
        replica = Replica(
            replica_id=f"r{prefix}{n:04d}",
            replica_name=f"{prefix} {n}",
            model_name=None,
            created_at=now,
            request={},
        )
        with emulator.lock:
            emulator.replicas[replica.replica_id] = replica
        submission = Submission(
            submission_id=f"{prefix}-{n:04d}",
            kind=SubmissionKind.COMBINED,
            bucket=resources.bucket,
            name=f"{prefix} {n}",
            replica_name=f"{prefix} {n}",
            training_key=f"{resources.upload_prefix}{prefix}-{n}.mp4",
        )
        store.claim(submission, now, timedelta(minutes=5))
        store.transition(
            submission.submission_id,
            Status.TRAINING,
            now + timedelta(microseconds=n),  # a distinct place in the index each
            fields={"replica_id": replica.replica_id, "training_progress": 0},
        )
        replica_ids.append(replica.replica_id)
    return replica_ids


def finish_in_tavus(emulator: TavusEmulator, replica_ids: list[str]) -> None:
    """The replicas finish training, as Tavus would before calling back (the callback is lost)."""
    with emulator.lock:
        for replica_id in replica_ids:
            replica = emulator.replicas[replica_id]
            replica.status = "completed"
            replica.progress = 100
            replica.updated_at = utc_now()


def get_replica_seconds(client: TavusClient, replica_id: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.get_replica(replica_id)
        samples.append(time.perf_counter() - started)
    return samples


def run_once(deps: ReconcileDependencies, calls: AwsCalls) -> Run:
    calls.clear()
    TimedTavus.seconds = 0.0
    started = time.perf_counter()
    report = reconcile(deps)
    seconds = time.perf_counter() - started
    return Run(report, seconds, Counter(calls.counts), dict(calls.seconds), TimedTavus.seconds)


def measure_sweep(report: Report) -> None:
    saved = dict(os.environ)
    try:
        _start_sweep(report)
    finally:  # the local stack of part two inherits this environment
        os.environ.clear()
        os.environ.update(saved)


def _start_sweep(report: Report) -> None:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's dummy credentials
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    server, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    emulator = TavusEmulator(TAVUS_KEY, training_seconds=3600).start()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the reconciler's logs
            _measure_sweep(report, endpoint, emulator)
    finally:
        emulator.stop()
        server.stop()


def _measure_sweep(report: Report, endpoint: str, emulator: TavusEmulator) -> None:
    resources = bootstrap(endpoint_url=endpoint, region=REGION, tavus_api_key=TAVUS_KEY)
    calls = AwsCalls()
    table = boto3.resource("dynamodb", region_name=REGION).Table(resources.table)
    tavus_settings = TavusSettings(emulator.url, resources.tavus_api_key_secret_arn)
    # The store as the handler builds it: announcing each change on the event bus, through
    # one client made once (the handler's is cached per container).
    events = boto3.client("events", region_name=REGION)
    deps = ReconcileDependencies(
        store=ReplicaStore(
            table, on_change=EventBridgePublisher(lambda: events, resources.event_bus)
        ),
        tavus=lambda: TimedTavus(tavus_settings, TAVUS_KEY),
        settings=ReconcileSettings(),
    )

    seeding_started = time.perf_counter()
    lost = seed_training_items(table, emulator, resources, "lost")
    seeding_seconds = time.perf_counter() - seeding_started
    bare = TavusClient(tavus_settings, TAVUS_KEY)
    get_replica_seconds(bare, lost[0], WARM_UP)
    reference = get_replica_seconds(bare, lost[0], REFERENCE_CALLS // 2)

    finish_in_tavus(emulator, lost)
    healing = run_once(deps, calls)
    not_completed = sum(
        1
        for n in range(ITEMS)
        if table.get_item(Key={"submission_id": f"lost-{n:04d}"})["Item"]["status"]
        != Status.COMPLETED.value
    )

    still = seed_training_items(table, emulator, resources, "still")
    quiet = run_once(deps, calls)

    reference += get_replica_seconds(bare, still[0], REFERENCE_CALLS - REFERENCE_CALLS // 2)
    get_median = statistics.median(reference)
    reference_text = f"{ms(get_median)} (bare Get Replica, median of {len(reference)})"
    target = f"ratio ≤ {TARGET_RATIO:g}"

    report.figures.append(
        Figure(
            f"reconciler run over {ITEMS:,} lost callbacks: time per item",
            healing.per_item,
            f"{ms(healing.per_item)} ({healing.seconds:.2f} s for {healing.report.checked:,})",
            get_median,
            reference_text,
            target,
            healing.per_item / get_median <= TARGET_RATIO,
        )
    )
    healed_all = healing.report.checked == ITEMS and healing.report.healed == ITEMS
    report.figures.append(
        Figure(
            f"reconciler run over {ITEMS:,} lost callbacks: items checked / healed",
            healing.report.healed,
            f"{healing.report.checked:,} checked, {healing.report.healed:,} healed, "
            f"{not_completed} not completed after the run",
            ITEMS,
            f"{ITEMS:,} training items, all finished in Tavus",
            f"all {ITEMS:,}",
            healed_all and not_completed == 0,
        )
    )
    report.figures.append(
        Figure(
            f"reconciler run over {ITEMS:,} unchanged items: time per item",
            quiet.per_item,
            f"{ms(quiet.per_item)} ({quiet.seconds:.2f} s for {quiet.report.checked:,})",
            get_median,
            reference_text,
            target,
            quiet.per_item / get_median <= TARGET_RATIO,
        )
    )
    quiet_writes = sum(quiet.calls[f"dynamodb.{op}"] for op in WRITE_OPERATIONS)
    report.figures.append(
        Figure(
            f"reconciler run over {ITEMS:,} unchanged items: DynamoDB writes",
            quiet_writes,
            f"{quiet_writes} writes ({quiet.calls['dynamodb.UpdateItem']} UpdateItem)",
            quiet.report.checked,
            f"{quiet.report.checked:,} items checked",
            "2 (the reconciler's own item: begin, end)",
            quiet_writes == 2 and quiet.report.checked == ITEMS,
        )
    )
    for name, run in (("lost callbacks", healing), ("unchanged items", quiet)):
        r = run.report
        shown = ("checked", "healed", "tavus_calls", "table_queries")
        others = ", ".join(f"{k} {v}" for k, v in r.as_dict().items() if v and k not in shown)
        report.notes.append(
            f"run over {ITEMS:,} {name}: {run.seconds:.2f} s; ReconcileReport: checked "
            f"{r.checked}, healed {r.healed}, tavus_calls {r.tavus_calls}, table_queries "
            f"{r.table_queries} (others not zero: {others or 'none'}); SDK calls: "
            f"Query {run.calls['dynamodb.Query']}, GetItem {run.calls['dynamodb.GetItem']}, "
            f"UpdateItem {run.calls['dynamodb.UpdateItem']} (all: {run.calls_text()}); "
            f"time: {run.breakdown()}"
        )
    halves = (reference[: REFERENCE_CALLS // 2], reference[REFERENCE_CALLS // 2 :])
    report.notes.append(
        f"bare Get Replica: median {ms(statistics.median(halves[0]))} before the runs, "
        f"{ms(statistics.median(halves[1]))} after; seeding {ITEMS:,} items took "
        f"{seeding_seconds:.0f} s (claim + transition each, moto); moto's GSI queries scan the "
        f"whole table ({2 * ITEMS:,} items in the second run)"
    )


# -- part two: time for a lost callback to heal, on a local stack ---------------------


@dataclass(frozen=True)
class Heal:
    finished_in_tavus: datetime  # Get Replica's updated_at once completed
    completed: datetime  # the item's history entry
    note: str  # who completed it
    callbacks_delivered: int  # the emulator's record (should be 0: all dropped)
    run_seconds: float | None  # the healing run's length, from the stack's log

    @property
    def seconds(self) -> float:
        return (self.completed - self.finished_in_tavus).total_seconds()


def find_item(stack: LocalStack, key: str) -> dict[str, Any] | None:
    full_key = f"{stack.description.upload_prefix}{key}"
    items = [
        i
        for i in stack.table().scan(ConsistentRead=True)["Items"]
        if i.get("training_key") == full_key and i.get("kind") != "part"
    ]
    return dict(items[0]) if items else None


def tavus_replica(stack: LocalStack, replica_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.description.tavus_url}/v2/replicas/{replica_id}",
        headers={"x-api-key": stack.description.tavus_api_key},
        timeout=10,
    )
    response.raise_for_status()
    replica: dict[str, Any] = response.json()
    return replica


def reconciler_runs(stack: LocalStack) -> list[tuple[datetime, int]]:
    """When each reconciler run ended, and what it healed (the handler's ``reconciled`` log)."""
    runs = []
    log = stack.state_dir / "logs" / "stack.log"
    for line in log.read_text(errors="replace").splitlines():
        if '"message":"reconciled"' not in line.replace(" ", ""):
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        ended = datetime.strptime(entry["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
        runs.append((ended, int(entry.get("healed", 0))))
    return runs


def healing_run_seconds(stack: LocalStack, completed: datetime) -> float | None:
    """The length of the run that completed the item: its end less the previous run's end,
    less the period (the schedule waits ``reconcile_every`` after each run ends).

    None when that run's log line does not come within a few seconds, or it was the first run.
    """
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while time.monotonic() < deadline:
        runs = reconciler_runs(stack)
        healing = [n for n, (ended, healed) in enumerate(runs) if ended >= completed and healed]
        if healing:
            n = healing[0]
            if n == 0:
                return None
            return (runs[n][0] - runs[n - 1][0]).total_seconds() - RECONCILE_EVERY_SECONDS
        time.sleep(POLL_SECONDS)
    return None


def wait_for_first_run(stack: LocalStack) -> None:
    """Until the stack's reconciler has run once: each healing run then has one before it."""
    deadline = time.monotonic() + RECONCILE_EVERY_SECONDS + LOG_WAIT_SECONDS
    while not reconciler_runs(stack):
        if time.monotonic() > deadline:
            raise TimeoutError("the local stack's reconciler did not log a run")
        time.sleep(POLL_SECONDS)


def wait_until_healed(stack: LocalStack, key: str) -> tuple[dict[str, Any], datetime]:
    """The drop's item once ``completed``, and when Tavus finished its training."""
    deadline = time.monotonic() + DROP_TIME_LIMIT_SECONDS
    finished: datetime | None = None
    while time.monotonic() < deadline:
        item = find_item(stack, key)
        status = item.get("status") if item else None
        if item and item.get("replica_id") and finished is None:
            replica = tavus_replica(stack, str(item["replica_id"]))
            if replica["status"] == "completed":
                finished = parse_iso(str(replica["updated_at"]))
        if item and status == Status.COMPLETED.value and finished is not None:
            return item, finished
        if status not in (None, Status.SUBMITTING.value, Status.TRAINING.value):
            raise RuntimeError(f"{key} ended {status}: {item}")
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{key} was not completed within {DROP_TIME_LIMIT_SECONDS:.0f} s")


def heal_one(stack: LocalStack, key: str, name: str) -> Heal:
    stack.client("s3").put_object(
        Bucket=stack.description.bucket,
        Key=f"{stack.description.upload_prefix}{key}",
        Body=SAMPLE.read_bytes(),
        Metadata={"replica-name": name},
        ContentType="video/mp4",
    )
    item, finished = wait_until_healed(stack, key)
    entry = next(e for e in item["history"] if e.get("status") == Status.COMPLETED.value)
    completed = parse_iso(str(entry["at"]))
    delivered = sum(
        1
        for r in stack.emulator("/_emulator/replicas")["data"]
        if r["replica_id"] == item["replica_id"]
        for c in r["callbacks"]
        if 200 <= int(c.get("status_code", 0)) < 300
    )
    return Heal(
        finished,
        completed,
        str(entry.get("note", "")),
        delivered,
        healing_run_seconds(stack, completed),
    )


def measure_heal(report: Report) -> None:
    with local_stack(
        training_seconds=3600,
        reconcile_every=RECONCILE_EVERY_SECONDS,
        visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
    ) as stack:
        stack.set_emulator_faults({"callback_drop_rate": 1, "training_seconds": TRAINING_SECONDS})
        wait_for_first_run(stack)
        run = uuid.uuid4().hex[:6]
        heals = []
        for n in range(DROPS):
            # Each drop follows the heal of the one before, so just after a run: staggered by a
            # share of the period, the drops finish training at different points of the cycle.
            time.sleep(n * RECONCILE_EVERY_SECONDS / DROPS)
            heals.append(heal_one(stack, f"bench-heal-{run}-{n}.mp4", f"heal {run} {n}"))
    period = RECONCILE_EVERY_SECONDS
    seconds = [heal.seconds for heal in heals]
    run_lengths = [heal.run_seconds for heal in heals if heal.run_seconds is not None]
    longest_run = max(run_lengths) if run_lengths else None
    bound = period + (longest_run or 0.0)
    bound_text = (
        f"≤ 1 period + one run ({bound:.1f} s)"
        if longest_run is not None
        else "≤ 1 period + one run (run length not found in the log)"
    )
    by_reconciler = all(
        "reconciler" in heal.note and not heal.callbacks_delivered for heal in heals
    )
    for label, value in (("median", statistics.median(seconds)), ("max", max(seconds))):
        report.figures.append(
            Figure(
                f"lost callback healed locally: {label} of {DROPS} drops, Tavus done → completed",
                value,
                f"{value:.1f} s",
                period,
                f"{period:g} s (reconcile period)",
                bound_text,
                value <= bound and by_reconciler and longest_run is not None,
            )
        )
    report.notes.append(
        "lost-callback drops (emulator: callback_drop_rate 1, training "
        f"{TRAINING_SECONDS} s; reconciler every {period:g} s; drop n waits n/{DROPS} of a "
        "period after the previous heal): "
        + "; ".join(
            f"{heal.seconds:.2f} s (healing run "
            + (f"{heal.run_seconds:.2f} s" if heal.run_seconds is not None else "not in the log")
            + f", note {heal.note!r}, callbacks delivered {heal.callbacks_delivered})"
            for heal in heals
        )
    )


def measure() -> Report:
    report = Report("Reconciler sweep (1,000 lost callbacks; heal time, local stack)")
    measure_sweep(report)
    measure_heal(report)
    return report


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

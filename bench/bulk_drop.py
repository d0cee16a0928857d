"""Bulk drop: 1,000 videos land at once; exactly 1,000 replicas, none twice, none stuck.

Starts a local stack (Tavus training an hour long, so trainings add no
callbacks), uploads the sample video under 1,000 distinct keys, each copy made
unique by rewriting the encoder string in its ``udta`` metadata (same length,
so every box keeps its size and the probe still validates it), from a bounded
thread pool. Then it waits (bounded) until every drop is ``training`` and checks
the Tavus emulator: Create Replica called exactly 1,000 times, no replica name
twice. The wall time runs from the first upload to the last item reaching
``training`` (taken from the items' own history). The reference, in the same
run and on the same moto, is a bare ``put_object`` loop of the same 1,000
objects into a bucket with no notification.

Run: ``.venv/bin/python -m bench.bulk_drop``.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, run_alone
from bench.local_stack import LocalStack, local_stack, process_cpu_seconds

use_functions_package()

from replica_pipeline.adapters.media_probe import RangedReader, probe_video  # noqa: E402
from replica_pipeline.rules.states import Status  # noqa: E402

SAMPLE = ROOT / "samples" / "sample.mp4"
# The encoder tag in the sample's udta/meta/ilst box; rewritten, same length, per copy.
ENCODER = b"Lavf59.27.100"
DROPS = 1000
UPLOAD_THREADS = 8
TIME_LIMIT_SECONDS = 240.0
TARGET_SECONDS = 60.0
SETTLED = {Status.TRAINING.value, Status.COMPLETED.value}


def variant(sample: bytes, n: int) -> bytes:
    """The sample with a unique encoder tag: different bytes (and ETag), same boxes."""
    tag = f"bench{n:08d}".encode()
    if len(tag) != len(ENCODER) or sample.count(ENCODER) != 1:
        raise ValueError("the sample's encoder tag is not where this benchmark expects it")
    return sample.replace(ENCODER, tag)


def check_variant(data: bytes) -> None:
    def fetch(first: int, last: int) -> bytes:
        return data[first : last + 1]

    video = probe_video(RangedReader(len(data), fetch, budget=4 * 2**20), "variant.mp4")
    if video.video_codec != "avc1" or (video.duration_seconds or 0) < 60:
        raise RuntimeError(f"the variant no longer validates: {video}")


def upload_all(s3: Any, bucket: str, keys: list[str], bodies: list[bytes]) -> float:
    """Put every object from ``UPLOAD_THREADS`` threads; the wall seconds it took."""

    def put(index: int) -> None:
        s3.put_object(Bucket=bucket, Key=keys[index], Body=bodies[index], ContentType="video/mp4")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        list(pool.map(put, range(len(keys))))
    return time.perf_counter() - started


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in a queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def items_of_run(stack: LocalStack, run: str) -> list[dict[str, Any]]:
    """Every item of this run's drops (a consistent scan of the table)."""
    table = stack.table()
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.scan(**request)
        items.extend(i for i in page["Items"] if run in str(i.get("training_key", "")))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def training_at(item: dict[str, Any]) -> datetime | None:
    for entry in item.get("history", []):
        if entry.get("status") == Status.TRAINING.value:
            return datetime.fromisoformat(str(entry["at"]))
    return None


def measure_on(stack: LocalStack) -> Report:
    run = uuid.uuid4().hex[:8]
    sample = SAMPLE.read_bytes()
    bodies = [variant(sample, n) for n in range(DROPS)]
    check_variant(bodies[0])
    check_variant(bodies[-1])
    s3 = stack.client("s3")

    # Reference: the same 1,000 objects, put into a bucket that notifies nobody.
    reference_bucket = f"bench-reference-{run}"
    s3.create_bucket(Bucket=reference_bucket)
    reference_keys = [f"reference/{run}-{n:04d}.mp4" for n in range(DROPS)]
    upload_all(s3, reference_bucket, reference_keys[:20], bodies[:20])  # warm-up
    reference_seconds = upload_all(s3, reference_bucket, reference_keys, bodies)
    for first in range(0, DROPS, 1000):  # moto keeps objects in memory: free them
        s3.delete_objects(
            Bucket=reference_bucket,
            Delete={"Objects": [{"Key": k} for k in reference_keys[first : first + 1000]]},
        )

    creates_before = int(stack.emulator("/_emulator/stats")["creates"])
    prefix = stack.description.upload_prefix
    keys = [f"{prefix}bench-drop-{run}-{n:04d}.mp4" for n in range(DROPS)]
    pid = stack.pid
    stack_cpu = process_cpu_seconds(pid)
    first_upload = datetime.now().astimezone()
    started = time.monotonic()
    upload_seconds = upload_all(s3, stack.description.bucket, keys, bodies)

    deadline = started + TIME_LIMIT_SECONDS
    sqs = stack.client("sqs")
    peak_depth = 0
    while time.monotonic() < deadline:
        creates = int(stack.emulator("/_emulator/stats")["creates"]) - creates_before
        if creates >= DROPS:
            break
        peak_depth = max(peak_depth, queue_depth(sqs, stack.description.queue_url))
        time.sleep(1.0)
    items = items_of_run(stack, run)
    while time.monotonic() < deadline and (
        len(items) < DROPS or any(i["status"] not in SETTLED for i in items)
    ):
        time.sleep(1.0)
        items = items_of_run(stack, run)
    creates = int(stack.emulator("/_emulator/stats")["creates"]) - creates_before
    stack_cpu = process_cpu_seconds(pid) - stack_cpu

    settled = [i for i in items if i["status"] in SETTLED]
    stuck = DROPS - len(settled)
    finished = [moment for moment in map(training_at, settled) if moment is not None]
    wall = (max(finished) - first_upload).total_seconds() if finished else float("inf")
    replicas = [
        r
        for r in stack.emulator("/_emulator/replicas")["data"]
        if run in str(r["request"].get("replica_name", ""))  # the name carries the key's
    ]
    names = Counter(str(r["request"].get("replica_name")) for r in replicas)
    duplicates = sum(count - 1 for count in names.values() if count > 1)
    dead_letters = queue_depth(sqs, stack.description.dlq_url)
    status_events = queue_depth(sqs, stack.events_queue_url)

    drops_per_second = len(settled) / wall if finished else 0.0
    puts_per_second = DROPS / reference_seconds
    report = Report("Bulk drop (1,000 videos at once, local stack)")
    report.figures += [
        Figure(
            f"bulk drop: wall time, first upload → all {DROPS:,} submitted",
            wall,
            f"{wall:.1f} s",
            reference_seconds,
            f"{reference_seconds:.1f} s (bare put_object loop, same {DROPS:,} objects)",
            f"≤ {TARGET_SECONDS:.0f} s",
            wall <= TARGET_SECONDS and stuck == 0,
        ),
        Figure(
            "bulk drop: drops/s",
            drops_per_second,
            f"{drops_per_second:.1f} /s",
            puts_per_second,
            f"{puts_per_second:.1f} /s (bare put_object)",
            "report only",
            None,
        ),
        Figure(
            "bulk drop: Create Replica calls",
            creates,
            f"{creates:,}",
            DROPS,
            f"{DROPS:,} drops",
            f"exactly {DROPS:,}",
            creates == DROPS,
        ),
        Figure(
            "bulk drop: duplicate replicas (same replica_name)",
            duplicates,
            str(duplicates),
            len(replicas),
            f"{len(replicas):,} replicas of this run",
            "0",
            duplicates == 0,
        ),
        Figure(
            "bulk drop: stuck items (not training/completed in time)",
            stuck,
            str(stuck),
            DROPS,
            f"{DROPS:,} drops",
            "0",
            stuck == 0,
        ),
    ]
    statuses = Counter(str(i["status"]) for i in items)
    report.notes.append(
        f"uploads took {upload_seconds:.1f} s ({UPLOAD_THREADS} threads); items by status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; messages in the dead-letter queue: {dead_letters}"
    )
    report.notes.append(
        f"the stack process (moto, the emulator and the API adapter; ingest runs in its own "
        f"container processes) used {stack_cpu:.0f} s of CPU, "
        f"{stack_cpu / DROPS * 1000:.0f} ms per drop, for "
        f"{wall / DROPS * 1000:.0f} ms of wall time per drop"
    )
    report.notes.append(
        f"the ingest queue held up to {peak_depth} messages while the drops were handled, and "
        f"the status-events queue (drained by nobody locally) {status_events} at the end: "
        "moto 5.2.5's SQS walks every queued message, reading the clock for each, on every "
        "SendMessage (each S3 notification, each status event) and, per message received, "
        "on ReceiveMessage, so each request costs more the deeper the queues"
    )
    return report


def measure() -> Report:
    with local_stack(training_seconds=3600, reconcile_every=3600, visibility_timeout=30) as stack:
        return measure_on(stack)


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

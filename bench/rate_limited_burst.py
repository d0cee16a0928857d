"""Rate-limited burst: 200 drops at once into a Tavus that takes 2 creates/s.

Starts a local stack (Tavus training an hour long, so trainings add no
callbacks; a 3 s visibility timeout, so a record that fails instead of waiting
reaches the dead-letter queue within seconds), tells the Tavus emulator to
accept at most ``LIMIT_PER_SECOND`` creates per second (a create beyond that
gets 429 with ``Retry-After: 1`` and makes nothing), then uploads 200 distinct
drops at once (the sample made unique per drop as ``bench.bulk_drop`` does).
It waits (bounded) until every drop is ``training`` and checks, from the
emulator's own record, that exactly 200 replicas exist, no name twice, and
that the ingest dead-letter queue is empty: while Tavus rate limits, drops must
wait without using up their deliveries.

The achieved create rate is the creates over the seconds they occupied, from the
first create's ``created_at`` to one second after the last's: the limiter counts
creates in a sliding one-second window, so N creates at the limit span
``ceil(N / limit) - 1`` seconds at least (two at once, two a second later, ...)
and the added second is the last window's. So measured it never exceeds the
limit, and ratio = achieved ÷ limit is at most 1.0 (1.0 is a perfect client).
The notes also give the bare ``N / (last - first)``, which may exceed the limit
by up to a window. The wall time runs from the first upload to the last item
reaching ``training`` (from the items' history); its reference is
``N / limit``, the least the limit allows.

Run: ``.venv/bin/python -m bench.rate_limited_burst``. Exits non-zero unless
replicas = 200 (no name twice) and the dead-letter queue is empty.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from bench import use_functions_package
from bench.bulk_drop import (
    SAMPLE,
    SETTLED,
    check_variant,
    items_of_run,
    queue_depth,
    training_at,
    upload_all,
    variant,
)
from bench.figures import Figure, Report, run_alone
from bench.local_stack import LocalStack, local_stack

use_functions_package()

from replica_pipeline.rules.deferral import MESSAGE_KEY  # noqa: E402

DROPS = 200
LIMIT_PER_SECOND = 2
TIME_LIMIT_SECONDS = 600.0
VISIBILITY_TIMEOUT_SECONDS = 3
# Short client backoff, so a create that meets the limit tries again (or defers) soon.
SETTINGS = {"TAVUS_BACKOFF_SECONDS": "0.2"}
SHOWN = 5  # unsettled items and dead letters quoted in the notes
# The figures this benchmark exists to check: any missed one makes it exit non-zero.
REPLICAS = "rate-limited burst: replicas created (emulator record)"
DUPLICATES = "rate-limited burst: duplicate replicas (same replica_name)"
DEAD_LETTERS = "rate-limited burst: messages in the ingest dead-letter queue"


def dead_letters(stack: LocalStack) -> tuple[int, list[dict[str, Any]]]:
    """Messages in the ingest DLQ (visible or in flight), and the ones a peek returns."""
    sqs = stack.client("sqs")
    dlq_url = stack.description.dlq_url
    counted = queue_depth(sqs, dlq_url)
    # VisibilityTimeout=0: a peek that leaves the messages where they were.
    peeked: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["All"],
    ).get("Messages", [])
    return max(counted, len(peeked)), peeked


def dead_letter_text(message: dict[str, Any]) -> str:
    """A dead letter in a few words: its object key, whether a deferred copy, its receives."""
    body = str(message["Body"])
    try:
        document = json.loads(body)
        copy = document.get(MESSAGE_KEY) if isinstance(document, dict) else None
        event = json.loads(copy["body"]) if isinstance(copy, dict) else document
        key = event["Records"][0]["s3"]["object"]["key"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"unreadable body {body[:200]!r}"
    kind = f"deferred copy ({copy.get('deferrals')} deferrals)" if copy else "S3 event"
    receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
    return f"{key}: {kind}, receive count {receives} (this peek included)"


def replicas_of_run(stack: LocalStack, run: str) -> list[dict[str, Any]]:
    """The emulator's record of every replica this run created (the name carries the key's)."""
    return [
        r
        for r in stack.emulator("/_emulator/replicas")["data"]
        if run in str(r["request"].get("replica_name", ""))
    ]


def wait_until_settled(stack: LocalStack, run: str, deadline: float) -> list[dict[str, Any]]:
    """Every drop's item once all are training (or completed), or whatever they are at deadline."""
    items = items_of_run(stack, run)
    while time.monotonic() < deadline and (
        len(items) < DROPS or any(i["status"] not in SETTLED for i in items)
    ):
        time.sleep(1.0)
        items = items_of_run(stack, run)
    return items


def unsettled_note(items: list[dict[str, Any]]) -> str:
    """The first few items not training/completed, with their last_error."""
    unsettled = [i for i in items if i["status"] not in SETTLED]
    if not unsettled:
        return "every item is training or completed"
    quoted = "; ".join(
        f"{i.get('training_key')} {i['status']} (last_error: {i.get('last_error', '-')!s})"
        for i in unsettled[:SHOWN]
    )
    return f"{len(unsettled)} item(s) not training/completed, e.g. {quoted}"


def measure_on(stack: LocalStack) -> Report:
    run = uuid.uuid4().hex[:8]
    sample = SAMPLE.read_bytes()
    # Copies 0..DROPS-1 of the same encoder tags bulk_drop uses; the run tag is in the keys.
    bodies = [variant(sample, n) for n in range(DROPS)]
    check_variant(bodies[0])
    check_variant(bodies[-1])
    s3 = stack.client("s3")
    prefix = stack.description.upload_prefix
    keys = [f"{prefix}bench-burst-{run}-{n:04d}.mp4" for n in range(DROPS)]

    stack.set_emulator_faults({"max_creates_per_second": LIMIT_PER_SECOND})
    first_upload = datetime.now().astimezone()
    started = time.monotonic()
    upload_seconds = upload_all(s3, stack.description.bucket, keys, bodies)
    items = wait_until_settled(stack, run, started + TIME_LIMIT_SECONDS)

    replicas = replicas_of_run(stack, run)
    names = Counter(str(r["request"].get("replica_name")) for r in replicas)
    duplicates = sum(count - 1 for count in names.values() if count > 1)
    dlq, dlq_messages = dead_letters(stack)
    settled = [i for i in items if i["status"] in SETTLED]
    stuck = DROPS - len(settled)
    finished = [moment for moment in map(training_at, settled) if moment is not None]
    wall = (max(finished) - first_upload).total_seconds() if finished else float("inf")
    created = sorted(datetime.fromisoformat(str(r["created_at"])) for r in replicas)
    span = (created[-1] - created[0]).total_seconds() if len(created) > 1 else 0.0
    achieved = len(created) / (span + 1.0) if created else 0.0
    bare_rate = len(created) / span if span > 0 else float("inf")
    least_wall = DROPS / LIMIT_PER_SECOND

    report = Report(f"Rate-limited burst ({DROPS} drops at once, Tavus at {LIMIT_PER_SECOND}/s)")
    report.figures += [
        Figure(
            REPLICAS,
            len(replicas),
            f"{len(replicas):,}",
            DROPS,
            f"{DROPS:,} drops",
            f"exactly {DROPS:,}",
            len(replicas) == DROPS,
        ),
        Figure(
            DUPLICATES,
            duplicates,
            str(duplicates),
            len(replicas),
            f"{len(replicas):,} replicas of this run",
            "0",
            duplicates == 0,
        ),
        Figure(
            DEAD_LETTERS,
            dlq,
            str(dlq),
            DROPS,
            f"{DROPS:,} drops",
            "0",
            dlq == 0,
        ),
        Figure(
            "rate-limited burst: achieved create rate",
            achieved,
            f"{achieved:.2f} /s",
            LIMIT_PER_SECOND,
            f"{LIMIT_PER_SECOND} /s (emulator's limit)",
            "close to the limit (ratio ≤ 1.0)",
            None,
        ),
        Figure(
            f"rate-limited burst: wall time, first upload → all {DROPS} training",
            wall,
            f"{wall:.1f} s",
            least_wall,
            f"{least_wall:.0f} s ({DROPS} creates at {LIMIT_PER_SECOND}/s)",
            "report only",
            None,
        ),
        Figure(
            "rate-limited burst: stuck items (not training/completed in time)",
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
        f"uploads took {upload_seconds:.1f} s; items by status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; {unsettled_note(items)}"
    )
    report.notes.append(
        f"the {len(created)} creates spanned {span:.1f} s (first to last created_at): "
        f"{bare_rate:.2f} /s as N / span; the achieved rate above counts the last create's "
        f"one-second window too, so it cannot exceed the limit (at the limit, N creates span "
        f"at least {max(0, -(-len(created) // LIMIT_PER_SECOND) - 1)} s)"
    )
    report.notes.append(
        f"visibility timeout {VISIBILITY_TIMEOUT_SECONDS} s, "
        + ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
        + (
            f"; dead letters (first {len(dlq_messages)}): "
            + "; ".join(dead_letter_text(m) for m in dlq_messages)
            if dlq_messages
            else "; the dead-letter queue is empty"
        )
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
    # Fail loudly on what this benchmark exists to check (the figures are printed first).
    must_hold = {REPLICAS, DUPLICATES, DEAD_LETTERS}
    missed = [f.line() for f in report.figures if f.name in must_hold and f.met is not True]
    if missed:
        sys.exit("rate-limited burst FAILED: " + "; ".join(missed))


if __name__ == "__main__":
    main()

"""The deep check of a 200 MB recording in the local stack ÷ decoding its key frames.

The local stack runs with ``--deep-check``: a drop goes to ``checking``, the
deep-check function (its own container, as in AWS) downloads it from S3 (moto)
and checks its sound and pictures, then the item moves to ``submitting``. The
figure is that span, read from the item's history, for a 200 MB 1080p30
recording (sensor noise at about 10 Mbit/s, 150 s: 75 s of speech, then room
tone) dropped after a warm-up drop, so the container is warm as Lambda's mostly
are. The reference, measured in the same run on the same file, is PyAV decoding
the video's key frames alone. From the figure comes what a check costs in Lambda:
duration times the function's memory (DEEP_CHECK_MEMORY_MB), in GB-seconds.

Run: ``.venv/bin/python -m bench.deep_check_cost`` (``make bench`` runs it via bench.run_all).
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, mib, run_alone
from bench.local_stack import LocalStack, local_stack
from bench.preflight_check import ROUNDS, decode_key_frames, median_seconds

use_functions_package()

from replica_pipeline.config import DEEP_CHECK_MEMORY_MB  # noqa: E402
from replica_pipeline.contracts.table_schema import PARTITION_KEY  # noqa: E402
from replica_pipeline.preflight.check import check_submission  # noqa: E402
from tests.clips import make_clip  # noqa: E402

SECONDS = 150
FPS = 30
TARGET_BYTES = 200 * 10**6
# Lambda's arm64 price per GB-second (us-east-1, the first 7.5 billion GB-s a month).
ARM64_PRICE_PER_GB_SECOND = 0.0000133334
WAIT_SECONDS = 300
SAMPLE = ROOT / "samples" / "sample.mp4"


def drop(stack: LocalStack, key: str, path: Path) -> None:
    stack.client("s3").upload_file(str(path), stack.description.bucket, key)


def checked(stack: LocalStack, key: str) -> dict[str, Any]:
    """The item of the drop at ``key`` once the deep check is done with it."""
    table = stack.table()
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for item in table.scan(ConsistentRead=True)["Items"]:
            if item.get("training_key") == key and item.get("checked_at"):
                return dict(item)
        time.sleep(0.2)
    raise TimeoutError(f"the deep check did not finish {key} in {WAIT_SECONDS} s")


def check_seconds(item: dict[str, Any]) -> float:
    """From ``checking`` to the status the check gave it, by the item's history."""
    at = {entry["status"]: datetime.fromisoformat(entry["at"]) for entry in item["history"]}
    verdict = "submitting" if "submitting" in at else "rejected"
    return (at[verdict] - at["checking"]).total_seconds()


def measure() -> Report:
    with tempfile.TemporaryDirectory(prefix="bench-deep-check-") as folder:
        recording = Path(folder) / "recording.mp4"
        make_clip(
            recording,
            width=1920,
            height=1080,
            seconds=SECONDS,
            speech=[(0, SECONDS / 2)],
            fps=FPS,
            camera_noise=True,
        )
        size = recording.stat().st_size
        key_frames = decode_key_frames(recording)  # untimed: the page cache, PyAV's setup
        started = time.perf_counter()
        decode_key_frames(recording)
        decoding = time.perf_counter() - started
        with local_stack(
            training_seconds=3600,
            reconcile_every=3600,
            visibility_timeout=60,
            options=["--deep-check"],
        ) as stack:
            prefix = stack.description.upload_prefix
            drop(stack, f"{prefix}warm-up.mp4", SAMPLE)
            warm_up = checked(stack, f"{prefix}warm-up.mp4")
            drop(stack, f"{prefix}recording.mp4", recording)
            item = checked(stack, f"{prefix}recording.mp4")
            # The two parts of the span, apart: one GET from moto's S3, and the check alone.
            copy = Path(folder) / "downloaded.mp4"
            started = time.perf_counter()
            stack.client("s3").download_file(
                stack.description.bucket, f"{prefix}recording.mp4", str(copy)
            )
            download = time.perf_counter() - started
        check_alone = median_seconds(lambda: check_submission(recording))
    seconds = check_seconds(item)
    gb_seconds = seconds * DEEP_CHECK_MEMORY_MB / 1024
    result = Report("Deep check (the deep-check function, 200 MB 1080p30 recording, local stack)")
    result.figures.append(
        Figure(
            f"deep check: download + check of a {mib(size)} recording ({item['status']})",
            seconds,
            f"{seconds:.2f} s",
            decoding,
            f"{decoding:.2f} s (PyAV: decode its {key_frames} key frames only)",
            "reported",
            None,
        )
    )
    result.notes.append(
        f"cost in Lambda at {DEEP_CHECK_MEMORY_MB} MB: {gb_seconds:.1f} GB-s, about "
        f"${gb_seconds * ARM64_PRICE_PER_GB_SECOND:.4f} a check at the arm64 price "
        f"(${ARM64_PRICE_PER_GB_SECOND}/GB-s); the span runs from `checking` to the verdict "
        f"in the item's history, so it includes the queue's poll; the warm-up drop (the "
        f"1.7 MB sample, cold container) took {check_seconds(warm_up):.2f} s; "
        f"apart: the download from moto's S3 (one Python process) took {download:.2f} s and "
        f"the check alone {check_alone:.2f} s (median of {ROUNDS} runs in this process); "
        f"{len(item.get('check_findings') or [])} findings on the recording; item "
        f"{item[PARTITION_KEY]}"
    )
    if size < TARGET_BYTES * 0.9:
        result.notes.append(f"the recording came out at {mib(size)}, under the 200 MB aimed at")
    return result


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

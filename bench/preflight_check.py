"""Pre-flight check (``replicas check``) on a two-minute 1080p30 recording, ÷ reading its header.

The clip is made once in a temp dir with ``tests.clips.make_clip``: 1920x1080,
30 fps H.264 (libx264 ultrafast, changing noise capped at 8 Mbit/s, so the file
is as large as a phone's), stereo 48 kHz AAC, a minute of speech then a minute
of room tone. The figure is the median of 5 runs of ``check_submission`` on it
(one untimed run first, so both figures see the file in the page cache); the
reference, measured the same way in the same run, is opening the same file
with PyAV and reading its stream metadata only, what any header probe costs.
There is no target: the check is worth it if it stays well under the seconds a
user waits for an upload to start.

Run: ``.venv/bin/python -m bench.preflight_check`` (``make bench`` runs it via bench.run_all).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

from bench import use_functions_package
from bench.figures import Figure, Report, mib, ms, run_alone

use_functions_package()

from replica_pipeline.preflight.check import check_submission  # noqa: E402
from tests.clips import make_clip  # noqa: E402

ROUNDS = 5
SECONDS = 120
FPS = 30


def read_header(path: Path) -> str:
    """What a header probe learns: codec, size, frame rate, duration, audio format."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        return (
            f"{video.codec_context.name} {video.codec_context.width}x{video.codec_context.height}"
            f" {video.average_rate} fps {container.duration} us {audio.codec_context.name}"
            f" {audio.sample_rate} Hz"
        )


def median_seconds(work: Callable[[], object]) -> float:
    work()  # untimed: the page cache and PyAV's lazy setup are then the same for every round
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure() -> Report:
    with tempfile.TemporaryDirectory(prefix="bench-preflight-") as folder:
        clip = Path(folder) / "recording.mp4"
        started = time.perf_counter()
        make_clip(
            clip,
            width=1920,
            height=1080,
            seconds=SECONDS,
            speech=[(0, SECONDS / 2)],
            fps=FPS,
            camera_noise=True,
            stereo=True,
        )
        made_in = time.perf_counter() - started
        size = clip.stat().st_size
        (report,) = check_submission(clip)
        if not report.passed:
            raise RuntimeError(f"the bench clip should pass the check: {report.failures}")
        check = median_seconds(lambda: check_submission(clip))
        header = median_seconds(lambda: read_header(clip))

    result = Report("Pre-flight check (replicas check, 2-min 1080p30 recording)")
    result.figures.append(
        Figure(
            f"preflight check: {SECONDS // 60}-min 1080p{FPS} H.264 + AAC recording",
            check,
            ms(check),
            header,
            f"{ms(header)} (PyAV: open + stream metadata only)",
            "report only",
            None,
        )
    )
    result.notes.append(
        f"median of {ROUNDS} runs each after one untimed run (file in the page cache); "
        f"clip: {mib(size)}, {len(report.loudness)} one-second loudness windows, made in "
        f"{made_in:.1f} s (one second of noise encoded, its packets repeated)"
    )
    return result


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

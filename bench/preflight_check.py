"""Pre-flight check (``replicas check``) of a 2-minute 1080p30 recording ÷ decoding its key frames.

The clip is made once in a temp dir with ``tests.clips.make_clip``: 1920x1080,
30 fps H.264 (libx264 ultrafast, a person in a room with changing sensor noise,
capped at 8 Mbit/s, so the file is as large as a phone's), a key frame a second,
stereo 48 kHz AAC, a minute of speech then a minute of room tone. The figure is
the median of 5 runs of ``check_submission`` on it, sound and pictures (one
untimed run first, so every figure sees the file in the page cache); the
reference, measured the same way in the same run, is PyAV decoding the video's
key frames and nothing else, the least any look at the pictures costs. The
target (issue 18) is the whole check in at most 5 s on 2 cores. Reading the
header alone is noted beside them.

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
from replica_pipeline.preflight.report import PICTURE_CHECKS  # noqa: E402
from tests.clips import make_clip  # noqa: E402

ROUNDS = 5
TARGET_SECONDS = 5.0
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


def decode_key_frames(path: Path) -> int:
    """Decode every key frame of the video and nothing else; how many there were."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.codec_context.skip_frame = "NONKEY"
        video.codec_context.thread_type = "AUTO"
        return sum(1 for _ in container.decode(video))


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
        key_frames = median_seconds(lambda: decode_key_frames(clip))
        header = median_seconds(lambda: read_header(clip))
        key_frame_count = decode_key_frames(clip)

    result = Report(
        "Pre-flight check (replicas check, sound and pictures, 2-min 1080p30 recording)"
    )
    result.figures.append(
        Figure(
            f"preflight check: {SECONDS // 60}-min 1080p{FPS} H.264 + AAC recording",
            check,
            ms(check),
            key_frames,
            f"{ms(key_frames)} (PyAV: decode the {key_frame_count} key frames only)",
            "≤ 5 s",
            check <= TARGET_SECONDS,
        )
    )
    result.notes.append(
        f"median of {ROUNDS} runs each after one untimed run (file in the page cache); "
        f"clip: {mib(size)}, {len(report.loudness)} one-second loudness windows, made in "
        f"{made_in:.1f} s (one second of noise encoded, its packets repeated); reading the "
        f"header alone (PyAV: open + stream metadata) took {ms(header)}; "
        f"{sum(f.check in PICTURE_CHECKS for f in report.findings)} visual findings"
    )
    return result


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

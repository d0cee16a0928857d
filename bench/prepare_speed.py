"""``replicas prepare`` on a two-minute 4K 60 fps HEVC phone recording, ÷ its duration.

The clip is made once in a temp dir with ``tests.clips.make_clip``: 3840x2160,
60 fps HEVC (libx265 ultrafast, tagged hvc1 as an iPhone writes it) in a .mov,
with the display matrix of a phone held upright (-90), stereo 48 kHz AAC, a
minute of speech then a minute of room tone. One second of pictures is encoded
and its packets repeated, so the decoder sees the same (still, cheap to decode)
second 120 times: a real recording costs more to decode, none of it costs less.

The figure is one run of ``replica_pipeline_local.cli.prepare.prepare`` on it (HEVC -> H.264, 4K ->
1080x1920, 60 -> 30 fps, rotation applied); the reference is the clip's own
duration, so the ratio is the real-time factor (target < 1: faster than real
time). A second figure, for the breakdown, is decoding the video alone (frame
threads, as prepare decodes it): the floor under any re-encode. CPU seconds and
the load average are noted, because the machines these run on are shared.

Run: ``.venv/bin/python -m bench.prepare_speed`` (``make bench`` runs it via bench.run_all).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import av

from bench import use_functions_package
from bench.figures import Figure, Report, mib, run_alone

use_functions_package()

from replica_pipeline.config import ValidationLimits  # noqa: E402
from replica_pipeline_local.cli.prepare import prepare  # noqa: E402
from replica_pipeline_local.cli.submit_command import check_local_video  # noqa: E402
from tests.clips import make_clip  # noqa: E402

SECONDS = 120
FPS = 60
WIDTH, HEIGHT = 3840, 2160
TITLE = "Prepare speed (replicas prepare, 2-min 4K60 HEVC .mov)"


def decode_only(path: Path) -> float:
    """Seconds to decode every picture as prepare does, and nothing else."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        started = time.perf_counter()
        for _ in container.decode(video):
            pass
        return time.perf_counter() - started


def measure() -> Report:
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as folder:
        clip = Path(folder) / "IMG_0001.mov"
        started = time.perf_counter()
        make_clip(
            clip,
            width=WIDTH,
            height=HEIGHT,
            seconds=SECONDS,
            speech=[(0, SECONDS / 2)],
            codec="hevc",
            fps=FPS,
            stereo=True,
            rotation=-90,
        )
        made_in = time.perf_counter() - started
        source_size = clip.stat().st_size
        decoding = decode_only(clip)  # also puts the file in the page cache for the timed run

        output = Path(folder) / "IMG_0001.prepared.mp4"
        load_before = os.getloadavg()[0]
        cpu_before = time.process_time()
        prepared = prepare(clip, output, ValidationLimits())
        cpu = time.process_time() - cpu_before
        load_after = os.getloadavg()[0]
        rejection = check_local_video(output, ValidationLimits())
        if rejection:
            raise RuntimeError(f"the prepared clip would be rejected: {rejection}")

    ratio = prepared.seconds / SECONDS
    result = Report(TITLE)
    result.figures.append(
        Figure(
            f"prepare: {SECONDS // 60}-min {WIDTH}x{HEIGHT} {FPS} fps HEVC .mov -> 1080p30 H.264",
            prepared.seconds,
            f"{prepared.seconds:.1f} s",
            float(SECONDS),
            f"{SECONDS} s (the clip's duration: real time)",
            "ratio < 1 (faster than real time)",
            ratio < 1,
        )
    )
    result.figures.append(
        Figure(
            "prepare ÷ decoding the 4K HEVC alone",
            prepared.seconds,
            f"{prepared.seconds:.1f} s",
            decoding,
            f"{decoding:.1f} s (decode only, frame threads)",
            "report only",
            None,
        )
    )
    plan = prepared.plan
    result.notes.append(
        f"{os.cpu_count()} CPUs; prepare used {cpu:.1f} CPU-seconds "
        f"({cpu / SECONDS:.2f} per second of video); 1-minute load average "
        f"{load_before:.1f} before, {load_after:.1f} after (this run's own threads count ~2; "
        "more is other work on the machine, which slows it)"
    )
    result.notes.append(
        f"output: {plan.width}x{plan.height} at {float(plan.frame_rate):g} fps, "
        f"{mib(prepared.size)} (source {mib(source_size)}); changes: {'; '.join(plan.changes)}"
    )
    result.notes.append(
        f"clip made in {made_in:.1f} s (one second of 4K HEVC encoded, its packets repeated)"
    )
    return result


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

"""Bytes read from S3 to validate one drop: small videos vs >= 200 MB ones.

The probe reads box headers and the moov box through ranged GETs, so what it
reads should not grow with the video. This builds 200 MB variants of the
sample (moov at the start and at the end, by padding the media data), uploads
them to moto's server, and reports bytes read, the ratio large / small (target
<= 2) and the largest read (target <= the 4 MiB cap). A two-minute 1080p WebM
(VP9 + Opus, made with PyAV) is read the same way, next to the small MP4.

Run: ``.venv/bin/python -m bench.bytes_read`` (``make bench``).
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import boto3

from bench import ROOT, use_functions_package
from bench.figures import Figure, Report, mib, run_alone
from replica_pipeline_local.stack.moto_server import start_moto_server

use_functions_package()

from replica_pipeline.adapters.media_probe import RangedReader, probe_video  # noqa: E402
from replica_pipeline.config import ValidationLimits  # noqa: E402
from tests.clips import make_clip  # noqa: E402

LARGE_BYTES = 200 * 1024 * 1024
MOOV_AT_START = ROOT / "samples" / "sample.mp4"
MOOV_AT_END = ROOT / "tests" / "data" / "moov-at-end.mp4"
TARGET_RATIO = 2.0
WEBM_CASE = "2-min 1080p WebM"


def padded(video: bytes, extra: int) -> bytes:
    """The same video with ``extra`` bytes of padding appended to its mdat box.

    The mdat box gets a 64-bit size, which shifts the samples by 8 bytes: the
    file is for measuring header reads, not for playing.
    """
    offset = 0
    while offset < len(video):
        size, kind = struct.unpack(">I4s", video[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", video[offset + 8 : offset + 16])[0]
            header = 16
        if kind == b"mdat":
            payload = video[offset + header : offset + size]
            new_size = 16 + len(payload) + extra
            box = struct.pack(">I4sQ", 1, b"mdat", new_size) + payload + bytes(extra)
            return video[:offset] + box + video[offset + size :]
        offset += size
    raise ValueError("no mdat box")


def two_minute_webm() -> bytes:
    """A two-minute 1080p25 WebM of VP9 video and Opus sound, as a browser might upload."""
    with tempfile.TemporaryDirectory() as folder:
        path = make_clip(
            Path(folder) / "two-minutes.webm",
            width=1920,
            height=1080,
            seconds=120,
            fps=25,
            speech=[(0.0, 60.0)],
            codec="libvpx-vp9",
            audio_codec="libopus",
        )
        return path.read_bytes()


def measure() -> Report:
    server, endpoint = start_moto_server()
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto's dummy credentials
    )
    s3.create_bucket(Bucket="bench-uploads")
    budget = ValidationLimits().probe_max_bytes
    cases = [
        ("small, moov at start", MOOV_AT_START.read_bytes()),
        ("small, moov at end", MOOV_AT_END.read_bytes()),
        ("200 MB, moov at start", padded(MOOV_AT_START.read_bytes(), LARGE_BYTES)),
        ("200 MB, moov at end", padded(MOOV_AT_END.read_bytes(), LARGE_BYTES)),
        (WEBM_CASE, two_minute_webm()),
    ]
    results: dict[str, tuple[int, int, int]] = {}
    try:
        for name, data in cases:
            extension = ".webm" if name == WEBM_CASE else ".mp4"
            key = f"uploads/{name.replace(' ', '-').replace(',', '')}{extension}"
            s3.put_object(Bucket="bench-uploads", Key=key, Body=data)

            def fetch(first: int, last: int, key: str = key) -> bytes:
                body: bytes = s3.get_object(
                    Bucket="bench-uploads", Key=key, Range=f"bytes={first}-{last}"
                )["Body"].read()
                return body

            reader = RangedReader(len(data), fetch, budget=budget)
            video = probe_video(reader, key)
            if video.video_codec not in ("avc1", "V_VP9") or video.duration_seconds is None:
                raise RuntimeError(f"{name}: the probe misread the video: {video}")
            results[name] = (len(data), reader.bytes_fetched, reader.requests)
            # Drop the 200 MB object now: moto keeps it in memory.
            s3.delete_object(Bucket="bench-uploads", Key=key)
    finally:
        server.stop()

    report = Report("Bytes read per drop (validation's ranged GETs)")
    report.notes.append(
        "per video: "
        + "; ".join(
            f"{name}: {read:,} B of {size:,} B in {requests} GET(s)"
            for name, (size, read, requests) in results.items()
        )
    )
    for where in ("start", "end"):
        small = results[f"small, moov at {where}"][1]
        large = results[f"200 MB, moov at {where}"][1]
        report.figures.append(
            Figure(
                f"bytes read: 200 MB video, moov at {where}",
                large,
                f"{large:,} B",
                small,
                f"{small:,} B (small video, moov at {where})",
                f"ratio ≤ {TARGET_RATIO:g}",
                large / small <= TARGET_RATIO,
            )
        )
    webm, mp4 = results[WEBM_CASE][1], results["small, moov at start"][1]
    report.figures.append(
        Figure(
            "bytes read: two-minute WebM",
            webm,
            f"{webm:,} B of {results[WEBM_CASE][0]:,} B",
            mp4,
            f"{mp4:,} B (small MP4, moov at start)",
            f"ratio ≤ {TARGET_RATIO:g}",
            webm / mp4 <= TARGET_RATIO,
        )
    )
    largest_name, (size, largest, _) = max(results.items(), key=lambda pair: pair[1][1])
    report.figures.append(
        Figure(
            "bytes read: largest read of any drop",
            largest,
            mib(largest),
            size,
            f"{mib(size)} (that video's size: {largest_name})",
            f"≤ {budget / 2**20:g} MiB",
            largest <= budget,
        )
    )
    return report


def main() -> None:
    run_alone(measure)


if __name__ == "__main__":
    main()

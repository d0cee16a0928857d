"""Bytes read from S3 to validate one drop: small videos vs >= 200 MB ones.

The probe reads box headers and the moov box through ranged GETs, so what it
reads should not grow with the video. This builds 200 MB variants of the
sample (moov at the start and at the end, by padding the media data), uploads
them to moto's server, and prints bytes read and the ratio large / small.

Run: ``.venv/bin/python -m bench.bytes_read`` (``make bench``).
"""

from __future__ import annotations

import logging
import struct
import sys
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))

from replica_pipeline.config import ValidationLimits  # noqa: E402
from replica_pipeline.media_probe import RangedReader, probe_video  # noqa: E402

LARGE_BYTES = 200 * 1024 * 1024
MOOV_AT_START = ROOT / "samples" / "sample.mp4"
MOOV_AT_END = ROOT / "tests" / "data" / "moov-at-end.mp4"


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


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
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
    ]
    results: dict[str, tuple[int, int, int]] = {}
    for name, data in cases:
        key = f"uploads/{name.replace(' ', '-').replace(',', '')}.mp4"
        s3.put_object(Bucket="bench-uploads", Key=key, Body=data)

        def fetch(first: int, last: int, key: str = key) -> bytes:
            body: bytes = s3.get_object(
                Bucket="bench-uploads", Key=key, Range=f"bytes={first}-{last}"
            )["Body"].read()
            return body

        reader = RangedReader(len(data), fetch, budget=budget)
        video = probe_video(reader, key)
        if video.video_codec != "avc1" or video.duration_seconds != 120.0:
            raise SystemExit(f"{name}: the probe misread the video: {video}")
        results[name] = (len(data), reader.bytes_fetched, reader.requests)
    server.stop()

    print(f"{'video':<24}{'size':>14}{'bytes read':>12}{'GETs':>6}{'read/size':>11}")
    for name, (size, read, requests) in results.items():
        print(f"{name:<24}{size:>14,}{read:>12,}{requests:>6}{read / size:>11.4%}")
    for where in ("start", "end"):
        small = results[f"small, moov at {where}"][1]
        large = results[f"200 MB, moov at {where}"][1]
        print(
            f"moov at {where}: large / small = {large / small:.2f} (target <= 2), "
            f"largest read {max(small, large) / 2**20:.2f} MiB (cap {budget / 2**20:.0f} MiB)"
        )


if __name__ == "__main__":
    main()

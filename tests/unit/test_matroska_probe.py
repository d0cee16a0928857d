"""A WebM's header is read like an MP4's: a few kilobytes from the front, never the video.

The clips are made by PyAV in the test: one as ffmpeg writes a file (sizes,
duration and frame duration in the header) and one as a browser's recorder
streams it (unknown sizes, no duration, no frame duration).
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from replica_pipeline.adapters.media_probe import RangedReader, container_rejection, probe_video
from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.validation import WEBM, VideoFacts, check_video
from tests.clips import ClipMaker

BLOCK = 16 * 1024
LIMITS = ValidationLimits()


def reader_for(data: bytes) -> RangedReader:
    return RangedReader(
        len(data), lambda first, last: data[first : last + 1], budget=4 << 20, block_size=BLOCK
    )


class _Pipe(io.RawIOBase):
    """A sink that cannot seek, as a browser's MediaRecorder writes: sizes stay unknown."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)


def streamed(source: Path) -> bytes:
    """``source`` remuxed as it would be recorded live (no duration, unknown sizes)."""
    pipe = _Pipe()
    with av.open(str(source)) as inp, av.open(pipe, "w", format="webm") as out:
        outputs = {stream.index: out.add_stream_from_template(stream) for stream in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = outputs[packet.stream.index]
                out.mux(packet)
    return bytes(pipe.data)


@pytest.fixture(scope="module")
def webm(clip: ClipMaker) -> Path:
    return clip(
        "vp9-opus.webm",
        seconds=70,
        speech=[(0.0, 35.0)],
        codec="libvpx-vp9",
        audio_codec="libopus",
    )


def test_a_webm_header_gives_codecs_size_duration_and_frame_rate(webm: Path) -> None:
    reader = reader_for(webm.read_bytes())

    facts = probe_video(reader, webm.name)

    assert facts == VideoFacts(
        "V_VP9",
        1920,
        1080,
        pytest.approx(70.0, abs=0.1),  # type: ignore[arg-type]
        frame_rate=25.0,
        has_audio=True,
        audio_codec="A_OPUS",
        container=WEBM,
    )
    assert check_video(facts, LIMITS) is None
    assert (reader.requests, reader.bytes_fetched) == (1, BLOCK)


def test_a_webm_streamed_by_a_browser_is_read_without_a_duration(webm: Path) -> None:
    data = streamed(webm)
    reader = reader_for(data)

    facts = probe_video(reader, "recorded.webm")

    assert (facts.video_codec, facts.audio_codec) == ("V_VP9", "A_OPUS")
    assert (facts.duration_seconds, facts.frame_rate) == (None, None)
    # Nothing to hold against it: the floor is left to Tavus rather than guessed.
    assert check_video(facts, LIMITS) is None
    assert reader.bytes_fetched < 4 * BLOCK < len(data)


def test_a_cut_short_webm_is_refused_with_the_sizes(webm: Path) -> None:
    data = webm.read_bytes()[:200_000]

    reason = container_rejection(reader_for(data), "cut.webm", LIMITS)

    assert reason is not None
    assert reason.startswith("the file is cut short: its Segment needs")
    assert "but the file has 200,000" in reason


def test_a_webm_with_h264_inside_is_refused_with_the_fix(clip: ClipMaker) -> None:
    # Matroska holds H.264 too, but WebM means VP8/VP9/AV1: Tavus's "webm" is WebM's codecs.
    path = clip("h264.mkv", seconds=3, speech=[(0.0, 2.0)], audio_codec="libopus")
    data = path.read_bytes()

    reason = container_rejection(reader_for(data), "h264.webm", LIMITS)

    assert reason is not None
    assert "video codec is 'V_MPEG4/ISO/AVC'; Tavus needs VP8, VP9 or AV1 video in a WebM" in reason
    assert "replicas prepare" in reason


def test_garbage_after_the_ebml_magic_is_not_a_video() -> None:
    data = b"\x1a\x45\xdf\xa3" + b"\xff" * 5000

    reason = container_rejection(reader_for(data), "junk.webm", LIMITS)

    assert reason is not None
    assert "WebM" in reason

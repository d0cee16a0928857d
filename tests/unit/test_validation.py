"""Our own checks: each rejected video gets a reason a person can act on."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from replica_pipeline.adapters.media_probe import (
    ByteBudgetExceeded,
    NotAVideoContainer,
    RangedReader,
    probe_video,
)
from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.validation import ObjectFacts, VideoFacts, check_object, check_video
from tests.harness import DATA, SAMPLE_VIDEO

LIMITS = ValidationLimits()


def reader_for(data: bytes, budget: int = 4 * 1024 * 1024) -> RangedReader:
    def fetch(first: int, last: int) -> bytes:
        return data[first : last + 1]

    return RangedReader(len(data), fetch, budget=budget)


def facts_of(path: Path) -> VideoFacts:
    return probe_video(reader_for(path.read_bytes()), path.name)


def test_the_sample_video_passes() -> None:
    video = facts_of(SAMPLE_VIDEO)
    assert video == VideoFacts("avc1", 1920, 1080, 120.0, frame_rate=25.0, audio_codec="mp4a")
    assert check_video(video, LIMITS) is None


def test_mov_content_passes_the_header_check() -> None:
    # The same ISO-BMFF family: only the .mov name is refused (check_object), with the fix.
    assert check_video(facts_of(DATA / "sample.mov"), LIMITS) is None


def test_a_mov_name_is_refused_with_the_command_that_converts_it() -> None:
    reason = check_object(ObjectFacts("k", ".mov", 10, "video/quicktime"), LIMITS)
    assert reason is not None
    assert "Tavus asks for .mp4 (H.264 + AAC) or .webm" in reason
    assert "run `replicas prepare` on the file" in reason


def test_webm_is_accepted_by_name_and_type() -> None:
    assert check_object(ObjectFacts("k", ".webm", 10, "video/webm"), LIMITS) is None


def test_moov_at_the_end_is_found_with_a_few_ranged_reads() -> None:
    data = (DATA / "moov-at-end.mp4").read_bytes()
    reader = reader_for(data)
    assert probe_video(reader, "moov-at-end.mp4").video_codec == "avc1"
    assert reader.requests <= 3


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("low-720p.mp4", "video is 1280x720; Tavus needs at least 1080p"),
        ("hevc-codec.mp4", "video codec is 'hvc1'; Tavus needs H.264 (avc1) video"),
        ("short-20s.mp4", "video is 20 s long; at least 60 s is needed"),
    ],
)
def test_unsuitable_videos_get_a_specific_reason(name: str, reason: str) -> None:
    rejection = check_video(facts_of(DATA / name), LIMITS)
    assert rejection is not None
    assert rejection.startswith(reason)


def test_the_duration_floor_is_configurable() -> None:
    assert (
        check_video(facts_of(DATA / "short-20s.mp4"), ValidationLimits(min_duration_seconds=15))
        is None
    )


def test_a_text_file_is_not_a_container() -> None:
    with pytest.raises(NotAVideoContainer, match="not an MP4/MOV"):
        probe_video(reader_for(b"hello, this is not a video at all\n" * 20), "notes.mp4")


def test_a_truncated_video_is_reported_not_crashed_on() -> None:
    data = SAMPLE_VIDEO.read_bytes()[:2000]
    with pytest.raises(NotAVideoContainer, match="the file is cut short"):
        probe_video(reader_for(data), "cut.mp4")


def test_reading_stops_at_the_byte_budget() -> None:
    data = SAMPLE_VIDEO.read_bytes()
    reader = RangedReader(
        len(data), lambda a, b: data[a : b + 1], budget=64 * 1024, block_size=128 * 1024
    )
    with pytest.raises(ByteBudgetExceeded, match="not found within"):
        probe_video(reader, "sample.mp4")
    assert reader.bytes_fetched == 0


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (ObjectFacts("k", ".avi", 10, "video/x-msvideo"), ".avi is not a supported video file"),
        (ObjectFacts("k", "", 10, ""), "no extension is not a supported video file"),
        (ObjectFacts("k", ".mp4", 10, "text/plain"), "content type 'text/plain' is not a video"),
        (ObjectFacts("k", ".mp4", 0, "video/mp4"), "the file is empty (0 bytes)"),
        (
            ObjectFacts("k", ".mp4", 800 * 1024 * 1024, "video/mp4"),
            "video is 800 MB; Tavus accepts at most 750 MB",
        ),
    ],
)
def test_object_checks_name_the_problem(facts: ObjectFacts, reason: str) -> None:
    rejection = check_object(facts, LIMITS)
    assert rejection is not None
    assert rejection.startswith(reason)


def test_ranged_reader_behaves_like_a_file() -> None:
    data = bytes(range(256)) * 1000
    reader = reader_for(data)
    buffered = io.BufferedReader(reader)
    buffered.seek(1000)
    assert buffered.read(10) == data[1000:1010]
    reader.seek(-5, io.SEEK_END)
    assert reader.read(10) == data[-5:]

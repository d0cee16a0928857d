"""The drop is refused at once for what Tavus would refuse hours later, read from the header.

Tavus's errors table fails a training on ``video_fps`` (under 25 fps) and on
``video_codec_and_format`` (no AAC audio). Both are in the ``moov`` header the
ingest already reads with ranged GETs, so the drop is rejected with a reason that
names what was found, and nothing is sent to Tavus.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from replica_pipeline.config import ValidationLimits
from replica_pipeline.validation import VideoFacts, check_video
from tests.clips import ClipMaker
from tests.harness import Pipeline

TALKING = [(0.0, 35.0)]


@pytest.mark.parametrize(
    ("name", "options", "reason"),
    [
        pytest.param(
            "24fps.mp4",
            {"fps": 24},
            "video is 24 fps; Tavus needs at least 25 fps",
            id="24 fps",
        ),
        pytest.param(
            "mute.mp4",
            {"audio": False},
            "the video has no audio track; Tavus learns the voice from it",
            id="no audio track",
        ),
        pytest.param(
            "pcm-mono.mov",
            {"audio_codec": "pcm_s16le"},
            "audio is 'sowt'; Tavus needs AAC audio in the MP4",
            id="PCM audio",
        ),
        pytest.param(
            "mp3.mp4",
            {"audio_codec": "libmp3lame"},
            "audio is 'mp3'; Tavus needs AAC audio in the MP4",
            id="MP3 audio in an MP4",
        ),
    ],
)
def test_a_drop_tavus_would_fail_is_rejected_with_what_was_found(
    pipeline: Pipeline, clip: ClipMaker, name: str, options: dict[str, object], reason: str
) -> None:
    path = clip(name, seconds=70, speech=TALKING, **options)
    pipeline.upload(f"uploads/{name}", path)

    assert pipeline.deliver() == {"batchItemFailures": []}

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert reason in item["error_message"]
    assert pipeline.tavus_stats()["creates"] == 0


def test_30_fps_with_aac_is_sent_to_tavus(pipeline: Pipeline, clip: ClipMaker) -> None:
    pipeline.upload("uploads/30fps.mp4", clip("30fps.mp4", seconds=70, speech=TALKING, fps=30))

    pipeline.deliver()

    assert pipeline.only_item()["status"] == "training"


LIMITS = ValidationLimits()
GOOD = VideoFacts("avc1", 1920, 1080, 120.0, frame_rate=25.0, audio_codec="mp4a")


@pytest.mark.parametrize(
    ("frame_rate", "passes"),
    [(25.0, True), (24.9, True), (29.97, True), (24.0, False), (12.5, False), (None, True)],
)
def test_the_frame_rate_floor_allows_a_header_average_a_hair_under_25(
    frame_rate: float | None, passes: bool
) -> None:
    verdict = check_video(replace(GOOD, frame_rate=frame_rate), LIMITS)

    assert (verdict is None) is passes

"""The drop is refused at once for what Tavus would refuse hours later, read from the header.

Tavus's errors table fails a training on ``video_fps`` (under 25 fps) and on
``video_codec_and_format`` (no AAC audio). Both are in the ``moov`` header the
ingest already reads with ranged GETs, so the drop is rejected with a reason that
names what was found, and nothing is sent to Tavus. Its requirements page takes
WebM as well as MP4; a .mov is refused with the command that converts it; the
duration floor follows the model the drop names; Tavus's training options ride
on the drop's metadata.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from replica_pipeline.config import ACCEPTED_CONTAINERS, ValidationLimits
from replica_pipeline.rules.validation import VideoFacts, check_video
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


def test_pcm_audio_in_a_mov_is_rejected_when_the_setting_accepts_mov(
    pipeline: Pipeline, clip: ClipMaker
) -> None:
    pipeline.environment[ACCEPTED_CONTAINERS] = ".mp4,.mov"
    path = clip("pcm-mono.mov", seconds=70, speech=TALKING, audio_codec="pcm_s16le")
    pipeline.upload("uploads/pcm-mono.mov", path, content_type="video/quicktime")

    pipeline.deliver()

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert "audio is 'sowt'; Tavus needs AAC audio in the MP4" in item["error_message"]


def test_a_mov_is_refused_with_the_command_that_fixes_it(
    pipeline: Pipeline, clip: ClipMaker
) -> None:
    path = clip("phone.mov", seconds=70, speech=TALKING)
    pipeline.upload("uploads/phone.mov", path, content_type="video/quicktime")

    pipeline.deliver()

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert item["error_message"].startswith("a .mov file is not accepted")
    assert "replicas prepare" in item["error_message"]
    assert pipeline.tavus_stats()["creates"] == 0


def test_a_webm_of_vp9_and_opus_at_1080p_is_sent_to_tavus(
    pipeline: Pipeline, clip: ClipMaker
) -> None:
    path = clip(
        "vp9-opus.webm", seconds=70, speech=TALKING, codec="libvpx-vp9", audio_codec="libopus"
    )
    pipeline.upload("uploads/browser.webm", path, content_type="video/webm")

    pipeline.deliver()

    assert pipeline.only_item()["status"] == "training"
    (replica,) = pipeline.tavus_replicas()
    assert "/uploads/browser.webm?" in replica["request"]["train_video_url"]


def test_a_webm_tavus_would_fail_is_rejected_from_its_header(
    pipeline: Pipeline, clip: ClipMaker
) -> None:
    path = clip(
        "vp9-24fps.webm",
        seconds=70,
        speech=TALKING,
        codec="libvpx-vp9",
        fps=24,
        audio_codec="libopus",
    )
    pipeline.upload("uploads/slow.webm", path, content_type="video/webm")

    pipeline.deliver()

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert "video is 24 fps; Tavus needs at least 25 fps" in item["error_message"]


@pytest.mark.parametrize(
    ("model", "status"),
    [
        pytest.param("phoenix-3", "rejected", id="Phoenix-3 asks for 1 min"),
        pytest.param("Phoenix-4", "training", id="Phoenix-4 asks for 30 s"),
        pytest.param(None, "rejected", id="no model: the documented 60 s default"),
    ],
)
def test_the_duration_floor_follows_the_model_the_drop_names(
    pipeline: Pipeline, clip: ClipMaker, model: str | None, status: str
) -> None:
    path = clip("45s.mp4", seconds=45, speech=[(0.0, 25.0)])
    pipeline.upload("uploads/45s.mp4", path, metadata={"model-name": model} if model else None)

    pipeline.deliver()

    item = pipeline.only_item()
    assert item["status"] == status
    if status == "rejected":
        assert "video is 45 s long; at least 60 s is needed" in item["error_message"]
    else:
        assert pipeline.tavus_replicas()[0]["request"]["model_name"] == model


def test_tavus_training_options_ride_on_the_drop_to_create_replica(pipeline: Pipeline) -> None:
    pipeline.upload(
        "uploads/options.mp4",
        metadata={"gaze-correction": "true", "background-green-screen": "False"},
    )

    pipeline.deliver()

    assert pipeline.only_item()["status"] == "training"
    (replica,) = pipeline.tavus_replicas()
    assert replica["request"]["properties"] == {
        "gaze_correction": True,
        "background_green_screen": False,
    }


def test_a_training_option_that_is_not_true_or_false_rejects_the_drop(
    pipeline: Pipeline,
) -> None:
    pipeline.upload("uploads/typo.mp4", metadata={"gaze-correction": "please"})

    pipeline.deliver()

    item = pipeline.only_item()
    assert item["status"] == "rejected"
    assert "gaze-correction='please' must be true or false" in item["error_message"]
    assert pipeline.tavus_stats()["creates"] == 0


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

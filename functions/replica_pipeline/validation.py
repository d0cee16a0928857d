"""Our own checks on a drop, before anything is sent to Tavus.

Pure functions over facts gathered elsewhere (the key, S3's HEAD, the container
header); each failure is one sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from replica_pipeline.config import ValidationLimits

ALLOWED_EXTENSIONS = (".mp4", ".mov")
# What S3 records for uploads made by browsers, the AWS CLI and SDKs without a type.
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "application/mp4",
        "application/octet-stream",
        "binary/octet-stream",
        "",
    }
)
H264_SAMPLE_ENTRIES = frozenset({"avc1", "avc3"})
# Tavus's errors table: "video_codec_and_format" asks for AAC audio in the MP4.
AAC_SAMPLE_ENTRIES = frozenset({"mp4a"})
# A header's frame rate is an average (samples over duration): a hair under the
# floor is a rounding of a constant-rate 25 fps file, not a slower one.
FRAME_RATE_TOLERANCE = 0.01


@dataclass(frozen=True)
class ObjectFacts:
    key: str
    extension: str
    size: int
    content_type: str


@dataclass(frozen=True)
class VideoFacts:
    """What the container header says about the first video track."""

    video_codec: str | None  # ISO-BMFF sample entry, e.g. "avc1"; None: no video track
    width: int
    height: int
    duration_seconds: float
    frame_rate: float | None = None  # frames per second, on average; None: not in the header
    has_audio: bool = True
    audio_codec: str | None = None  # the first sound track's sample entry, e.g. "mp4a"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"


def check_object(facts: ObjectFacts, limits: ValidationLimits) -> str | None:
    """Reason to reject the upload from its name, type and size alone, or None."""
    if facts.extension not in ALLOWED_EXTENSIONS:
        shown = facts.extension or "no extension"
        return (
            f"{shown} is not a supported video file; upload an MP4 or MOV "
            f"({', '.join(ALLOWED_EXTENSIONS)}) with H.264 video"
        )
    content_type = facts.content_type.split(";", 1)[0].strip().lower()
    if content_type not in ALLOWED_CONTENT_TYPES:
        return (
            f"content type {facts.content_type!r} is not a video; upload with "
            "video/mp4 or video/quicktime"
        )
    if facts.size == 0:
        return "the file is empty (0 bytes)"
    if facts.size > limits.max_bytes:
        return (
            f"video is {_megabytes(facts.size)}; Tavus accepts at most "
            f"{_megabytes(limits.max_bytes)}"
        )
    return None


def check_video(video: VideoFacts, limits: ValidationLimits) -> str | None:
    """Reason to reject the video from its container header, or None."""
    if video.video_codec is None:
        return "the file has no video track"
    if video.video_codec not in H264_SAMPLE_ENTRIES:
        return f"video codec is {video.video_codec!r}; Tavus needs H.264 (avc1) video"
    if video.frame_rate is not None and video.frame_rate < limits.min_frame_rate * (
        1 - FRAME_RATE_TOLERANCE
    ):
        shown = f"{video.frame_rate:.2f}".rstrip("0").rstrip(".")
        return f"video is {shown} fps; Tavus needs at least {limits.min_frame_rate:g} fps"
    if not video.has_audio:
        return (
            "the video has no audio track; Tavus learns the voice from it and must hear "
            "the consent statement: record with the microphone on"
        )
    if video.audio_codec is not None and video.audio_codec not in AAC_SAMPLE_ENTRIES:
        return (
            f"audio is {video.audio_codec!r}; Tavus needs AAC audio in the MP4 "
            "(re-export the video as H.264 + AAC)"
        )
    shorter_side = min(video.width, video.height)
    if shorter_side < limits.min_resolution:
        return (
            f"video is {video.width}x{video.height}; Tavus needs at least {limits.min_resolution}p"
        )
    if video.duration_seconds < limits.min_duration_seconds:
        return (
            f"video is {video.duration_seconds:.0f} s long; at least "
            f"{limits.min_duration_seconds:.0f} s is needed (about a minute of talking, "
            "then a minute of silence)"
        )
    return None

"""Our own checks on a drop, before anything is sent to Tavus.

Pure functions over facts gathered elsewhere (the key, S3's HEAD, the container
header); each failure is one sentence a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from replica_pipeline.config import DEFAULT_CONTAINERS, ValidationLimits

# The default accepted containers (a setting: ValidationLimits.containers).
ALLOWED_EXTENSIONS = DEFAULT_CONTAINERS
# What S3 records for uploads made by browsers, the AWS CLI and SDKs without a type.
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "application/mp4",
        "application/octet-stream",
        "binary/octet-stream",
        "",
    }
)
MP4 = "mp4"  # the ISO-BMFF family: .mp4, .mov
WEBM = "webm"  # Matroska
H264_SAMPLE_ENTRIES = frozenset({"avc1", "avc3"})
# Tavus's errors table: "video_codec_and_format" asks for AAC audio in the MP4.
AAC_SAMPLE_ENTRIES = frozenset({"mp4a"})
# WebM's own codecs (Matroska codec ids): Tavus's requirements page takes "webm" as is.
WEBM_VIDEO_CODECS = frozenset({"V_VP8", "V_VP9", "V_AV1"})
WEBM_AUDIO_CODECS = frozenset({"A_OPUS", "A_VORBIS"})
# How to fix what a re-encode on the user's machine fixes.
PREPARE_FIX = "run `replicas prepare` on the file to convert it"
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

    # ISO-BMFF sample entry ("avc1") or Matroska codec id ("V_VP9"); None: no video track
    video_codec: str | None
    width: int
    height: int
    # None: the header does not say (a WebM recorded by a browser is written as it streams)
    duration_seconds: float | None
    frame_rate: float | None = None  # frames per second, on average; None: not in the header
    has_audio: bool = True
    audio_codec: str | None = None  # the first sound track's sample entry or codec id
    container: str = MP4


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"


def check_object(facts: ObjectFacts, limits: ValidationLimits) -> str | None:
    """Reason to reject the upload from its name, type and size alone, or None."""
    accepted = ", ".join(limits.containers)
    if facts.extension == ".mov" and facts.extension not in limits.containers:
        return (
            "a .mov file is not accepted: Tavus asks for .mp4 (H.264 + AAC) or .webm "
            f"({accepted}); {PREPARE_FIX}, then upload the .mp4"
        )
    if facts.extension not in limits.containers:
        shown = facts.extension or "no extension"
        return f"{shown} is not a supported video file; upload one of {accepted}"
    content_type = facts.content_type.split(";", 1)[0].strip().lower()
    if content_type not in ALLOWED_CONTENT_TYPES:
        return (
            f"content type {facts.content_type!r} is not a video; upload with "
            "video/mp4 or video/webm"
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
    webm = video.container == WEBM
    if video.video_codec not in (WEBM_VIDEO_CODECS if webm else H264_SAMPLE_ENTRIES):
        wanted = "VP8, VP9 or AV1 video in a WebM" if webm else "H.264 (avc1) video in an MP4"
        return f"video codec is {video.video_codec!r}; Tavus needs {wanted}: {PREPARE_FIX}"
    if video.frame_rate is not None and video.frame_rate < limits.min_frame_rate * (
        1 - FRAME_RATE_TOLERANCE
    ):
        shown = f"{video.frame_rate:.2f}".rstrip("0").rstrip(".")
        return (
            f"video is {shown} fps; Tavus needs at least {limits.min_frame_rate:g} fps: "
            f"record at 25 fps or more, or {PREPARE_FIX}"
        )
    if not video.has_audio:
        return (
            "the video has no audio track; Tavus learns the voice from it and must hear "
            "the consent statement: record with the microphone on"
        )
    if video.audio_codec is not None and video.audio_codec not in (
        WEBM_AUDIO_CODECS if webm else AAC_SAMPLE_ENTRIES
    ):
        wanted = "Opus or Vorbis audio in a WebM" if webm else "AAC audio in the MP4"
        return f"audio is {video.audio_codec!r}; Tavus needs {wanted}: {PREPARE_FIX}"
    shorter_side = min(video.width, video.height)
    if shorter_side < limits.min_resolution:
        return (
            f"video is {video.width}x{video.height}; Tavus needs at least {limits.min_resolution}p"
        )
    # No duration in the header (a streamed WebM) leaves the floor to Tavus.
    if video.duration_seconds is not None and video.duration_seconds < limits.min_duration_seconds:
        floor = limits.min_duration_seconds
        return (
            f"video is {video.duration_seconds:.0f} s long; at least {floor:.0f} s is needed "
            f"for this model (record about {floor:.0f} s of talking, then as long in silence)"
        )
    return None

"""Verdicts on what the file's header says: container, codecs, resolution, frame rate, length, size.

The same rules as the pipeline's own header check (``ValidationLimits``,
``H264_SAMPLE_ENTRIES``), so the CLI and the ingest agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.stream import VideoStream

from replica_pipeline.preflight.decoding import frame_rate_is_constant
from replica_pipeline.preflight.report import (
    AUDIO,
    CONTAINER,
    DURATION,
    FILE_SIZE,
    FRAME_RATE,
    RESOLUTION,
    VIDEO_CODEC,
    Finding,
    PreflightLimits,
)
from replica_pipeline.rules.validation import H264_SAMPLE_ENTRIES

# FFmpeg's demuxer for the ISO-BMFF family (names it answers to: "mov,mp4,m4a,3gp,3g2,mj2").
_ISO_BMFF_DEMUXER_NAMES = frozenset({"mov", "mp4"})
_MATROSKA_DEMUXER_NAMES = frozenset({"matroska", "webm"})
WEBM_EXTENSION = ".webm"
# What Tavus needs (TAVUS_API.md's errors table); the ingest checks it in the header too.
_EXPECTED_AUDIO_CODEC = "aac"
# WebM's own codecs, which Tavus's requirements page takes as "webm" (FFmpeg's names).
_WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1", "libdav1d", "libvpx", "libvpx-vp9"})
_WEBM_AUDIO_CODECS = frozenset({"opus", "vorbis", "libopus", "libvorbis"})


def container_finding(path: Path, container: InputContainer, limits: PreflightLimits) -> Finding:
    extension = path.suffix.lower()
    shown = extension or "no extension"
    accepted = limits.video.containers
    if extension not in accepted:
        return Finding(
            CONTAINER,
            "fail",
            shown,
            f"{shown} is not accepted: Tavus asks for an MP4 with H.264 + AAC "
            f"(accepted: {', '.join(accepted)})",
            fixable=True,
        )
    demuxers = set(container.format.name.split(","))
    if extension == WEBM_EXTENSION:
        if _MATROSKA_DEMUXER_NAMES & demuxers:
            return Finding(CONTAINER, "pass", shown, "a WebM container, as Tavus takes")
        return Finding(
            CONTAINER,
            "fail",
            shown,
            f"named {extension} but the file is {container.format.long_name}; "
            "re-export it as a real WebM or MP4",
            fixable=True,
        )
    if not _ISO_BMFF_DEMUXER_NAMES & demuxers:
        return Finding(
            CONTAINER,
            "fail",
            shown,
            f"named {extension} but the file is {container.format.long_name}; "
            "re-export it as a real MP4",
            fixable=True,
        )
    return Finding(CONTAINER, "pass", shown, "an MP4/MOV container, as Tavus needs")


def codec_finding(video: VideoStream, *, webm: bool = False) -> Finding:
    codec = video.codec_context.name
    tag = video.codec_context.codec_tag.strip()
    shown = f"{codec} ({tag})" if tag else codec
    if webm:
        if codec in _WEBM_VIDEO_CODECS:
            return Finding(
                VIDEO_CODEC, "pass", shown, "VP8/VP9/AV1 video in a WebM, as Tavus takes"
            )
        return Finding(
            VIDEO_CODEC,
            "fail",
            shown,
            f"video codec is {shown}; a WebM needs VP8, VP9 or AV1 video",
            fixable=True,
        )
    # Same rule as the pipeline's header check: an H.264 sample entry (avc1/avc3).
    if codec == "h264" and tag in H264_SAMPLE_ENTRIES:
        return Finding(VIDEO_CODEC, "pass", shown, "H.264 video, as Tavus needs")
    return Finding(
        VIDEO_CODEC,
        "fail",
        shown,
        f"video codec is {shown}; Tavus needs H.264 (avc1): re-export with H.264",
        fixable=True,
    )


def resolution_finding(video: VideoStream, limits: PreflightLimits) -> Finding:
    width, height = video.codec_context.width, video.codec_context.height
    shown = f"{width}x{height}"
    floor = limits.video.min_resolution
    # The shorter side, as the pipeline checks it: portrait 1080x1920 is 1080p too.
    if min(width, height) < floor:
        return Finding(
            RESOLUTION, "fail", shown, f"video is {shown}; Tavus needs at least {floor}p"
        )
    return Finding(RESOLUTION, "pass", shown, f"at least {floor}p")


def frame_rate_finding(video: VideoStream, limits: PreflightLimits) -> Finding:
    rate = video.average_rate or video.guessed_rate
    if rate is None:
        return Finding(FRAME_RATE, "fail", "unknown", "the frame rate could not be read")
    fps = float(rate)
    shown = f"{fps:.2f}".rstrip("0").rstrip(".") + " fps"
    if fps < limits.min_fps:
        return Finding(
            FRAME_RATE,
            "fail",
            shown,
            f"video is {shown}; Tavus needs at least {limits.min_fps:g} fps",
            fixable=True,
        )
    if frame_rate_is_constant(video) is False:
        # Tavus states a floor, not "constant"; but a variable rate dips below the
        # floor where the light drops, so it is worth a warning and the fix.
        return Finding(
            FRAME_RATE,
            "warn",
            f"{shown} (variable)",
            f"{shown} on average, but the frame rate varies (phones slow down in low light); "
            f"Tavus needs at least {limits.min_fps:g} fps throughout",
            fixable=True,
        )
    return Finding(FRAME_RATE, "pass", shown, f"at least {limits.min_fps:g} fps")


def duration_finding(seconds: float, limits: PreflightLimits) -> Finding:
    shown = f"{seconds:.1f} s"
    floor = limits.video.min_duration_seconds
    if seconds < floor:
        return Finding(
            DURATION,
            "fail",
            shown,
            f"video is {seconds:.0f} s long; at least {floor:.0f} s is needed",
        )
    return Finding(DURATION, "pass", shown, f"at least {floor:.0f} s")


def size_finding(size: int, limits: PreflightLimits) -> Finding:
    shown = _megabytes(size)
    if size > limits.video.max_bytes:
        return Finding(
            FILE_SIZE,
            "fail",
            shown,
            f"video is {shown}; Tavus accepts at most {_megabytes(limits.video.max_bytes)}",
            fixable=True,
        )
    return Finding(FILE_SIZE, "pass", shown, f"at most {_megabytes(limits.video.max_bytes)}")


def audio_finding(
    audio: AudioStream | None, levels: Sequence[float], *, webm: bool = False
) -> Finding:
    if audio is None:
        return Finding(
            AUDIO,
            "fail",
            "none",
            "the video has no audio track; Tavus learns the voice from it and must hear "
            "the consent statement",
        )
    codec = audio.codec_context.name
    shown = f"{codec}, {audio.sample_rate} Hz, {audio.layout.name}"
    if not levels:
        return Finding(AUDIO, "fail", shown, "the audio track holds no sound to decode")
    if webm:
        if codec in _WEBM_AUDIO_CODECS:
            return Finding(AUDIO, "pass", shown, "Opus/Vorbis audio in a WebM, as Tavus takes")
        return Finding(
            AUDIO,
            "fail",
            shown,
            f"audio is {codec}; a WebM needs Opus or Vorbis audio",
            fixable=True,
        )
    if codec != _EXPECTED_AUDIO_CODEC:
        # The ingest refuses it too: Tavus fails the training on video_codec_and_format.
        return Finding(
            AUDIO, "fail", shown, f"audio is {codec}; Tavus needs AAC audio", fixable=True
        )
    return Finding(AUDIO, "pass", shown, "AAC audio, as Tavus asks")


def _megabytes(size: int) -> str:
    # Same unit as the pipeline's own messages (MiB, written "MB").
    return f"{size / (1024 * 1024):,.1f} MB"

"""The pre-flight check of one file, or of what one submission would upload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from replica_pipeline.preflight.decoding import (
    duration_seconds,
    file_size,
    first_video_stream,
    loudness_envelope,
    open_container,
)
from replica_pipeline.preflight.faces import Look, look
from replica_pipeline.preflight.header_findings import (
    WEBM_EXTENSION,
    audio_finding,
    codec_finding,
    container_finding,
    duration_finding,
    frame_rate_finding,
    resolution_finding,
    size_finding,
)
from replica_pipeline.preflight.picture_findings import picture_findings
from replica_pipeline.preflight.pictures import decode_pictures, widest_gap
from replica_pipeline.preflight.report import PreflightLimits, Role, VideoReport, VisualLimits
from replica_pipeline.preflight.signals import find_talk_then_silence
from replica_pipeline.preflight.sound_findings import sound_findings


def check_submission(
    video: Path, consent: Path | None = None, limits: PreflightLimits | None = None
) -> list[VideoReport]:
    """Reports for what would be uploaded: one combined video, or training + consent."""
    if consent is None:
        return [check_video(video, "combined", limits)]
    return [check_video(video, "training", limits), check_video(consent, "consent", limits)]


def check_video(path: Path, role: Role, limits: PreflightLimits | None = None) -> VideoReport:
    """Check one file for its role; raises PreflightError when it is not a readable video."""
    limits = limits or PreflightLimits()
    if role == "consent":  # the statement alone: no training-length floor (as the ingest)
        limits = replace(limits, video=limits.video.for_consent_video())
    size = file_size(path)
    container = open_container(path)
    with container:
        video = first_video_stream(container, path)
        findings = [
            container_finding(path, container, limits),
            codec_finding(video, webm=path.suffix.lower() == WEBM_EXTENSION),
            resolution_finding(video, limits),
            frame_rate_finding(video, limits),
            duration_finding(duration_seconds(container, video), limits),
            size_finding(size, limits),
        ]
        audio = container.streams.audio[0] if container.streams.audio else None
        levels = loudness_envelope(container, audio, limits, path) if audio else ()
    findings.append(audio_finding(audio, levels, webm=path.suffix.lower() == WEBM_EXTENSION))
    if levels:
        findings += sound_findings(levels, role, limits)
    speech = find_talk_then_silence(levels, limits) if levels else None
    looks = watch(path, limits.visual)
    findings += picture_findings(looks, speech, role, limits.visual)
    return VideoReport(str(path), role, tuple(findings), levels)


def watch(path: Path, limits: VisualLimits) -> list[Look]:
    """What each sampled moment shows: key frames first, every frame if they are too sparse.

    Faces are looked for on a second thread while the next picture decodes (OpenCV and
    FFmpeg both work outside Python's lock), so the two cores share the work.
    """
    with ThreadPoolExecutor(max_workers=1) as looker:
        for key_frames_only in (True, False):
            pictures = decode_pictures(path, limits, key_frames_only=key_frames_only)
            looks = [job.result() for job in [looker.submit(look, p, limits) for p in pictures]]
            gap = widest_gap([seen.seconds for seen in looks])
            if not key_frames_only or gap <= limits.max_key_frame_gap_seconds:
                break
    return looks

"""Pre-flight check of a recording on the user's machine, before it is uploaded.

``replicas check FILE [--consent FILE]`` runs this. Tavus trains for hours
before it says a video was unusable; this module says so in about a second,
with a plain verdict and the number behind it for each requirement:

- the facts the pipeline itself checks from the header (container, H.264,
  resolution, duration, size), with the pipeline's own limits
  (``ValidationLimits``) so both sides agree;
- what only decoding can tell: the frame rate Tavus asks for, and the sound —
  loudness per second, and whether the recording is talking then silence, with
  speech at the start where the consent statement belongs.

A finding that ``replicas prepare`` fixes by re-encoding (container, codecs, frame
rate, size) is marked ``fixable``, and the report then names the command.

Only the audio stream is decoded, and the demuxer is told to discard the
others, so a two-minute 1080p30 recording is checked in about a quarter of a
second (``bench/preflight_check.py``).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Discard
from av.video.stream import VideoStream

from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.validation import H264_SAMPLE_ENTRIES
from replica_pipeline_local.cli.prepare import frame_rate_is_constant

Verdict = Literal["pass", "fail", "warn"]
Role = Literal["combined", "training", "consent"]

# Check names, in the order a report lists them.
CONTAINER = "container"
VIDEO_CODEC = "video_codec"
RESOLUTION = "resolution"
FRAME_RATE = "frame_rate"
DURATION = "duration"
FILE_SIZE = "file_size"
AUDIO = "audio"
LOUDNESS = "loudness"
TALK_THEN_SILENCE = "talk_then_silence"
SPEECH_AT_START = "speech_at_start"

# FFmpeg's demuxer for the ISO-BMFF family (names it answers to: "mov,mp4,m4a,3gp,3g2,mj2").
_ISO_BMFF_DEMUXER_NAMES = frozenset({"mov", "mp4"})
_MATROSKA_DEMUXER_NAMES = frozenset({"matroska", "webm"})
WEBM_EXTENSION = ".webm"
# What Tavus needs (TAVUS_API.md's errors table); the ingest checks it in the header too.
_EXPECTED_AUDIO_CODEC = "aac"
# WebM's own codecs, which Tavus's requirements page takes as "webm" (FFmpeg's names).
_WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1", "libdav1d", "libvpx", "libvpx-vp9"})
_WEBM_AUDIO_CODECS = frozenset({"opus", "vorbis", "libopus", "libvorbis"})
# Sample formats read as they come out of the decoder; anything else is converted first.
_FLOAT_FORMATS = frozenset({"flt", "fltp"})
# Failures that make `replicas prepare` refuse (it cannot invent pixels, sound or time):
# with one of these, naming the command would only lead to a second refusal.
_PREPARE_REFUSES = frozenset({RESOLUTION, DURATION, AUDIO})


class PreflightError(Exception):
    """The file cannot be checked at all (missing, empty, not a video); the message names it."""


@dataclass(frozen=True)
class Finding:
    """One requirement's verdict, the number behind it, and why, in plain words."""

    check: str
    verdict: Verdict
    value: str
    detail: str
    # `replicas prepare` fixes what failed (or was warned about) by re-encoding the file.
    fixable: bool = False


@dataclass(frozen=True)
class VideoReport:
    """Every finding for one file, and its loudness envelope (dBFS, one value per second)."""

    path: str
    role: Role
    findings: tuple[Finding, ...]
    loudness: tuple[float, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.verdict == "fail"]

    def finding(self, check: str) -> Finding | None:
        """The finding for ``check``, or None when it was not made (no audio, other role)."""
        return next((f for f in self.findings if f.check == check), None)

    @property
    def fixable(self) -> list[Finding]:
        """Failures and warnings that `replicas prepare` fixes."""
        return [f for f in self.findings if f.verdict != "pass" and f.fixable]

    @property
    def fix(self) -> str | None:
        """The command that fixes this file's fixable findings, or None (nothing to fix,
        or a failure `replicas prepare` would refuse on, such as 720p)."""
        if not self.fixable or any(f.check in _PREPARE_REFUSES for f in self.failures):
            return None
        return f"replicas prepare {shlex.quote(self.path)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "role": self.role,
            "passed": self.passed,
            "fix": self.fix,
            "findings": [asdict(finding) for finding in self.findings],
            "loudness": [round(level, 1) for level in self.loudness],
        }


@dataclass(frozen=True)
class PreflightLimits:
    """Floors and thresholds of the check; header limits come from the pipeline's own.

    The sound thresholds work on the RMS level of each one-second window, in dBFS
    (0 dBFS = a full-scale square wave; a full-scale sine is about -3 dBFS).
    """

    video: ValidationLimits = field(default_factory=ValidationLimits)
    # TAVUS_API.md: "at least 25 fps" (a training error kind), as the ingest checks it.
    min_fps: float = ValidationLimits.min_frame_rate
    window_seconds: float = 1.0
    # Digital silence is -inf dB; clamp it so the envelope stays finite and JSON-ready.
    floor_dbfs: float = -120.0
    # A window is speech when it is this much louder than the quiet reference:
    # speech near a camera mic is -30..-15 dBFS, room tone -70..-50, so 15 dB
    # separates them with room to spare in either direction.
    speech_margin_db: float = 15.0
    # The quiet reference: the level that only 10 % of windows are quieter than,
    # i.e. the still part of a good recording, robust to a few odd windows.
    quiet_percentile: float = 10.0
    # The speech threshold is clamped between these. The lower bound keeps a very
    # quiet (or digitally silent) room from turning faint hum into "speech"; the
    # upper bound makes talking throughout, where the "quiet" reference is itself
    # speech, still count as speech.
    speech_threshold_min_dbfs: float = -45.0
    speech_threshold_max_dbfs: float = -30.0
    # Speech must begin this soon: the consent statement opens the video, and
    # people start talking a moment after pressing record.
    max_lead_in_seconds: float = 5.0
    # A still part louder than this has background noise Tavus may fail on.
    noisy_silence_dbfs: float = -50.0
    # A one-second RMS this close to full scale means the peaks are clipped.
    clipping_dbfs: float = -6.0

    @property
    def min_talk_seconds(self) -> float:
        """Talking needed: half the pipeline's minimum length (30 s of 60 s by default).

        Tavus's newest guide asks for 30 s talking + 30 s still; older ones 1 + 1 minutes.
        """
        return self.video.min_duration_seconds / 2

    @property
    def min_silence_seconds(self) -> float:
        """Silence needed after the talking: the other half of the minimum length."""
        return self.video.min_duration_seconds / 2


@dataclass(frozen=True)
class SpeechLayout:
    """Where the talking is in a loudness envelope, and how quiet the rest is."""

    threshold_dbfs: float  # windows at or above this are speech
    speech_start: float | None  # seconds; None when no window is speech
    speech_end: float  # seconds: where talking turns into the still part
    total_seconds: float
    rest_dbfs: float  # energy mean of the quiet windows after speech_end (floor if none)
    stray_sounds: tuple[float, ...]  # seconds: speech-loud windows after speech_end

    @property
    def talk_seconds(self) -> float:
        return 0.0 if self.speech_start is None else self.speech_end - self.speech_start

    @property
    def silence_seconds(self) -> float:
        return self.total_seconds - self.speech_end


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
    size = _file_size(path)
    container = _open(path)
    with container:
        video = _first_video_stream(container, path)
        findings = [
            _container_finding(path, container, limits),
            _codec_finding(video, webm=path.suffix.lower() == WEBM_EXTENSION),
            _resolution_finding(video, limits),
            _frame_rate_finding(video, limits),
            _duration_finding(_duration_seconds(container, video), limits),
            _size_finding(size, limits),
        ]
        audio = container.streams.audio[0] if container.streams.audio else None
        levels = _loudness_envelope(container, audio, limits, path) if audio else ()
    findings.append(_audio_finding(audio, levels, webm=path.suffix.lower() == WEBM_EXTENSION))
    if levels:
        findings += _sound_findings(levels, role, limits)
    return VideoReport(str(path), role, tuple(findings), levels)


def render_text(reports: list[VideoReport]) -> str:
    """Human output: a heading per file, one line per finding, then a summary line."""
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.path} ({report.role})")
        for f in report.findings:
            lines.append(f"  {f.verdict.upper():<4}  {f.check:<17}  {f.value:<40}  {f.detail}")
        if report.fix:
            lines.append(f"  fix: {report.fix}  ({_fix_scope(report)})")
    failures = sum(len(report.failures) for report in reports)
    warnings = sum(f.verdict == "warn" for report in reports for f in report.findings)
    files = "1 file" if len(reports) == 1 else f"{len(reports)} files"
    if failures:
        lines.append(
            f"{files} checked: {_plural(failures, 'failure')}, {_plural(warnings, 'warning')}"
            " — fix the failures before uploading: Tavus would reject this after hours of training"
        )
    else:
        lines.append(f"{files} checked: ready to upload ({_plural(warnings, 'warning')})")
    return "\n".join(lines)


def find_talk_then_silence(levels: Sequence[float], limits: PreflightLimits) -> SpeechLayout:
    """Locate the talking in a loudness envelope: where it starts and where silence begins.

    Speech ends at the split that best explains the envelope as "speech, then
    quiet": the one with the most speech windows before it and quiet windows
    after it. A pause between sentences or a cough in the still part moves it
    less than any rule on single windows would. Ties go to the later split, so
    the silence is never overstated.
    """
    window = limits.window_seconds
    threshold = _speech_threshold(levels, limits)
    is_speech = [level >= threshold for level in levels]
    total = len(levels) * window
    if True not in is_speech:
        return SpeechLayout(threshold, None, 0.0, total, _energy_mean(levels, limits), ())
    first = is_speech.index(True)
    split = _best_split(is_speech, first)
    after = range(split, len(levels))
    strays = tuple(index * window for index in after if is_speech[index])
    # The still part's level leaves out stray sounds: one cough would otherwise dominate it.
    background = [levels[index] for index in after if not is_speech[index]]
    return SpeechLayout(
        threshold, first * window, split * window, total, _energy_mean(background, limits), strays
    )


# --- opening the file and reading its header --------------------------------------------------


def _file_size(path: Path) -> int:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise PreflightError(f"{path}: cannot read the file ({error.strerror})") from None
    if size == 0:
        raise PreflightError(f"{path}: the file is empty (0 bytes)")
    return size


def _open(path: Path) -> InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise PreflightError(
            f"{path}: not a video file that can be read ({error.strerror}); "
            "export the recording as an MP4 or MOV with H.264 video"
        ) from None


def _first_video_stream(container: InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        raise PreflightError(f"{path}: the file has no video track; is it an audio file?")
    return container.streams.video[0]


def _duration_seconds(container: InputContainer, video: VideoStream) -> float:
    if container.duration is not None:
        return container.duration / av.time_base
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


# --- findings from the header -----------------------------------------------------------------


def _container_finding(path: Path, container: InputContainer, limits: PreflightLimits) -> Finding:
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


def _codec_finding(video: VideoStream, *, webm: bool = False) -> Finding:
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


def _resolution_finding(video: VideoStream, limits: PreflightLimits) -> Finding:
    width, height = video.codec_context.width, video.codec_context.height
    shown = f"{width}x{height}"
    floor = limits.video.min_resolution
    # The shorter side, as the pipeline checks it: portrait 1080x1920 is 1080p too.
    if min(width, height) < floor:
        return Finding(
            RESOLUTION, "fail", shown, f"video is {shown}; Tavus needs at least {floor}p"
        )
    return Finding(RESOLUTION, "pass", shown, f"at least {floor}p")


def _frame_rate_finding(video: VideoStream, limits: PreflightLimits) -> Finding:
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


def _duration_finding(seconds: float, limits: PreflightLimits) -> Finding:
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


def _size_finding(size: int, limits: PreflightLimits) -> Finding:
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


def _audio_finding(
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


# --- the sound --------------------------------------------------------------------------------


def _loudness_envelope(
    container: InputContainer, audio: AudioStream, limits: PreflightLimits, path: Path
) -> tuple[float, ...]:
    """RMS level of each window of the audio track, in dBFS, decoding nothing else."""
    envelope = _Envelope(max(1, round(audio.sample_rate * limits.window_seconds)))
    resampler: AudioResampler | None = None
    # demux(audio) alone still reads every video packet and drops it; discarding
    # the other streams lets the demuxer skip their bytes altogether.
    for stream in container.streams:
        if stream.index != audio.index:
            stream.discard = Discard.all
    try:
        for packet in container.demux(audio):
            for frame in packet.decode():
                if frame.format.name not in _FLOAT_FORMATS:
                    # Integer PCM and the like: let FFmpeg convert to packed float.
                    resampler = resampler or AudioResampler(format="flt")
                    for converted in resampler.resample(frame):
                        envelope.add(converted)
                else:
                    envelope.add(frame)
        for converted in resampler.resample(None) if resampler else ():
            envelope.add(converted)
    except av.error.FFmpegError as error:
        raise PreflightError(
            f"{path}: the audio could not be decoded ({error.strerror}); is the file complete?"
        ) from None
    return envelope.levels(limits.floor_dbfs)


class _Envelope:
    """Sums of squares per window, fed frame by frame, split exactly at window edges."""

    def __init__(self, window_samples: int) -> None:
        self._window = window_samples
        self._sums: list[float] = []
        self._counts: list[int] = []
        self._position = 0  # samples (per channel) seen so far

    def add(self, frame: AudioFrame) -> None:
        channels, stride = _float_views(frame)
        done = 0
        while done < frame.samples:
            index, offset = divmod(self._position, self._window)
            take = min(frame.samples - done, self._window - offset)
            if index == len(self._sums):
                self._sums.append(0.0)
                self._counts.append(0)
            for view in channels:
                # hypot runs in C: about twice as fast as a Python sum of squares.
                self._sums[index] += math.hypot(*view[done * stride : (done + take) * stride]) ** 2
            self._counts[index] += take * stride * len(channels)
            done += take
            self._position += take

    def levels(self, floor_dbfs: float) -> tuple[float, ...]:
        windows = list(zip(self._sums, self._counts, strict=True))
        # A last window shorter than half a window is mostly encoder padding: drop it.
        partial = self._position % self._window
        if len(windows) > 1 and 0 < partial < self._window / 2:
            windows.pop()
        return tuple(_dbfs(total / count, floor_dbfs) for total, count in windows)


def _float_views(frame: AudioFrame) -> tuple[list[memoryview[float]], int]:
    """The frame's samples as float views, and how many floats one sample takes in each."""
    channels = frame.layout.nb_channels
    if frame.format.is_planar:
        return [memoryview(p).cast("B")[: frame.samples * 4].cast("f") for p in frame.planes], 1
    return [memoryview(frame.planes[0]).cast("B")[: frame.samples * channels * 4].cast("f")], (
        channels
    )


def _dbfs(mean_square: float, floor_dbfs: float) -> float:
    if mean_square <= 0:
        return floor_dbfs
    return max(floor_dbfs, 10 * math.log10(mean_square))


def _energy_mean(levels: Sequence[float], limits: PreflightLimits) -> float:
    """The level of several windows together: mean power, not mean of decibels."""
    if not levels:
        return limits.floor_dbfs
    power = sum(10 ** (level / 10) for level in levels) / len(levels)
    return _dbfs(power, limits.floor_dbfs)


def _speech_threshold(levels: Sequence[float], limits: PreflightLimits) -> float:
    ordered = sorted(levels)
    quiet = ordered[int(limits.quiet_percentile / 100 * (len(ordered) - 1))]
    return min(
        max(quiet + limits.speech_margin_db, limits.speech_threshold_min_dbfs),
        limits.speech_threshold_max_dbfs,
    )


def _best_split(is_speech: Sequence[bool], first: int) -> int:
    """Index where quiet begins that maximises speech before it plus quiet after it."""
    quiet_after = sum(not speech for speech in is_speech[first:])
    speech_before = 0
    best, best_score = first, quiet_after
    for index in range(first, len(is_speech)):
        speech_before += is_speech[index]
        quiet_after -= not is_speech[index]
        if speech_before + quiet_after >= best_score:
            best, best_score = index + 1, speech_before + quiet_after
    return best


def _sound_findings(
    levels: tuple[float, ...], role: Role, limits: PreflightLimits
) -> list[Finding]:
    layout = find_talk_then_silence(levels, limits)
    findings = [_loudness_finding(levels, limits)]
    if role != "consent":
        findings.append(_talk_then_silence_finding(layout, limits))
    if role != "training":
        findings.append(_speech_at_start_finding(layout, limits))
    return findings


def _loudness_finding(levels: tuple[float, ...], limits: PreflightLimits) -> Finding:
    loudest, quietest = max(levels), min(levels)
    window = limits.window_seconds
    shown = f"{quietest:.1f} to {loudest:.1f} dBFS"
    detail = (
        f"RMS per {window:g} s over {len(levels)} windows: loudest {loudest:.1f} dBFS at "
        f"{levels.index(loudest) * window:.0f} s, quietest {quietest:.1f} dBFS at "
        f"{levels.index(quietest) * window:.0f} s"
    )
    if loudest <= limits.floor_dbfs:
        return Finding(
            LOUDNESS, "warn", shown, "the audio is digital silence throughout: was the mic muted?"
        )
    if loudest >= limits.clipping_dbfs:
        return Finding(LOUDNESS, "warn", shown, f"{detail}; that loud, the voice is likely clipped")
    return Finding(LOUDNESS, "pass", shown, detail)


def _talk_then_silence_finding(layout: SpeechLayout, limits: PreflightLimits) -> Finding:
    if layout.speech_start is None:
        return Finding(
            TALK_THEN_SILENCE,
            "fail",
            "no speech",
            f"all silence: no second reaches {layout.threshold_dbfs:.0f} dBFS; record about "
            "a minute of talking, then about a minute of silence",
        )
    shown = _layout_value(layout, layout.speech_start, limits)
    problem = _layout_problem(layout, layout.speech_start, limits)
    if problem:
        return Finding(TALK_THEN_SILENCE, "fail", shown, problem)
    still = (
        f"{layout.talk_seconds:.0f} s of talking from {layout.speech_start:.0f} s, then "
        f"{layout.silence_seconds:.0f} s of silence at {layout.rest_dbfs:.1f} dBFS"
    )
    if layout.rest_dbfs > limits.noisy_silence_dbfs:
        return Finding(
            TALK_THEN_SILENCE,
            "warn",
            shown,
            f"{still}: louder than {limits.noisy_silence_dbfs:.0f} dBFS, so background noise "
            "may fail training; record somewhere quieter",
        )
    if layout.stray_sounds:
        at = ", ".join(f"{second:.0f} s" for second in layout.stray_sounds[:5])
        return Finding(
            TALK_THEN_SILENCE, "warn", shown, f"{still}, but with sounds during the silence at {at}"
        )
    return Finding(TALK_THEN_SILENCE, "pass", shown, still)


def _layout_value(layout: SpeechLayout, speech_start: float, limits: PreflightLimits) -> str:
    """The numbers behind the verdict: where speech ends and how quiet the rest is."""
    if speech_start > limits.max_lead_in_seconds:
        return f"speech starts at {speech_start:.1f} s"
    if layout.silence_seconds <= 0:
        return f"speech to the end ({layout.total_seconds:.1f} s)"
    return f"speech ends at {layout.speech_end:.1f} s; rest {layout.rest_dbfs:.1f} dBFS"


def _layout_problem(
    layout: SpeechLayout, speech_start: float, limits: PreflightLimits
) -> str | None:
    """Why the talking and the silence are not in the shape Tavus needs, or None."""
    if speech_start > limits.max_lead_in_seconds:
        return (
            f"silence first: speech starts at {speech_start:.0f} s; start talking "
            "right away, then stay silent for about a minute"
        )
    if layout.silence_seconds <= 0:
        return (
            f"all talking: speech runs to the end ({layout.total_seconds:.0f} s); after about "
            "a minute of talking, stay silent for about a minute"
        )
    if layout.talk_seconds < limits.min_talk_seconds:
        return (
            f"too little speech: {layout.talk_seconds:.0f} s of talking; Tavus needs about a "
            f"minute (at least {limits.min_talk_seconds:.0f} s)"
        )
    if layout.silence_seconds < limits.min_silence_seconds:
        return (
            f"too little silence: {layout.silence_seconds:.0f} s after speech ends at "
            f"{layout.speech_end:.0f} s; Tavus needs about a minute (at least "
            f"{limits.min_silence_seconds:.0f} s)"
        )
    return None


def _speech_at_start_finding(layout: SpeechLayout, limits: PreflightLimits) -> Finding:
    if layout.speech_start is None:
        return Finding(
            SPEECH_AT_START,
            "fail",
            "no speech",
            "no speech anywhere: the consent statement must open the video",
        )
    shown = f"speech from {layout.speech_start:.1f} s"
    if layout.speech_start > limits.max_lead_in_seconds:
        return Finding(
            SPEECH_AT_START,
            "fail",
            shown,
            f"speech starts only at {layout.speech_start:.0f} s; the consent statement must "
            f"open the video (within {limits.max_lead_in_seconds:g} s)",
        )
    return Finding(
        SPEECH_AT_START, "pass", shown, "speech at the start, where the consent statement belongs"
    )


# --- small formatting ---------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    # Same unit as the pipeline's own messages (MiB, written "MB").
    return f"{size / (1024 * 1024):,.1f} MB"


def _fix_scope(report: VideoReport) -> str:
    """What the fix covers, and what it leaves for a new recording."""
    fixed = ", ".join(dict.fromkeys(f.check for f in report.fixable))
    left = ", ".join(f.check for f in report.failures if not f.fixable)
    return f"fixes {fixed}; {left}: record again" if left else f"fixes {fixed}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")

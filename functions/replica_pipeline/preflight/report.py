"""What the pre-flight check says: check names, one finding per requirement, and its limits."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from replica_pipeline.config import ValidationLimits

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

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
# What the pictures show (sampled about once a second).
FACE_VISIBLE = "face_visible"
FACE_FRAMING = "face_framing"
SECOND_FACE = "second_face"
LIGHTING = "lighting"
MOVEMENT = "movement"
EDITS = "edits"
LISTENING_POSE = "listening_pose"
PICTURE_CHECKS = (
    FACE_VISIBLE,
    SECOND_FACE,
    EDITS,
    FACE_FRAMING,
    LIGHTING,
    MOVEMENT,
    LISTENING_POSE,
)

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
    # Seconds into the recording where the problem shows (the first few), if it has a place.
    at_seconds: tuple[float, ...] = ()
    # The kind of Tavus training error this check heads off (rules.training_errors), if any.
    prevents: str | None = None


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
class VisualLimits:
    """How the pictures are sampled and judged; each threshold says why it has its value.

    Sizes and positions are fractions of the picture; brightness is the grey level
    (0-255) inside the face's box; movement is measured in face widths, so it means
    the same whether the person sits near the camera or far from it.
    """

    # Pictures are analysed this wide: a face a tenth of the frame wide is still 32 px,
    # over the cascade's 24 px model, and a picture costs under 10 ms (480: three times).
    analysis_width: int = 320
    # One moment a second: a face leaving for 3 s or a light going off cannot hide between.
    sample_every_seconds: float = 1.0
    # Key frames further apart than this leave holes a problem could hide in: decode all.
    max_key_frame_gap_seconds: float = 2.5
    # The cascade needs this many overlapping hits to call something a face: its default
    # (3) finds faces in curtains and bookshelves; 5 still finds every frontal face here.
    face_min_neighbours: int = 5
    # Smaller faces are not searched for: a talking head's face is a fifth of the frame's
    # height or more; this (24 px of a 180 px high picture) leaves room for a far framing.
    min_face_height: float = 0.13
    # A face missing from more than a tenth of the talking part is more than the cascade's
    # misses (a blink or a glance aside costs one sample in a minute): the face was gone.
    min_face_share: float = 0.9
    # And no face for this long in a row is never a miss: the person left or was hidden.
    max_face_gap_seconds: float = 3.0
    # Framing: Tavus's guide asks for the face centred and filling the frame; warn only,
    # since Tavus trains on an off-centre face.
    min_face_width: float = 0.06
    max_centre_offset: float = 0.25  # from the picture's centre, across or down
    # A second face at least this large next to the main one is a person, not a pattern.
    second_face_min_size: float = 0.5
    # A second person in one sampled moment may be a passer-by or a false hit (warn); in
    # two or more, Tavus's "second person" error is likely (fail).
    second_face_samples_to_fail: int = 2
    # The face's brightness changing by this much between two moments a second apart is a
    # light switched or a cloud: auto-exposure drifts by a few levels, never 30 at once.
    max_brightness_jump: float = 30.0
    # And drifting this far over the recording is a change Tavus sees too (warn).
    max_brightness_drift: float = 45.0
    # Movement: the face's centre straying further than this from where it mostly is
    # (in face widths; a nod or a lean is under half) is Tavus's "excessive movement".
    max_face_travel: float = 1.0
    # Or its size changing this much (leaning in or out, a zoom).
    max_face_size_change: float = 1.5
    # Two moments a second apart whose rooms (the picture outside the person) correlate
    # less than this are two shots: one room correlates 0.9 or more with itself.
    min_layout_similarity: float = 0.5
    # The listening pose: still there (the face share above) and still (this many widths).
    max_listening_travel: float = 0.5


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
    visual: VisualLimits = field(default_factory=VisualLimits)

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

"""Tavus's training errors, read: which kind of failure a message names, and what to do.

Tavus sends a sentence, not a code (``error_message`` of Get Replica and the error
callback), so the kind is found by keywords, in the order below: the earlier rules
are the more specific ones (a format message names the consent video too; a lighting
message may mention the face). Kinds are named as in Tavus's "Replica Training
Errors" table. A message no rule recognises has no kind and gets no hint: a wrong
hint is worse than none.
"""

from __future__ import annotations

import re

DOWNLOAD_LINK = "download_link"
FILE_SIZE = "file_size"
VIDEO_FORMAT = "video_format"
VIDEO_CODEC = "video_codec"
VIDEO_CODEC_AND_FORMAT = "video_codec_and_format"
VIDEO_DURATION = "video_duration"
VIDEO_FPS = "video_fps"
CONSENT_MISMATCH = "consent_mismatch"
FACE_OBSTRUCTED = "face_obstructed"
LIGHTING_CHANGE = "lighting_change"
POOR_LIGHTING = "poor_lighting"
BACKGROUND_NOISE = "background_noise"
EDITING_DETECTED = "editing_detected"
EXCESSIVE_MOVEMENT = "excessive_movement"
SECOND_PERSON = "second_person"

_PREPARE = "Run `replicas prepare` on the file to make an H.264 + AAC .mp4"

# What to do, in one sentence a person can act on, per kind.
HINTS: dict[str, str] = {
    DOWNLOAD_LINK: (
        "The pipeline's download link failed: retry the submission (`replicas retry <id>`); "
        "if it fails again, check the bucket and the signing key"
    ),
    FILE_SIZE: (
        "Bring the file under 750 MB: trim it to about 2 minutes, or re-encode it at 1080p "
        "with a lower bitrate"
    ),
    VIDEO_FORMAT: _PREPARE,
    VIDEO_CODEC: _PREPARE,
    VIDEO_CODEC_AND_FORMAT: _PREPARE,
    VIDEO_DURATION: (
        "Upload a longer recording: at least 1 minute, ideally 1.5 to 2 minutes, in one take"
    ),
    VIDEO_FPS: "Record at 25 fps or more, or run `replicas prepare` on the file",
    CONSENT_MISMATCH: (
        "Re-record the consent statement word for word, in English, with the same person "
        "as the training video"
    ),
    FACE_OBSTRUCTED: (
        "Re-record with the whole face visible the whole time: nothing in front of it, "
        "hair off the eyes"
    ),
    LIGHTING_CHANGE: (
        "Re-record in steady light: no lamps switched on or off, no passing clouds or "
        "shadows crossing the face"
    ),
    POOR_LIGHTING: (
        "Re-record with the face brightly and evenly lit from the front, with no strong "
        "light behind you"
    ),
    BACKGROUND_NOISE: (
        "Re-record somewhere quiet: no music, voices, fans or traffic, microphone close "
        "to the speaker"
    ),
    EDITING_DETECTED: "Upload one continuous take: remove the cut or re-record without stopping",
    EXCESSIVE_MOVEMENT: (
        "Re-record with the camera on a stand and the speaker seated, facing it, moving "
        "no more than in a calm conversation"
    ),
    SECOND_PERSON: (
        "Re-record with only the person being replicated in the frame, from start to end: "
        "nobody in the background"
    ),
}

KINDS: tuple[str, ...] = tuple(HINTS)


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_DOWNLOAD = _words(
    r"\b(?:issue|problem|error|trouble|unable to|could not|couldn't|cannot|can't|failed to)"
    r"\s+(?:download|access|fetch)|\bdownload(?:ing)?\s+(?:failed|error)|\blink\b"
)
_FILE_SIZE = _words(
    r"file size|\b750\s?mb\b|too (?:large|big)|larger than|exceeds the maximum|\bsize limit"
)
_FPS = _words(r"\bfps\b|frame ?rate|frames per second")
_DURATION = _words(
    r"duration|too short|\bminute(?:s)? long|at least \d+(?:\.\d+)? (?:minute|second)"
)
_NOT_MP4 = _words(
    r"\bnot (?:a|an) \.?mp4|must be (?:a |an )?\.?mp4|\bformat\b|\bcontainer\b"
    r"|unsupported file type"
)
_NOT_H264 = _words(r"\bnot encoded|\bcodec|\bnot (?:in |using )?h\.?264")
# Not ".mp4" alone: our own messages name files (uploads/a.mp4).
_H264_OR_AAC = _words(r"\bh\.?264\b|\baac\b")
_CONSENT = _words(
    r"consent (?:statement|phrase|speech|wording|script)|consent\b.*\b(?:match|missing|heard)"
)
_SECOND_PERSON = _words(
    r"second person|another person|more than one (?:person|face|speaker)|multiple (?:people|"
    r"persons|faces|speakers)|two (?:people|persons|faces)|other (?:people|persons)"
    r"|additional (?:person|people)|someone else"
)
_LIGHTING = _words(r"\blight(?:ing)?\b|\blit\b|\bdark\b|\bdim\b|exposure|exposed|backlit")
_LIGHTING_CHANGE = _words(
    r"chang|vary|varies|variation|inconsistent|shift|fluctuat|flicker|consistent lighting"
)
_FACE = _words(
    r"\bface\b.*\b(?:obstruct|cover|block|hidden|visible|detect|find|found|see|seen)"
    r"|\b(?:obstruct|cover|block|hid|find|detect|see)\w*\b.*\bface\b|\bno (?:visible )?face\b"
)
_NOISE = _words(r"\bnois[ey]\b|background (?:sound|audio|voices)")
_EDITING = _words(
    r"\bedit(?:s|ed|ing)?\b|\bcuts?\b|spliced|splice|not (?:one )?continuous|jump cut"
)
_MOVEMENT = _words(r"movement|\bmoving\b|\bmotion\b|shak(?:y|ing)|\bunstable\b")


def classify(error_message: str | None) -> str | None:
    """The kind of training error Tavus's message names, or None when no rule knows it."""
    if not error_message:
        return None
    text = error_message
    if _DOWNLOAD.search(text):
        return DOWNLOAD_LINK
    if _FILE_SIZE.search(text):
        return FILE_SIZE
    if _FPS.search(text):
        return VIDEO_FPS
    if _DURATION.search(text):
        return VIDEO_DURATION
    not_mp4, not_h264 = bool(_NOT_MP4.search(text)), bool(_NOT_H264.search(text))
    if not_mp4 and not_h264:
        return VIDEO_CODEC_AND_FORMAT
    if not_h264:
        return VIDEO_CODEC
    if not_mp4:
        return VIDEO_FORMAT
    if _H264_OR_AAC.search(text):  # asks for an h.264 .mp4 without saying which is wrong
        return VIDEO_CODEC_AND_FORMAT
    if _CONSENT.search(text):
        return CONSENT_MISMATCH
    if _SECOND_PERSON.search(text):
        return SECOND_PERSON
    if _LIGHTING.search(text):
        return LIGHTING_CHANGE if _LIGHTING_CHANGE.search(text) else POOR_LIGHTING
    if _FACE.search(text):
        return FACE_OBSTRUCTED
    if _NOISE.search(text):
        return BACKGROUND_NOISE
    if _EDITING.search(text):
        return EDITING_DETECTED
    if _MOVEMENT.search(text):
        return EXCESSIVE_MOVEMENT
    return None


def hint(kind: str | None) -> str | None:
    """What to do about a kind of training error; None for an unknown kind (never a guess)."""
    return HINTS.get(kind) if kind else None

"""What Tavus says when a replica training fails: the emulator's catalogue of its messages.

One preset per kind of Tavus's "Replica Training Errors" table, worded as Tavus words
them (its documented download and duration messages verbatim, the others in the same
style). The emulator's ``fail_training`` fault takes a preset name or free text.

This module plays Tavus, so it must never import from ``replica_pipeline``: the
pipeline's classifier is tested against Tavus's words, not against its own.
"""

from __future__ import annotations

import re

_PROCESSING = "There was an issue processing your training video."
_MP4_H264 = "Please make sure the training video is a .mp4 file encoded using h.264"

# Kind (as Tavus's table names it) -> the error_message a failed training carries.
TRAINING_ERRORS: dict[str, str] = {
    "download_link": (
        "There was an issue downloading your video file. Please ensure that the link you "
        "provided is correct and try again"
    ),
    "file_size": (
        "The video file you provided is larger than the maximum file size allowed. Please "
        "upload a video smaller than 750MB and try again."
    ),
    "video_format": f"{_PROCESSING} The video provided is not a .mp4 file. {_MP4_H264}",
    "video_codec": f"{_PROCESSING} The video provided is not encoded using h.264. {_MP4_H264}",
    "video_codec_and_format": (
        f"{_PROCESSING} Please make sure the training video is a .mp4 file with h.264 video "
        "and AAC audio"
    ),
    "video_duration": (
        f"{_PROCESSING} The video provided does not meet the minimum duration requirement "
        "for training"
    ),
    "video_fps": (
        f"{_PROCESSING} The video provided does not meet the minimum frame rate of 25 fps "
        "required for training"
    ),
    "consent_mismatch": (
        f"{_PROCESSING} The consent statement spoken in the video does not match the "
        "required consent phrase"
    ),
    "face_obstructed": (
        f"{_PROCESSING} The face in the video is obstructed or not fully visible for the "
        "whole recording"
    ),
    "lighting_change": (
        f"{_PROCESSING} The lighting changes too much during the video; training needs "
        "consistent lighting"
    ),
    "poor_lighting": (
        f"{_PROCESSING} The video is too dark or unevenly lit; training needs a well lit face"
    ),
    "background_noise": (
        f"{_PROCESSING} Too much background noise was detected in the audio of the video"
    ),
    "editing_detected": (
        f"{_PROCESSING} The video appears to have been edited or contains cuts; training "
        "needs one continuous recording"
    ),
    "excessive_movement": (
        f"{_PROCESSING} Excessive movement was detected in the video; the speaker and the "
        "camera should stay still"
    ),
    "second_person": (
        f"{_PROCESSING} A second person was detected in the video; only the person being "
        "replicated may appear"
    ),
}

# What a preset name looks like (every one has an underscore); a message has spaces.
_LOOKS_LIKE_A_PRESET = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)+")


def is_valid_failure(value: object) -> bool:
    """Null, a preset name, or free text; a preset-like word that is no preset is a typo."""
    if value is None:
        return True
    if not isinstance(value, str) or not value.strip():
        return False
    return value in TRAINING_ERRORS or not _LOOKS_LIKE_A_PRESET.fullmatch(value)


def training_error_message(failure: str) -> str:
    """Tavus's message for a preset name; any other text is the message itself."""
    return TRAINING_ERRORS.get(failure, failure)

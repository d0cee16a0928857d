"""Tavus's training options, as they ride on a drop's S3 metadata.

Create Replica takes ``properties`` (Tavus's API reference lists
``gaze_correction`` and ``background_green_screen``, both booleans). A drop
asks for one with a metadata key of the same name in S3's spelling (lower case,
hyphens): ``aws s3 cp … --metadata gaze-correction=true``. A value that is not
true or false rejects the drop with a reason, rather than training a replica
without the option the user asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# S3 metadata key -> Create Replica property name.
TRAINING_PROPERTIES = {
    "gaze-correction": "gaze_correction",
    "background-green-screen": "background_green_screen",
}
TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class TrainingOptions:
    """The properties to send, or the reason the metadata cannot be sent."""

    properties: dict[str, bool]
    rejection: str | None = None


def training_options(metadata: Mapping[str, str]) -> TrainingOptions:
    """The Create Replica ``properties`` the drop's metadata asks for (lower-cased keys)."""
    properties: dict[str, bool] = {}
    for key, name in TRAINING_PROPERTIES.items():
        raw = metadata.get(key)
        if raw is None or not raw.strip():
            continue
        word = raw.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            return TrainingOptions(
                {}, f"metadata {key}={raw!r} must be true or false (Tavus's {name} option)"
            )
        properties[name] = word in TRUE_WORDS
    return TrainingOptions(properties)

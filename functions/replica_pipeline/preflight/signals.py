"""Where the talking is in a loudness envelope (dBFS per window): plain numbers, no decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from replica_pipeline.preflight.report import PreflightLimits


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


def dbfs(mean_square: float, floor_dbfs: float) -> float:
    """A mean square of float samples (full scale 1.0) in dBFS, never below the floor."""
    if mean_square <= 0:
        return floor_dbfs
    return max(floor_dbfs, 10 * math.log10(mean_square))


def _energy_mean(levels: Sequence[float], limits: PreflightLimits) -> float:
    """The level of several windows together: mean power, not mean of decibels."""
    if not levels:
        return limits.floor_dbfs
    power = sum(10 ** (level / 10) for level in levels) / len(levels)
    return dbfs(power, limits.floor_dbfs)


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

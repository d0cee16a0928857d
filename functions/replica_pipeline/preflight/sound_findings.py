"""Verdicts on the sound: loudness, talking then silence, and speech where the consent belongs."""

from __future__ import annotations

from replica_pipeline.preflight.report import (
    LOUDNESS,
    SPEECH_AT_START,
    TALK_THEN_SILENCE,
    Finding,
    PreflightLimits,
    Role,
)
from replica_pipeline.preflight.signals import SpeechLayout, find_talk_then_silence


def sound_findings(levels: tuple[float, ...], role: Role, limits: PreflightLimits) -> list[Finding]:
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

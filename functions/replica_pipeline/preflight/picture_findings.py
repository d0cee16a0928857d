"""Verdicts on what the pictures show: one face, its framing, light, movement, edits, pose.

Each finding names the Tavus training error it heads off (``prevents``) and the
seconds where the problem shows (``at_seconds``). The talking part and the still
part come from the sound (``signals.SpeechLayout``); without speech the whole
recording counts as talking and the still part is not judged.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence

from replica_pipeline.preflight.faces import Look, layout_similarity
from replica_pipeline.preflight.report import (
    EDITS,
    FACE_FRAMING,
    FACE_VISIBLE,
    LIGHTING,
    LISTENING_POSE,
    MOVEMENT,
    SECOND_FACE,
    Finding,
    Role,
    Verdict,
    VisualLimits,
)
from replica_pipeline.preflight.signals import SpeechLayout
from replica_pipeline.rules import training_errors

SHOWN_TIMES = 5  # a finding lists the first few places, not every sampled second


def picture_findings(
    looks: Sequence[Look], speech: SpeechLayout | None, role: Role, limits: VisualLimits
) -> list[Finding]:
    talking, still = _parts(looks, speech, role)
    findings = [
        _face_visible(talking, limits),
        _second_face(looks, limits),
        _edits(looks, limits),
    ]
    if role == "consent" or not any(look.face for look in talking):
        return findings  # nothing to frame, light or follow
    findings += [_framing(talking, limits), _lighting(looks, limits)]
    alone = [look for look in talking if len(look.faces) == 1]
    if alone:  # with two faces in every moment, whose movement would it be?
        findings.append(_movement(alone, limits))
    if still:
        findings.append(_listening_pose(still, talking, limits))
    return findings


def _parts(
    looks: Sequence[Look], speech: SpeechLayout | None, role: Role
) -> tuple[list[Look], list[Look]]:
    """The moments of the talking part, and of the still part after it (training videos)."""
    if speech is None or speech.speech_start is None or role == "consent":
        return list(looks), []
    start = min(speech.speech_start, 1.0)  # the first picture may come before the voice
    talking = [look for look in looks if start <= look.seconds < speech.speech_end]
    still = [look for look in looks if look.seconds >= speech.speech_end]
    return talking or list(looks), still


def _face_visible(talking: Sequence[Look], limits: VisualLimits) -> Finding:
    kind = training_errors.FACE_OBSTRUCTED
    seen = [look for look in talking if look.face]
    if not seen:
        return Finding(
            FACE_VISIBLE,
            "fail",
            f"no face in {len(talking)} moments",
            "no face found in any sampled moment: face the camera, in good light, "
            "with nothing in front of the face",
            prevents=kind,
        )
    shown = f"{len(seen) / len(talking):.0%} of {len(talking)} moments"
    if missing := _missing_face(talking, limits):
        return Finding(
            FACE_VISIBLE,
            "fail",
            shown,
            f"the face is missing ({_spans(missing)}); it must stay in the frame, facing the "
            f"camera and uncovered, while you talk (at least {limits.min_face_share:.0%} of "
            f"moments, no gap of {limits.max_face_gap_seconds:g} s)",
            at_seconds=_times(start for start, _ in missing),
            prevents=kind,
        )
    return Finding(FACE_VISIBLE, "pass", shown, "one face in view while you talk", prevents=kind)


def _missing_face(looks: Sequence[Look], limits: VisualLimits) -> list[tuple[float, float]]:
    """The face's absences that fail a part: the long ones, or all when too many are short.

    Empty when the face is there enough: in ``min_face_share`` of the moments, and never
    gone for ``max_face_gap_seconds``.
    """
    gaps = _gaps(looks)
    long_gaps = [(start, length) for start, length in gaps if length >= limits.max_face_gap_seconds]
    shown_share = sum(1 for look in looks if look.face) / len(looks)
    if long_gaps or shown_share < limits.min_face_share:
        return long_gaps or gaps
    return []


def _spans(gaps: Sequence[tuple[float, float]]) -> str:
    return ", ".join(f"{length:.0f} s from {start:.0f} s" for start, length in gaps[:3])


def _gaps(looks: Sequence[Look]) -> list[tuple[float, float]]:
    """(start, seconds) of each run of moments with no face."""
    gaps: list[tuple[float, float]] = []
    start: float | None = None
    for look in looks:
        if look.face is None and start is None:
            start = look.seconds
        elif look.face is not None and start is not None:
            gaps.append((start, look.seconds - start))
            start = None
    if start is not None:
        gaps.append((start, looks[-1].seconds - start + _step(looks)))
    return gaps


def _step(looks: Sequence[Look]) -> float:
    times = [look.seconds for look in looks]
    steps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return statistics.median(steps) if steps else 1.0


def _second_face(looks: Sequence[Look], limits: VisualLimits) -> Finding:
    kind = training_errors.SECOND_PERSON
    crowded = [look.seconds for look in looks if len(look.faces) > 1]
    shown = f"{len(crowded)} of {len(looks)} moments"
    if not crowded:
        return Finding(SECOND_FACE, "pass", shown, "no second face in view", prevents=kind)
    verdict: Verdict = "fail" if len(crowded) >= limits.second_face_samples_to_fail else "warn"
    return Finding(
        SECOND_FACE,
        verdict,
        shown,
        f"a second face in view at {_listed(crowded)}: only one person may be in the video",
        at_seconds=_times(crowded),
        prevents=kind,
    )


def _edits(looks: Sequence[Look], limits: VisualLimits) -> Finding:
    kind = training_errors.EDITING_DETECTED
    if len(looks) < 2:
        shown = f"{len(looks)} moment" + ("" if len(looks) == 1 else "s")
        return Finding(EDITS, "pass", shown, "too short to compare moments", prevents=kind)
    pairs = list(itertools.pairwise(looks))
    similarity = [(layout_similarity(a, b), b.seconds) for a, b in pairs]
    cuts = [seconds for value, seconds in similarity if value < limits.min_layout_similarity]
    lowest, at = min(similarity)
    shown = f"lowest similarity {lowest:.2f} at {at:.0f} s"
    if cuts:
        return Finding(
            EDITS,
            "fail",
            shown,
            f"the picture changes all at once at {_listed(cuts)}, as at a cut: upload one "
            "continuous take, unedited",
            at_seconds=_times(cuts),
            prevents=kind,
        )
    return Finding(EDITS, "pass", shown, "one continuous shot, no cut", prevents=kind)


def _framing(talking: Sequence[Look], limits: VisualLimits) -> Finding:
    faces = [look.face for look in talking if look.face]
    width = statistics.median(face.width for face in faces)
    across = statistics.median(face.centre[0] for face in faces) - 0.5
    down = statistics.median(face.centre[1] for face in faces) - 0.5
    shown = f"{width:.0%} wide, off centre {across:+.2f}, {down:+.2f}"
    problems = []
    if width < limits.min_face_width:
        problems.append("small: move closer, or frame head and shoulders")
    if max(abs(across), abs(down)) > limits.max_centre_offset:
        problems.append("off-centre: centre your face in the frame")
    if problems:
        return Finding(FACE_FRAMING, "warn", shown, "the face is " + "; ".join(problems))
    return Finding(FACE_FRAMING, "pass", shown, "the face is large enough and roughly centred")


def _lighting(looks: Sequence[Look], limits: VisualLimits) -> Finding:
    kind = training_errors.LIGHTING_CHANGE
    lit = [
        (look.seconds, look.face_brightness) for look in looks if look.face_brightness is not None
    ]
    levels = [level for _, level in lit]
    jumps = [
        later_time
        for (earlier_time, earlier), (later_time, later) in itertools.pairwise(lit)
        if abs(later - earlier) > limits.max_brightness_jump
        and later_time - earlier_time <= 2 * limits.sample_every_seconds + 0.5
    ]
    ordered = sorted(levels)
    # The spread between the 5th and 95th percentiles: one odd moment does not make a drift.
    low, high = ordered[len(ordered) // 20], ordered[-1 - len(ordered) // 20]
    shown = f"face brightness {low:.0f} to {high:.0f} of 255"
    if jumps:
        return Finding(
            LIGHTING,
            "fail",
            shown,
            f"the light on the face jumps (by more than {limits.max_brightness_jump:g} levels) at "
            f"{_listed(jumps)}: record in steady light, with no lamp switched or sun moving",
            at_seconds=_times(jumps),
            prevents=kind,
        )
    if high - low > limits.max_brightness_drift:
        darkest = lit[levels.index(min(levels))][0]
        return Finding(
            LIGHTING,
            "warn",
            shown,
            f"the light on the face drifts by {high - low:.0f} levels (darkest at "
            f"{darkest:.0f} s): steady light trains best",
            at_seconds=(round(darkest, 1),),
            prevents=kind,
        )
    return Finding(LIGHTING, "pass", shown, "steady light on the face", prevents=kind)


def _movement(alone: Sequence[Look], limits: VisualLimits) -> Finding:
    """How far the face strays, over the talking moments that show it alone."""
    kind = training_errors.EXCESSIVE_MOVEMENT
    travel = _travel(alone, alone)
    widths = sorted(look.faces[0].width for look in alone)
    change = widths[-1 - len(widths) // 20] / widths[len(widths) // 20]
    furthest = max((distance for _, distance in travel), default=0.0)
    shown = f"up to {furthest:.1f} face widths; size x{change:.2f}"
    away = [seconds for seconds, distance in travel if distance > limits.max_face_travel]
    if len(away) >= 2:
        return Finding(
            MOVEMENT,
            "fail",
            shown,
            f"the face moves more than {limits.max_face_travel:g} face width from its place at "
            f"{_listed(away)}: sit still, camera fixed, and talk to it",
            at_seconds=_times(away),
            prevents=kind,
        )
    if away or change > limits.max_face_size_change:
        return Finding(
            MOVEMENT,
            "warn",
            shown,
            "the face moves or changes size (leaning in or out, a zoom): keep still",
            at_seconds=_times(away),
            prevents=kind,
        )
    return Finding(MOVEMENT, "pass", shown, "the face stays in place", prevents=kind)


def _travel(looks: Sequence[Look], reference: Sequence[Look]) -> list[tuple[float, float]]:
    """(seconds, distance in face widths) of each face from the reference's usual place."""
    faces = [look.faces[0] for look in reference if look.faces]
    if not faces:
        return []
    home_x = statistics.median(face.centre[0] for face in faces)
    home_y = statistics.median(face.centre[1] for face in faces)
    width = statistics.median(face.width for face in faces)
    return [
        (
            look.seconds,
            ((look.faces[0].centre[0] - home_x) ** 2 + (look.faces[0].centre[1] - home_y) ** 2)
            ** 0.5
            / width,
        )
        for look in looks
        if look.faces
    ]


def _listening_pose(
    still: Sequence[Look], talking: Sequence[Look], limits: VisualLimits
) -> Finding:
    """Tavus learns how the replica listens from the still part: the person stays, and still."""
    seen = [look for look in still if look.face]
    shown = f"face in {len(seen) / len(still):.0%} of {len(still)} still moments"
    if missing := _missing_face(still, limits):
        return Finding(
            LISTENING_POSE,
            "fail",
            shown,
            f"no face during the silence ({_spans(missing)}): stay in the frame, facing the "
            "camera, until the recording ends; Tavus learns the listening pose from it",
            at_seconds=_times(start for start, _ in missing),
            prevents=training_errors.FACE_OBSTRUCTED,
        )
    away = [seconds for seconds, d in _travel(seen, talking) if d > limits.max_listening_travel]
    if away:
        return Finding(
            LISTENING_POSE,
            "warn",
            shown,
            f"you move during the silence (at {_listed(away)}): sit still and look at the camera",
            at_seconds=_times(away),
            prevents=training_errors.EXCESSIVE_MOVEMENT,
        )
    return Finding(LISTENING_POSE, "pass", shown, "still and in view during the silence")


def _times(seconds: Iterable[float]) -> tuple[float, ...]:
    return tuple(round(value, 1) for value in itertools.islice(seconds, SHOWN_TIMES))


def _listed(seconds: Sequence[float]) -> str:
    shown = ", ".join(f"{value:.0f} s" for value in seconds[:SHOWN_TIMES])
    return shown + (f" and {len(seconds) - SHOWN_TIMES} more" if len(seconds) > SHOWN_TIMES else "")

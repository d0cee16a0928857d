"""`replicas check` on what the pictures show: one face, framing, light, movement, cuts, pose.

Each clip films a scene from ``tests.faces`` (the astronaut photo scikit-image ships)
at 640x360, 5 fps, a key frame a second: 40 s of talking, then 35 s of silence. The
header checks judge such a clip too small and slow; these tests read only the
visual findings, which each name their reason, their place and the Tavus error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from replica_pipeline.preflight.check import check_video, watch
from replica_pipeline.preflight.pictures import widest_gap
from replica_pipeline.preflight.report import (
    EDITS,
    FACE_VISIBLE,
    LIGHTING,
    LISTENING_POSE,
    MOVEMENT,
    PICTURE_CHECKS,
    SECOND_FACE,
    Finding,
    VideoReport,
    VisualLimits,
)
from replica_pipeline.rules import training_errors
from tests import faces
from tests.clips import ClipMaker

WIDTH, HEIGHT = 640, 360
TALKING, SECONDS = 40, 75
VISUAL = PICTURE_CHECKS


def filmed(clip: ClipMaker, name: str, scene: faces.Scene, **options: Any) -> Path:
    """``scene`` at 640x360, 5 fps: 40 s of talking, then 35 s of silence (unless told)."""
    settings: dict[str, Any] = {"seconds": SECONDS, "speech": [(0, TALKING)], **options}
    return clip(f"{name}.mp4", width=WIDTH, height=HEIGHT, fps=5, scene=scene, **settings)


def visual(report: VideoReport) -> dict[str, Finding]:
    return {f.check: f for f in report.findings if f.check in VISUAL}


def not_passed(report: VideoReport) -> set[str]:
    return {check for check, finding in visual(report).items() if finding.verdict != "pass"}


def test_one_face_throughout_passes_every_visual_check(clip: ClipMaker) -> None:
    report = check_video(filmed(clip, "one-face", faces.one_person(WIDTH, HEIGHT)), "combined")

    assert sorted(visual(report)) == sorted(VISUAL)
    assert not_passed(report) == set()
    assert visual(report)[FACE_VISIBLE].value == "100% of 40 moments"


def test_no_face_fails_and_names_an_obstructed_face(clip: ClipMaker) -> None:
    report = check_video(filmed(clip, "no-face", faces.nobody(WIDTH, HEIGHT)), "combined")

    found = visual(report)[FACE_VISIBLE]
    assert (found.verdict, found.prevents) == ("fail", training_errors.FACE_OBSTRUCTED)
    assert "no face found" in found.detail
    # Nothing to frame, light or follow: those checks are not made.
    assert set(visual(report)) == {FACE_VISIBLE, SECOND_FACE, EDITS}


def test_two_faces_fail_as_a_second_person_from_the_start(clip: ClipMaker) -> None:
    report = check_video(filmed(clip, "two-faces", faces.two_people(WIDTH, HEIGHT)), "combined")

    found = visual(report)[SECOND_FACE]
    assert (found.verdict, found.prevents) == ("fail", training_errors.SECOND_PERSON)
    assert found.at_seconds == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert found.value == f"{SECONDS} of {SECONDS} moments"


def test_the_face_leaving_for_ten_seconds_fails_with_when(clip: ClipMaker) -> None:
    report = check_video(filmed(clip, "face-away", faces.away(WIDTH, HEIGHT, 20, 30)), "combined")

    found = visual(report)[FACE_VISIBLE]
    assert (found.verdict, found.at_seconds) == ("fail", (20.0,))
    assert "10 s from 20 s" in found.detail
    assert not_passed(report) == {FACE_VISIBLE}  # a person leaving is not a cut


def test_a_lighting_jump_fails_at_the_second_it_happens(clip: ClipMaker) -> None:
    report = check_video(
        filmed(clip, "light-off", faces.light_drops(WIDTH, HEIGHT, 30)), "combined"
    )

    found = visual(report)[LIGHTING]
    assert (found.verdict, found.at_seconds) == ("fail", (30.0,))
    assert found.prevents == training_errors.LIGHTING_CHANGE
    assert not_passed(report) == {LIGHTING}  # the same shot, darker: not a cut


def test_a_face_moving_across_the_frame_fails_as_excessive_movement(clip: ClipMaker) -> None:
    scene = faces.walking_across(WIDTH, HEIGHT, TALKING)
    report = check_video(filmed(clip, "walking", scene), "combined")

    found = visual(report)[MOVEMENT]
    assert (found.verdict, found.prevents) == ("fail", training_errors.EXCESSIVE_MOVEMENT)
    assert found.at_seconds[0] < 10  # from near the start, where the walk begins
    assert EDITS not in not_passed(report)


def test_a_hard_cut_in_the_middle_fails_as_editing(clip: ClipMaker) -> None:
    scene = faces.cut_to_another_room(WIDTH, HEIGHT, 20)
    report = check_video(filmed(clip, "hard-cut", scene), "combined")

    found = visual(report)[EDITS]
    assert (found.verdict, found.at_seconds) == ("fail", (20.0,))
    assert found.prevents == training_errors.EDITING_DETECTED
    assert not_passed(report) == {EDITS}


def test_a_person_absent_in_the_silent_part_fails_the_listening_pose(clip: ClipMaker) -> None:
    scene = faces.leaves_when_silent(WIDTH, HEIGHT, TALKING)
    report = check_video(filmed(clip, "gone-when-silent", scene), "combined")

    found = visual(report)[LISTENING_POSE]
    assert (found.verdict, found.at_seconds) == ("fail", (float(TALKING),))
    assert "listening pose" in found.detail
    assert not_passed(report) == {LISTENING_POSE}


def test_a_consent_video_is_judged_on_the_face_alone(clip: ClipMaker) -> None:
    scene = faces.walking_across(WIDTH, HEIGHT, TALKING)
    report = check_video(filmed(clip, "walking", scene), "consent")

    assert set(visual(report)) == {FACE_VISIBLE, SECOND_FACE, EDITS}
    assert not_passed(report) == set()


@pytest.mark.parametrize("rotation", [-90, 90])
def test_a_phone_held_upright_is_looked_at_upright(clip: ClipMaker, rotation: int) -> None:
    # A phone stores the picture sideways with a rotation tag; the face is upright once turned.
    sideways = faces.still(faces.rotated(faces.one_person(HEIGHT, WIDTH)(0), rotation))
    path = filmed(clip, f"upright-{rotation}", sideways, rotation=rotation)

    assert visual(check_video(path, "combined"))[FACE_VISIBLE].verdict == "pass"


def test_sparse_key_frames_are_read_frame_by_frame_and_still_place_the_problem(
    clip: ClipMaker,
) -> None:
    # A key frame every 10 s (some encoders' default) would leave holes a lamp could hide
    # in: the check decodes every frame then, and still finds the second it went off.
    scene = faces.light_drops(WIDTH, HEIGHT, 33)
    path = filmed(clip, "light-off-sparse", scene, key_frame_seconds=10)

    moments = [seen.seconds for seen in watch(path, VisualLimits())]
    found = visual(check_video(path, "combined"))[LIGHTING]

    assert widest_gap(moments) == 1.0  # not the key frames' 10 s
    assert (found.verdict, found.at_seconds) == ("fail", (33.0,))


def test_without_sound_the_whole_recording_is_the_talking_part(clip: ClipMaker) -> None:
    scene = faces.away(WIDTH, HEIGHT, 50, 60)
    path = filmed(clip, "silent-film", scene, speech=[], audio=False)

    report = check_video(path, "combined")

    assert LISTENING_POSE not in visual(report)  # no silence to find without sound
    assert visual(report)[FACE_VISIBLE].at_seconds == (50.0,)


def test_a_clip_shorter_than_a_sample_interval_is_checked_without_error(clip: ClipMaker) -> None:
    path = filmed(clip, "blink", faces.one_person(WIDTH, HEIGHT), seconds=0.6, speech=[])

    report = check_video(path, "combined")

    assert visual(report)[EDITS].value == "1 moment"
    assert visual(report)[FACE_VISIBLE].verdict == "pass"

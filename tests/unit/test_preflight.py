"""`replicas check`: what the pre-flight check says about recordings a user might upload.

Clips are synthetic (tests/clips.py), made once per session; each is built
only when a test needs it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from replica_pipeline.config import ValidationLimits
from replica_pipeline.preflight.check import check_submission, check_video
from replica_pipeline.preflight.rendering import render_text
from replica_pipeline.preflight.report import (
    AUDIO,
    CONTAINER,
    DURATION,
    FILE_SIZE,
    FRAME_RATE,
    LOUDNESS,
    PICTURE_CHECKS,
    RESOLUTION,
    SPEECH_AT_START,
    TALK_THEN_SILENCE,
    VIDEO_CODEC,
    PreflightError,
    PreflightLimits,
    VideoReport,
)
from replica_pipeline.preflight.signals import find_talk_then_silence
from tests.clips import ClipMaker

EVERY_CHECK = [
    CONTAINER,
    VIDEO_CODEC,
    RESOLUTION,
    FRAME_RATE,
    DURATION,
    FILE_SIZE,
    AUDIO,
    LOUDNESS,
    TALK_THEN_SILENCE,
    SPEECH_AT_START,
    *PICTURE_CHECKS,
]


@pytest.fixture(scope="session")
def good_recording(clip: ClipMaker) -> Path:
    """A minute of talking, then a minute of silence: what Tavus asks for."""
    return clip("good.mp4", seconds=120, speech=[(0, 60)])


@pytest.fixture(scope="session")
def short_good_recording(clip: ClipMaker) -> Path:
    """Just over the floors (70 s: 35 s talking, 35 s silence), for checks not about sound."""
    return clip("short-good.mp4", seconds=70, speech=[(0, 35)])


def failing(report: VideoReport) -> dict[str, str]:
    return {finding.check: finding.detail for finding in report.failures}


def only(reports: list[VideoReport]) -> VideoReport:
    assert len(reports) == 1
    return reports[0]


# --- the recording Tavus asks for -------------------------------------------------------------


def test_a_minute_of_talking_then_a_minute_of_silence_passes_every_check(
    good_recording: Path,
) -> None:
    report = only(check_submission(good_recording))

    assert report.passed, render_text([report])
    assert [f.check for f in report.findings] == EVERY_CHECK
    assert {f.verdict for f in report.findings} == {"pass"}
    assert report.role == "combined"
    values = {f.check: f.value for f in report.findings}
    assert values[RESOLUTION] == "1920x1080"
    assert values[FRAME_RATE] == "25 fps"
    assert values[DURATION] == "120.0 s"
    assert values[VIDEO_CODEC] == "h264 (avc1)"
    assert values[TALK_THEN_SILENCE].startswith("speech ends at 60.0 s")
    assert len(report.loudness) == 120


def test_the_envelope_shows_speech_then_room_tone(good_recording: Path) -> None:
    report = only(check_submission(good_recording))

    talking, still = report.loudness[:60], report.loudness[60:]
    # The synthetic voice is -20 dBFS RMS, the room tone -60 (AAC trims the noise's top end).
    assert all(-24 < level < -17 for level in talking)
    assert all(-63 < level < -58 for level in still)


# --- the sound in the wrong shape ---------------------------------------------------------------


def test_talking_throughout_fails_because_there_is_no_silence(clip: ClipMaker) -> None:
    report = only(check_submission(clip("all-talking.mp4", seconds=70, speech=[(0, 70)])))

    assert failing(report).keys() == {TALK_THEN_SILENCE}
    assert "all talking" in failing(report)[TALK_THEN_SILENCE]
    finding = report.finding(TALK_THEN_SILENCE)
    assert finding is not None
    assert finding.value == "speech to the end (70.0 s)"


@pytest.mark.parametrize(("name", "level"), [("room-tone", -60.0), ("digital-silence", -math.inf)])
def test_silence_throughout_fails_because_there_is_no_speech(
    clip: ClipMaker, name: str, level: float
) -> None:
    path = clip(f"all-{name}.mp4", seconds=70, speech=[], silence_level_db=level)

    report = only(check_submission(path))

    reasons = failing(report)
    assert reasons.keys() == {TALK_THEN_SILENCE, SPEECH_AT_START}
    assert "all silence" in reasons[TALK_THEN_SILENCE]
    assert "no speech" in reasons[SPEECH_AT_START]
    assert all(math.isfinite(value) for value in report.loudness)


def test_digital_silence_is_flagged_as_a_muted_microphone(clip: ClipMaker) -> None:
    path = clip("all-digital-silence.mp4", seconds=70, speech=[], silence_level_db=-math.inf)

    loudness = only(check_submission(path)).finding(LOUDNESS)

    assert loudness is not None
    assert loudness.verdict == "warn"
    assert "muted" in loudness.detail
    assert loudness.value == "-120.0 to -120.0 dBFS"


def test_silence_first_fails_and_the_consent_is_not_at_the_start(clip: ClipMaker) -> None:
    report = only(check_submission(clip("silence-first.mp4", seconds=120, speech=[(60, 120)])))

    reasons = failing(report)
    assert reasons.keys() == {TALK_THEN_SILENCE, SPEECH_AT_START}
    assert "silence first: speech starts at 60 s" in reasons[TALK_THEN_SILENCE]
    assert "starts only at 60 s" in reasons[SPEECH_AT_START]
    finding = report.finding(TALK_THEN_SILENCE)
    assert finding is not None
    assert finding.value == "speech starts at 60.0 s"


def test_too_little_speech_fails(clip: ClipMaker) -> None:
    report = only(check_submission(clip("little-speech.mp4", seconds=70, speech=[(0, 10)])))

    assert failing(report).keys() == {TALK_THEN_SILENCE}
    assert "too little speech: 10 s of talking" in failing(report)[TALK_THEN_SILENCE]


def test_too_little_silence_fails(clip: ClipMaker) -> None:
    report = only(check_submission(clip("little-silence.mp4", seconds=70, speech=[(0, 50)])))

    assert failing(report).keys() == {TALK_THEN_SILENCE}
    assert (
        "too little silence: 20 s after speech ends at 50 s" in (failing(report)[TALK_THEN_SILENCE])
    )


def test_a_noisy_room_is_warned_about(clip: ClipMaker) -> None:
    path = clip("noisy-room.mp4", seconds=70, speech=[(0, 35)], silence_level_db=-44.0)

    report = only(check_submission(path))

    assert report.passed, render_text([report])
    finding = report.finding(TALK_THEN_SILENCE)
    assert finding is not None
    assert finding.verdict == "warn"
    assert "background noise" in finding.detail


def test_speech_then_digital_silence_passes(clip: ClipMaker) -> None:
    path = clip("then-digital.mp4", seconds=70, speech=[(0, 35)], silence_level_db=-math.inf)

    report = only(check_submission(path))

    assert report.passed, render_text([report])
    assert report.loudness[-1] == -120.0


# --- the picture and the file -------------------------------------------------------------------


def test_720p_fails_on_resolution(clip: ClipMaker) -> None:
    path = clip("720p.mp4", width=1280, height=720, seconds=70, speech=[(0, 35)])

    reasons = failing(only(check_submission(path)))

    assert reasons.keys() == {RESOLUTION}
    assert reasons[RESOLUTION] == "video is 1280x720; Tavus needs at least 1080p"


def test_portrait_1080p_passes_on_resolution(clip: ClipMaker) -> None:
    path = clip("portrait.mp4", width=1080, height=1920, seconds=70, speech=[(0, 35)])

    assert only(check_submission(path)).passed


def test_mpeg4_video_in_an_mp4_fails_on_codec(clip: ClipMaker) -> None:
    path = clip("mpeg4.mp4", codec="mpeg4", seconds=70, speech=[(0, 35)])

    reasons = failing(only(check_submission(path)))

    assert reasons.keys() == {VIDEO_CODEC}
    assert "mpeg4" in reasons[VIDEO_CODEC]
    assert "Tavus needs H.264" in reasons[VIDEO_CODEC]


def test_a_low_frame_rate_fails(clip: ClipMaker) -> None:
    reasons = failing(only(check_submission(clip("2fps.mp4", fps=2, seconds=70, speech=[(0, 35)]))))

    assert reasons == {FRAME_RATE: "video is 2 fps; Tavus needs at least 25 fps"}


def test_a_20_second_video_fails_on_duration(clip: ClipMaker) -> None:
    report = only(check_submission(clip("20s.mp4", seconds=20, speech=[(0, 10)])))

    reasons = failing(report)
    # 20 s cannot hold the talking and the silence either: both say so.
    assert reasons.keys() == {DURATION, TALK_THEN_SILENCE}
    assert reasons[DURATION] == "video is 20 s long; at least 60 s is needed"
    assert "too little speech" in reasons[TALK_THEN_SILENCE]


def test_a_video_without_audio_fails_for_that_reason(clip: ClipMaker) -> None:
    report = only(check_submission(clip("mute.mp4", seconds=70, speech=[], audio=False)))

    assert failing(report).keys() == {AUDIO}
    assert "no audio track" in failing(report)[AUDIO]
    assert report.loudness == ()
    assert report.finding(TALK_THEN_SILENCE) is None


def test_pcm_audio_in_a_mov_is_measured_and_fails_as_tavus_would(clip: ClipMaker) -> None:
    path = clip("pcm.mov", seconds=70, speech=[(0, 35)], audio_codec="pcm_s16le", stereo=True)

    report = only(check_submission(path))

    # A .mov is refused by name too (Tavus asks for .mp4 or .webm); both are prepare's to fix.
    assert set(failing(report)) == {CONTAINER, AUDIO}
    assert failing(report)[AUDIO] == "audio is pcm_s16le; Tavus needs AAC audio"
    assert report.loudness[0] > -25  # the voice, read from 16-bit PCM


def test_a_webm_of_vp9_and_opus_passes_as_tavus_takes_it(clip: ClipMaker) -> None:
    path = clip(
        "vp9-opus.webm", seconds=70, speech=[(0, 35)], codec="libvpx-vp9", audio_codec="libopus"
    )

    report = only(check_submission(path))

    assert failing(report) == {}
    verdicts = {finding.check: finding.verdict for finding in report.findings}
    assert (verdicts[CONTAINER], verdicts[VIDEO_CODEC], verdicts[AUDIO]) == ("pass",) * 3


def test_stereo_sound_measures_like_the_same_sound_in_mono(
    short_good_recording: Path, clip: ClipMaker
) -> None:
    stereo = clip("stereo.mp4", seconds=70, speech=[(0, 35)], stereo=True)

    mono_levels = only(check_submission(short_good_recording)).loudness
    stereo_levels = only(check_submission(stereo)).loudness

    assert len(stereo_levels) == len(mono_levels)
    assert all(abs(s - m) < 0.5 for s, m in zip(stereo_levels, mono_levels, strict=True))


def test_a_size_over_the_limit_fails(short_good_recording: Path) -> None:
    size = short_good_recording.stat().st_size
    tight = PreflightLimits(video=ValidationLimits(max_bytes=size - 1))

    reasons = failing(check_video(short_good_recording, "combined", tight))

    assert reasons.keys() == {FILE_SIZE}
    assert "Tavus accepts at most" in reasons[FILE_SIZE]


def test_a_text_file_named_mp4_is_refused_with_its_name(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video\n")

    with pytest.raises(PreflightError, match=r"holiday\.mp4: not a video file"):
        check_submission(fake)


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"nowhere\.mp4: cannot read the file"):
        check_submission(tmp_path / "nowhere.mp4")


# --- separate consent video ------------------------------------------------------------------


def test_a_training_and_consent_pair_gets_one_report_each(
    short_good_recording: Path, clip: ClipMaker
) -> None:
    consent = clip("consent.mp4", seconds=60, speech=[(0, 15)])

    training_report, consent_report = check_submission(short_good_recording, consent)

    assert (training_report.role, consent_report.role) == ("training", "consent")
    assert training_report.passed, render_text([training_report])
    assert consent_report.passed, render_text([consent_report])
    # Talk-then-silence is the training video's rule; the consent video needs speech first.
    assert training_report.finding(TALK_THEN_SILENCE) is not None
    assert training_report.finding(SPEECH_AT_START) is None
    assert consent_report.finding(TALK_THEN_SILENCE) is None
    assert consent_report.finding(SPEECH_AT_START) is not None


def test_a_short_consent_video_passes_the_duration_check(clip: ClipMaker) -> None:
    # The statement alone takes 10 to 20 s; the 60 s floor is the training video's.
    consent = clip("short-consent.mp4", seconds=20, speech=[(0, 15)])

    report = check_video(consent, "consent")

    assert report.passed, render_text([report])
    assert failing(check_video(consent, "training")).keys() >= {DURATION}


def test_a_consent_video_that_starts_silent_fails(clip: ClipMaker) -> None:
    consent = clip("late-consent.mp4", seconds=60, speech=[(20, 35)])

    reasons = failing(check_video(consent, "consent"))

    assert reasons.keys() == {SPEECH_AT_START}
    assert "starts only at 20 s" in reasons[SPEECH_AT_START]


# --- output -------------------------------------------------------------------------------------


def test_the_text_output_has_a_line_per_finding_and_a_summary(
    good_recording: Path, clip: ClipMaker
) -> None:
    reports = check_submission(
        good_recording, clip("720p.mp4", width=1280, height=720, seconds=70, speech=[(0, 35)])
    )

    lines = render_text(reports).splitlines()

    findings = sum(len(report.findings) for report in reports)
    assert len(lines) == len(reports) + findings + 1
    assert any(line.split()[:3] == ["FAIL", RESOLUTION, "1280x720"] for line in lines)
    assert lines[-1].startswith("2 files checked: 1 failure")


def test_the_report_is_json_ready(good_recording: Path) -> None:
    report = only(check_submission(good_recording))

    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))

    assert data["passed"] is True
    assert [f["check"] for f in data["findings"]] == EVERY_CHECK
    assert len(data["loudness"]) == 120


# --- finding the talking in an envelope (no video needed) ---------------------------------------

TALK, ROOM = -22.0, -60.0


def test_pauses_in_the_talk_and_a_cough_in_the_silence_do_not_move_the_split() -> None:
    levels = [TALK] * 60 + [ROOM] * 60
    levels[20:22] = [ROOM, ROOM]  # a breath between sentences
    levels[95] = TALK  # a cough

    layout = find_talk_then_silence(levels, PreflightLimits())

    assert (layout.speech_start, layout.speech_end) == (0.0, 60.0)
    assert layout.stray_sounds == (95.0,)
    assert -61 < layout.rest_dbfs < -50


def test_in_a_noisy_room_the_speech_threshold_rises_to_its_ceiling() -> None:
    levels = [TALK] * 60 + [-44.0] * 60

    layout = find_talk_then_silence(levels, PreflightLimits())

    assert layout.speech_end == 60.0
    assert layout.threshold_dbfs == -30.0


def test_quiet_speech_in_a_quiet_room_is_still_speech() -> None:
    levels = [-40.0] * 60 + [-70.0] * 60

    layout = find_talk_then_silence(levels, PreflightLimits())

    assert (layout.speech_start, layout.speech_end) == (0.0, 60.0)

"""`replicas prepare`: a phone's recording in, a file Tavus accepts out (or a reason).

Planning is tested on facts alone; the transcoding on short synthetic clips
(tests/clips.py) read back with PyAV, and checked by the same checks a drop
meets: `replicas check` (replica_pipeline.preflight) and the ingest's header check.
"""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import boto3
import pytest

from replica_pipeline.config import ValidationLimits
from replica_pipeline.preflight.check import check_video, watch
from replica_pipeline.preflight.decoding import frame_rate_is_constant, timestamps_are_constant
from replica_pipeline.preflight.report import (
    CONTAINER,
    FRAME_RATE,
    VIDEO_CODEC,
    PreflightLimits,
    VisualLimits,
)
from replica_pipeline_local.cli.main import main
from replica_pipeline_local.cli.prepare import (
    MAX_VIDEO_BIT_RATE,
    FrameGrid,
    Prepared,
    PrepareRefused,
    SourceFacts,
    default_output,
    fit_short_side,
    pick_frames,
    plan_preparation,
    prepare,
    target_frame_rate,
    video_bit_rate,
)
from replica_pipeline_local.cli.submit_command import check_local_video
from tests.clips import ClipMaker, make_clip

# A low floor keeps the clips a few seconds long; the floor is a setting, as in the pipeline.
SHORT = ValidationLimits(min_duration_seconds=2.0, min_duration_by_model=())
SECONDS = 4
PHONE = SourceFacts(
    container="mov,mp4,m4a,3gp,3g2,mj2",
    video_codec="hevc",
    width=3840,
    height=2160,
    rotation=270,  # what PyAV reads from an upright phone's -90
    frame_rate=Fraction(60),
    constant_rate=True,
    duration_seconds=120.0,
    audio_codec="aac",
    audio_channels=2,
    audio_sample_rate=48_000,
)


def facts(**changes: object) -> SourceFacts:
    return SourceFacts(**{**PHONE.__dict__, **changes})


# --- planning: what the prepared file will be -----------------------------------------------------


def test_an_upright_4k60_hevc_phone_video_is_planned_as_portrait_1080p30_h264() -> None:
    plan = plan_preparation(PHONE, ValidationLimits())

    assert (plan.width, plan.height) == (1080, 1920)
    assert plan.frame_rate == 30
    assert plan.rotation == 270
    assert plan.video_max_bit_rate == MAX_VIDEO_BIT_RATE
    assert plan.audio_layout == "stereo"
    assert plan.changes == (
        "hevc video -> H.264",
        "turned 270 degrees upright (the rotation tag applied)",
        "2160x3840 -> 1080x1920",
        "60 fps -> 30 fps",
    )


@pytest.mark.parametrize(
    ("source", "constant", "expected"),
    [
        (Fraction(25), True, Fraction(25)),
        (Fraction(30000, 1001), True, Fraction(30000, 1001)),
        (Fraction(30), True, Fraction(30)),
        (Fraction(50), True, Fraction(25)),
        (Fraction(60), True, Fraction(30)),
        (Fraction(60000, 1001), True, Fraction(30000, 1001)),
        (Fraction(120), True, Fraction(30)),
        (Fraction(48), True, Fraction(30)),  # 48 / 2 = 24 is under the floor
        (Fraction(24), True, Fraction(30)),
        (Fraction(29), False, Fraction(30)),  # variable: onto a constant grid
        (None, True, Fraction(30)),
    ],
)
def test_the_output_frame_rate_is_constant_and_at_least_25(
    source: Fraction | None, constant: bool, expected: Fraction
) -> None:
    assert target_frame_rate(source, constant, floor=25.0) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((3840, 2160), (1920, 1080)),
        ((2160, 3840), (1080, 1920)),
        ((4096, 2160), (2048, 1080)),
        ((3840, 1644), (2522, 1080)),  # 2.35:1, both sides even
        ((2560, 1440), (1920, 1080)),
        ((1920, 1080), (1920, 1080)),
        ((1440, 1080), (1440, 1080)),  # never scaled up, never stretched
    ],
)
def test_the_shorter_side_comes_down_to_1080_keeping_the_aspect(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert fit_short_side(*size, 1080) == expected


def test_a_long_recording_gets_a_lower_bit_rate_so_it_fits_750_mb() -> None:
    limits = ValidationLimits()
    long_one = plan_preparation(facts(duration_seconds=30 * 60), limits)

    assert video_bit_rate(120, 160_000, limits.max_bytes) == MAX_VIDEO_BIT_RATE
    assert long_one.video_max_bit_rate < MAX_VIDEO_BIT_RATE
    assert long_one.max_bytes <= limits.max_bytes


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"width": 1280, "height": 720, "rotation": 0},
            "video is 1280x720; Tavus needs at least 1080p, and scaling it up would only "
            "invent detail: record again at 1080p or more",
        ),
        (
            {"audio_codec": None, "audio_channels": 0},
            "the video has no audio track; Tavus learns the voice from it and must hear the "
            "consent statement: record again with the microphone on",
        ),
        (
            {"duration_seconds": 45.0},
            "video is 45 s long; at least 60 s is needed (record about 60 s of talking, "
            "then as long in silence)",
        ),
        (
            {"duration_seconds": 4 * 3600.0},
            "video is 240 min long: it cannot fit Tavus's 750 MB at a usable quality; trim it "
            "to at most 60 min (about 2 minutes is what Tavus asks for)",
        ),
    ],
)
def test_what_a_re_encode_cannot_fix_is_refused_with_the_reason(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(PrepareRefused) as refusal:
        plan_preparation(facts(**changes), ValidationLimits())

    assert str(refusal.value) == reason


def test_the_duration_floor_is_the_models() -> None:
    recording = facts(duration_seconds=45.0)
    limits = ValidationLimits()

    assert plan_preparation(recording, limits.for_model("phoenix-4")).duration_seconds == 45.0
    with pytest.raises(PrepareRefused, match="at least 60 s"):
        plan_preparation(recording, limits.for_model("phoenix-3"))


# --- constant frame rate from any timestamps ------------------------------------------------------


def seconds(*frames: float, per_second: int = 1) -> list[Fraction]:
    return [Fraction(frame).limit_denominator(100_000) / per_second for frame in frames]


def test_60_fps_onto_30_keeps_every_other_frame() -> None:
    times = seconds(*range(12), per_second=60)

    assert pick_frames(times, Fraction(30), end=Fraction(12, 60)) == [0, 2, 4, 6, 8, 10]


def test_a_constant_rate_onto_its_own_grid_keeps_every_frame_once() -> None:
    times = seconds(*range(10), per_second=25)

    assert pick_frames(times, Fraction(25), end=Fraction(10, 25)) == list(range(10))


def test_24_fps_onto_30_repeats_one_frame_in_four() -> None:
    times = seconds(*range(8), per_second=24)

    picked = pick_frames(times, Fraction(30), end=Fraction(8, 24))

    assert picked == [0, 1, 1, 2, 3, 4, 5, 5, 6, 7]


def test_uneven_frames_land_on_the_slot_they_are_nearest_before() -> None:
    # Frames at 0, 0.03, 0.05, 0.2, 0.21 s; 10 slots a second (slot k shows k / 10 s).
    times = seconds(0, 3, 5, 20, 21, per_second=100)

    picked = pick_frames(times, Fraction(10), end=Fraction(4, 10))

    # Slot k shows the last frame starting before k / 10 + 0.05 s: frame 1 (frame 2 starts
    # exactly at the midpoint, so it belongs to the next slot), then 2, then 4 twice;
    # frames 0 and 3 are replaced within their slot and dropped.
    assert picked == [1, 2, 4, 4]


def test_the_grid_starts_at_the_first_frame_on_the_recordings_own_clock() -> None:
    grid = FrameGrid(Fraction(30))

    assert list(grid.slots_before(Fraction(1, 10))) == []  # the first frame, at 0.1 s
    assert list(grid.slots_before(Fraction(2, 10))) == [3, 4, 5]


def test_even_timestamps_are_constant_and_uneven_ones_are_not() -> None:
    assert timestamps_are_constant([0, 512, 1024, 1536])
    assert timestamps_are_constant([0, 20, 40, 61, 81])  # 29.97 on a 1/600 clock: rounding
    assert not timestamps_are_constant([0, 717, 870, 1664, 1843])


# --- transcoding: real files read back ------------------------------------------------------------


@pytest.fixture(scope="session")
def phone_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an iPhone held upright records: 4K HEVC at 60 fps in a .mov, turned by a tag.

    The person is stored sideways, upright once the tag is applied.
    """
    return make_clip(
        tmp_path_factory.mktemp("phone") / "IMG_0001.mov",
        width=3840,
        height=2160,
        seconds=SECONDS,
        speech=[(0, SECONDS / 2)],
        codec="hevc",
        fps=60,
        stereo=True,
        rotation=-90,
    )


@pytest.fixture(scope="session")
def prepared_phone_video(phone_video: Path) -> Prepared:
    return prepare(phone_video, default_output(phone_video), SHORT)


@pytest.fixture(scope="session")
def variable_rate_video(clip: ClipMaker) -> Path:
    return clip(
        "variable.mp4", seconds=SECONDS, speech=[(0, SECONDS / 2)], fps=30, variable_frame_rate=True
    )


def read_back(path: Path) -> dict[str, object]:
    """What a player sees in the file: codecs, size, rate, frames, and the first picture."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        picture = next(container.decode(video))
        return {
            "video": (video.codec_context.name, video.codec_context.codec_tag),
            "audio": (audio.codec_context.name, audio.sample_rate),
            "size": (picture.width, picture.height),
            "rotation": picture.rotation,
            "fps": video.average_rate,
            "constant": frame_rate_is_constant(video),
            "frames": video.frames,
        }


def top_level_boxes(path: Path) -> list[str]:
    boxes, data, offset = [], path.read_bytes(), 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        boxes.append(kind.decode("latin-1"))
        offset += size
    return boxes


def test_a_4k60_hevc_phone_video_becomes_upright_1080p30_h264_aac(
    phone_video: Path, prepared_phone_video: Prepared
) -> None:
    seen = read_back(prepared_phone_video.output)

    assert prepared_phone_video.output == phone_video.with_name("IMG_0001.prepared.mp4")
    assert seen["video"] == ("h264", "avc1")
    assert seen["audio"] == ("aac", 48_000)
    # The tag said "turn clockwise": the pixels are turned, and no tag is left to apply.
    assert seen["size"] == (1080, 1920)
    assert seen["rotation"] == 0
    assert seen["fps"] == 30
    assert seen["constant"] is True
    assert seen["frames"] == 30 * SECONDS


def test_the_picture_is_turned_the_way_the_tag_says(prepared_phone_video: Prepared) -> None:
    # Stored sideways under a -90 tag; prepared, the pixels themselves are upright and
    # untagged. The face cascade finds only upright faces: turned the wrong way (sideways
    # or upside down), hers would not be found.
    [first, *_] = watch(prepared_phone_video.output, VisualLimits())

    assert read_back(prepared_phone_video.output)["rotation"] == 0
    assert len(first.faces) == 1


def test_the_header_comes_before_the_pictures(prepared_phone_video: Prepared) -> None:
    boxes = top_level_boxes(prepared_phone_video.output)

    assert boxes.index("moov") < boxes.index("mdat")


def test_the_prepared_phone_video_passes_the_check_and_the_ingest(
    phone_video: Path, prepared_phone_video: Prepared
) -> None:
    before = check_video(phone_video, "combined", PreflightLimits(video=SHORT))
    after = check_video(prepared_phone_video.output, "combined", PreflightLimits(video=SHORT))

    assert {f.check for f in before.failures} == {CONTAINER, VIDEO_CODEC}
    assert before.fix == f"replicas prepare {phone_video}"
    assert after.passed, [f.detail for f in after.findings if f.verdict != "pass"]
    assert after.fix is None
    assert check_local_video(phone_video, SHORT) is not None
    assert check_local_video(prepared_phone_video.output, SHORT) is None


def test_a_variable_frame_rate_video_becomes_constant(
    variable_rate_video: Path, tmp_path: Path
) -> None:
    output = tmp_path / "constant.mp4"

    prepared = prepare(variable_rate_video, output, SHORT)

    seen = read_back(output)
    assert any(change.startswith("variable ") for change in prepared.plan.changes)
    assert seen["fps"] == 30
    assert seen["constant"] is True
    assert abs(seen["frames"] - 30 * SECONDS) <= 1  # type: ignore[operator]
    assert seen["size"] == (1920, 1080)
    assert check_video(output, "combined", PreflightLimits(video=SHORT)).passed
    assert check_local_video(output, SHORT) is None


def test_the_check_warns_of_a_variable_frame_rate_and_names_prepare(
    variable_rate_video: Path,
) -> None:
    report = check_video(variable_rate_video, "combined", PreflightLimits(video=SHORT))
    finding = report.finding(FRAME_RATE)

    assert finding is not None
    assert (finding.verdict, finding.fixable) == ("warn", True)
    assert finding.value.endswith("(variable)")
    assert report.passed  # Tavus states a floor, not constancy: a warning, not a failure
    assert report.fix == f"replicas prepare {variable_rate_video}"


@pytest.mark.parametrize(
    ("name", "options", "limits", "reason"),
    [
        ("720p.mov", {"width": 1280, "height": 720}, SHORT, "video is 1280x720"),
        ("mute.mov", {"audio": False}, SHORT, "the video has no audio track"),
        ("short.mov", {}, ValidationLimits(), "video is 4 s long; at least 60 s is needed"),
    ],
)
def test_a_recording_that_cannot_be_fixed_is_refused_and_nothing_is_written(
    tmp_path: Path, name: str, options: dict[str, object], limits: ValidationLimits, reason: str
) -> None:
    settings: dict[str, object] = {"width": 1920, "height": 1080, "fps": 25, **options}
    source = make_clip(tmp_path / name, seconds=SECONDS, speech=[(0, 2)], **settings)  # type: ignore[arg-type]

    with pytest.raises(PrepareRefused, match=reason):
        prepare(source, default_output(source), limits)

    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_prepare_never_writes_over_the_recording(phone_video: Path) -> None:
    with pytest.raises(ValueError, match="is the recording itself"):
        prepare(phone_video, phone_video, SHORT)

    assert default_output(Path("clips/talk.mp4")) == Path("clips/talk.prepared.mp4")


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def half_minute_phone_video(clip: ClipMaker) -> Path:
    """31 s of HEVC in a .mov: long enough for phoenix-4's 30 s floor; square 1080p, so
    converting it costs half what 1920x1080 would."""
    return clip(
        "half-minute.mov", codec="hevc", width=1080, seconds=31, speech=[(0, 16)], stereo=True
    )


@pytest.fixture
def local_target(aws: str, tmp_path: Path) -> tuple[Path, str]:
    """A state dir whose stack.json points `replicas` at moto, with the upload bucket made."""
    bucket = "replica-uploads-prepare"
    boto3.client("s3").create_bucket(Bucket=bucket)
    description = {
        "region": "us-east-1",
        "bucket": bucket,
        "upload_prefix": "uploads/",
        "table": "replicas",
        "api_url": "http://127.0.0.1:9/",
        "queue_url": "http://127.0.0.1:9/ingest",
        "dlq_url": "http://127.0.0.1:9/ingest-dlq",
        "aws_endpoint_url": aws,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(json.dumps(description))
    return state, bucket


def test_replicas_prepare_writes_the_file_and_says_what_it_changed(
    half_minute_phone_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "ready.mp4"

    command = ["--json", "prepare", str(half_minute_phone_video), "-o", str(output)]
    code = main([*command, "--model", "phoenix-4"])

    assert code == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["prepared"] is True
    assert answer["output"] == str(output)
    assert (answer["width"], answer["height"], answer["frame_rate"]) == (1080, 1080, "25")
    assert answer["changes"] == ["hevc video -> H.264"]
    assert check_local_video(output, ValidationLimits().for_model("phoenix-4")) is None


def test_replicas_prepare_refuses_what_it_cannot_fix_with_exit_1(
    clip: ClipMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    small = clip("720p-phone.mov", width=1280, height=720, seconds=2, speech=[(0, 1)])

    code = main(["prepare", str(small)])
    text = capsys.readouterr()
    json_code = main(["--json", "prepare", str(small)])
    answer = json.loads(capsys.readouterr().out)

    assert (code, json_code) == (1, 1)
    assert f"replicas: cannot prepare {small}: video is 1280x720" in text.err
    assert answer["prepared"] is False
    assert answer["reason"].startswith("video is 1280x720; Tavus needs at least 1080p")
    assert not default_output(small).exists()


def test_replicas_prepare_usage_errors_exit_2_and_touch_nothing(
    clip: ClipMaker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = clip("720p-phone.mov", width=1280, height=720, seconds=2, speech=[(0, 1)])
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"someone's file")

    missing = main(["prepare", str(tmp_path / "nowhere.mov")])
    exists = main(["prepare", str(source), "-o", str(taken)])
    itself = main(["prepare", str(source), "-o", str(source), "--overwrite"])

    errors = capsys.readouterr().err
    assert (missing, exists, itself) == (2, 2, 2)
    assert "file not found" in errors
    assert f"{taken} exists; pass --overwrite to replace it" in errors
    assert "is the recording itself" in errors
    assert taken.read_bytes() == b"someone's file"


def test_replicas_check_names_prepare_for_a_phone_video(
    clip: ClipMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    phone = clip("phone-70s.mov", codec="hevc", seconds=70, speech=[(0, 35)], stereo=True)

    code = main(["check", str(phone)])
    text = capsys.readouterr().out
    main(["--json", "check", str(phone)])
    [report] = json.loads(capsys.readouterr().out)["reports"]

    assert code == 1
    assert f"  fix: replicas prepare {phone}  (fixes container, video_codec)" in text
    assert report["fix"] == f"replicas prepare {phone}"
    fixable = {f["check"]: f["fixable"] for f in report["findings"] if f["verdict"] == "fail"}
    assert fixable == {CONTAINER: True, VIDEO_CODEC: True}


def test_replicas_check_does_not_name_prepare_when_it_would_refuse(
    clip: ClipMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    small = clip("720p-phone-70s.mov", width=1280, height=720, seconds=70, speech=[(0, 35)])

    main(["--json", "check", str(small)])
    [report] = json.loads(capsys.readouterr().out)["reports"]

    assert report["fix"] is None  # prepare cannot make 1080p out of 720p
    assert {f["check"] for f in report["findings"] if f["fixable"]} == {CONTAINER}


def test_submit_prepare_uploads_the_converted_mp4_under_the_original_name(
    half_minute_phone_video: Path,
    local_target: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state, bucket = local_target
    submit = ["--state-dir", str(state), "--json", "submit", str(half_minute_phone_video)]

    refused = main([*submit, "--model", "phoenix-4"])
    refusal = json.loads(capsys.readouterr().out)["error"]
    options = ["--gaze-correction", "--no-background-green-screen"]
    code = main([*submit, "--model", "phoenix-4", "--prepare", *options])
    answer = json.loads(capsys.readouterr().out)

    assert refused == 1
    assert "a .mov file is not accepted" in refusal
    assert code == 0
    assert answer["keys"] == ["uploads/half-minute.mp4"]
    uploaded = tmp_path / "uploaded.mp4"
    boto3.client("s3").download_file(bucket, "uploads/half-minute.mp4", str(uploaded))
    assert read_back(uploaded)["video"] == ("h264", "avc1")
    assert check_local_video(uploaded, ValidationLimits().for_model("phoenix-4")) is None
    assert not list(half_minute_phone_video.parent.glob("*.partial"))
    # Tavus's training options ride on the object, as the ingest reads them.
    metadata = boto3.client("s3").head_object(Bucket=bucket, Key="uploads/half-minute.mp4")
    assert metadata["Metadata"] == {
        "model-name": "phoenix-4",
        "gaze-correction": "true",
        "background-green-screen": "false",
    }

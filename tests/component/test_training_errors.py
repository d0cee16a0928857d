"""Tavus's training errors read as a person needs them: the kind of failure and what to do.

The messages come from the emulator's catalogue (Tavus's words), never from our own
module, so the classifier is checked against what Tavus says.
"""

from __future__ import annotations

import pytest

from replica_pipeline.rules.states import Status
from replica_pipeline.rules.submission import Submission, SubmissionKind
from replica_pipeline.rules.training_errors import HINTS, KINDS, classify, hint
from replica_pipeline_local.cli.output import describe
from replica_pipeline_local.stack.tavus_training_errors import TRAINING_ERRORS
from tests.harness import Pipeline


@pytest.mark.parametrize(("kind", "message"), TRAINING_ERRORS.items(), ids=list(TRAINING_ERRORS))
def test_each_tavus_training_error_is_recognised_and_has_a_hint(kind: str, message: str) -> None:
    assert classify(message) == kind
    assert hint(kind) == HINTS[kind]


def test_every_kind_we_advise_on_is_one_tavus_can_send() -> None:
    assert set(KINDS) == set(TRAINING_ERRORS)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # the same failures in other words, as other pages or a newer Tavus may put them
        ("Tavus could not find a face in the training video", "face_obstructed"),
        ("The training video has no visible face.", "face_obstructed"),
        ("A second person was detected.", "second_person"),
        ("Multiple people appear in the video", "second_person"),
        ("Your video must be at least 1 minute long.", "video_duration"),
        ("VIDEO IS BELOW 25 FPS", "video_fps"),
        ("The frame rate of the video is too low", "video_fps"),
        ("The file exceeds the 750 MB size limit", "file_size"),
        ("All Replica training and consent video files must be .mp4", "video_format"),
        ("Unsupported codec: please re-encode the video with h.264", "video_codec"),
        ("Consent phrase mismatch", "consent_mismatch"),
        ("We detected a jump cut in the recording", "editing_detected"),
        ("Background noise is too loud", "background_noise"),
        ("The camera is shaky", "excessive_movement"),
        ("Lighting varies across the video", "lighting_change"),
        ("The video is underexposed", "poor_lighting"),
        (
            "There was an issue downloading your training video: the link expires in less "
            "than 24 hours.",
            "download_link",
        ),
    ],
)
def test_other_wordings_of_the_same_failures_are_recognised(message: str, kind: str) -> None:
    assert classify(message) == kind


@pytest.mark.parametrize(
    "message",
    [
        None,
        "",
        "Something went wrong",
        "Tavus reported an error without a message",
        "Tavus rejected the replica: Invalid consent_video_url",
        "uploads/a.mp4 is no longer in the bucket; upload the video again instead of retrying",
        "refusing to pre-sign with temporary credentials: the URL would die with the session, "
        "long before Tavus downloads it",
    ],
)
def test_a_message_no_rule_knows_gets_no_kind_and_no_hint(message: str | None) -> None:
    assert classify(message) is None
    assert hint(classify(message)) is None


def test_an_unknown_kind_gets_no_hint() -> None:
    assert hint("cosmic_rays") is None
    assert hint(None) is None


# -- the status API ---------------------------------------------------------------------------


def seeded(pipeline: Pipeline, status: Status, error_message: str) -> str:
    submission = Submission("sub-1", SubmissionKind.COMBINED, "bucket", "pia", "Pia")
    pipeline.store().create(submission, status, pipeline.clock(), error_message=error_message)
    return submission.submission_id


def read(pipeline: Pipeline, sid: str) -> dict[str, object]:
    status, item = pipeline.request(
        "status_api", "GET", f"/replicas/{sid}", resource="/replicas/{submission_id}"
    )
    assert status == 200, item
    return dict(item)


def test_the_status_api_shows_the_kind_and_hint_beside_tavus_message(pipeline: Pipeline) -> None:
    message = TRAINING_ERRORS["consent_mismatch"]
    sid = seeded(pipeline, Status.ERROR, message)

    item = read(pipeline, sid)
    _, page = pipeline.request("status_api", "GET", "/replicas", resource="/replicas")

    assert (item["status"], item["error_message"]) == ("error", message)
    assert item["error_kind"] == "consent_mismatch"
    assert item["error_hint"] == HINTS["consent_mismatch"]
    assert page["items"] == [item]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (Status.ERROR, "Something went wrong"),
        # a rejection's reason is ours and already says what to change
        (Status.REJECTED, "video is 20 s long; Tavus needs at least 60 s"),
    ],
)
def test_no_advice_is_invented(pipeline: Pipeline, status: Status, message: str) -> None:
    item = read(pipeline, seeded(pipeline, status, message))

    assert item["error_message"] == message
    assert (item["error_kind"], item["error_hint"]) == (None, None)


def test_the_openapi_document_describes_the_advice(pipeline: Pipeline) -> None:
    _, document = pipeline.request("status_api", "GET", "/openapi.json", resource="/openapi.json")

    fields = document["components"]["schemas"]["Replica"]["properties"]
    assert {"error_message", "error_kind", "error_hint"} <= set(fields)


# -- replicas status --------------------------------------------------------------------------


def test_replicas_status_prints_what_to_do_right_after_the_error() -> None:
    item = {
        "submission_id": "sub-1",
        "replica_name": "Pia",
        "status": "error",
        "error_message": TRAINING_ERRORS["video_fps"],
        "error_kind": "video_fps",
        "error_hint": HINTS["video_fps"],
        "updated_at": "2026-01-01T10:00:00.000000Z",
    }

    lines = describe(item).splitlines()

    error = lines.index(f"error       {TRAINING_ERRORS['video_fps']}")
    assert lines[error + 1] == f"what to do  {HINTS['video_fps']}"


def test_replicas_status_says_nothing_more_without_a_hint() -> None:
    item = {"submission_id": "s", "status": "error", "error_message": "boom", "error_hint": None}

    assert "what to do" not in describe(item)

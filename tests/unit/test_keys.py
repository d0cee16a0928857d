"""The S3 key convention and the notification parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replica_pipeline.rules.keys import (
    MalformedNotification,
    ObjectCreated,
    Role,
    classify,
    pair_folder,
    parse_notification,
)

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def with_key(raw_key: str) -> str:
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["key"] = raw_key
    return json.dumps(event)


def test_aws_notification_is_decoded_once_with_its_version() -> None:
    [created] = parse_notification(json.dumps(load_event("s3_object_created.json")))
    assert created.bucket == "replica-uploads"
    assert created.key == "uploads/team a/José García+1.mp4"
    assert created.size == 420996
    assert created.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("uploads/my+video.mp4", "uploads/my video.mp4"),
        ("uploads/50%25+off.mp4", "uploads/50% off.mp4"),
        ("uploads%2Fnested%2Falice%2Ftrain.mp4", "uploads/nested/alice/train.mp4"),
        ("uploads/%E6%9D%B1%E4%BA%AC.mov", "uploads/東京.mov"),
        ("uploads/a%2Bb.mp4", "uploads/a+b.mp4"),
    ],
)
def test_keys_with_spaces_plus_unicode_and_folders_decode(raw: str, decoded: str) -> None:
    [created] = parse_notification(with_key(raw))
    assert created.key == decoded


def test_s3_test_event_is_ignored() -> None:
    assert parse_notification(json.dumps(load_event("s3_test_event.json"))) == []


def test_other_event_types_are_ignored() -> None:
    event = load_event("s3_object_created.json")
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_notification(json.dumps(event)) == []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"Records": "x"}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}',
    ],
)
def test_garbage_messages_are_malformed_not_ignored(body: str) -> None:
    # Malformed messages raise, so they end in the dead-letter queue, not in silence.
    with pytest.raises(MalformedNotification):
        parse_notification(body)


@pytest.mark.parametrize(
    ("key", "name", "role", "extension"),
    [
        ("uploads/alice.mp4", "alice", Role.COMBINED, ".mp4"),
        ("uploads/Alice Smith.MOV", "Alice Smith", Role.COMBINED, ".mov"),
        ("uploads/team/alice.mp4", "team/alice", Role.COMBINED, ".mp4"),
        ("uploads/alice/train.mp4", "alice", Role.TRAINING, ".mp4"),
        ("uploads/alice/Consent.mov", "alice", Role.CONSENT, ".mov"),
        ("uploads/team/alice/train.mp4", "team/alice", Role.TRAINING, ".mp4"),
        ("uploads/train.mp4", "train", Role.COMBINED, ".mp4"),
        ("uploads/notes", "notes", Role.COMBINED, ""),
        ("uploads/clip.tar.gz", "clip.tar", Role.COMBINED, ".gz"),
    ],
)
def test_classify_follows_the_key_convention(
    key: str, name: str, role: Role, extension: str
) -> None:
    drop = classify(key, "uploads/")
    assert drop is not None
    assert (drop.name, drop.role, drop.extension) == (name, role, extension)


@pytest.mark.parametrize("key", ["other/alice.mp4", "uploads/", "uploads/folder/", "uploadsx.mp4"])
def test_keys_outside_uploads_and_folder_markers_are_not_drops(key: str) -> None:
    assert classify(key, "uploads/") is None


def test_both_halves_of_a_pair_live_in_one_folder_whatever_their_case() -> None:
    train = classify("uploads/team/Alice/Train.mp4", "uploads/")
    consent = classify("uploads/team/Alice/CONSENT.MOV", "uploads/")
    assert train is not None
    assert consent is not None
    assert (train.role, consent.role) == (Role.TRAINING, Role.CONSENT)
    assert pair_folder(train, "uploads/") == pair_folder(consent, "uploads/")
    assert pair_folder(train, "uploads/") == "uploads/team/Alice/"


@given(st.text())
def test_any_raw_key_is_either_ignored_or_a_drop_under_uploads(raw_key: str) -> None:
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["key"] = raw_key
    for created in parse_notification(json.dumps(event)):
        drop = classify(created.key, "uploads/")
        if drop is not None:
            assert drop.key.startswith("uploads/")
            assert drop.name


@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_the_parser_never_crashes_with_anything_but_malformed(body: str) -> None:
    try:
        created = parse_notification(body)
    except MalformedNotification:
        return
    assert all(isinstance(record, ObjectCreated) for record in created)

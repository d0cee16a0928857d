"""Property tests: the callback parser and Tavus's vocabulary never crash on any input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replica_pipeline.rules.states import Status
from replica_pipeline.services.callbacks import CallbackRefused, parse_callback
from replica_pipeline.services.tracking import observe, parse_progress

pytestmark = pytest.mark.security

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=2048))
def test_any_bytes_are_parsed_or_refused(body: bytes) -> None:
    try:
        parsed = parse_callback(body)
    except CallbackRefused as refused:
        status_code = refused.status_code
    else:
        assert parsed.replica_id
        return
    assert status_code in (400, 413)


@given(json_values)
def test_any_json_is_parsed_or_refused(value: object) -> None:
    try:
        parse_callback(json.dumps(value).encode())
    except CallbackRefused as refused:
        status_code = refused.status_code
    else:
        return
    assert status_code == 400


@given(st.text(min_size=1, max_size=40), json_values, json_values, json_values)
def test_any_callback_object_maps_onto_a_known_state_or_none(
    replica_id: str, status: object, progress: object, message: object
) -> None:
    body = {
        "replica_id": replica_id,
        "status": status,
        "training_progress": progress,
        "error_message": message,
    }
    try:
        parsed = parse_callback(json.dumps(body).encode())
    except CallbackRefused:
        return
    assert parsed.observation.status in (None, Status.TRAINING, Status.COMPLETED, Status.ERROR)
    if parsed.observation.status is Status.ERROR:
        assert parsed.observation.error_message


@given(json_values)
def test_progress_is_always_none_or_0_to_100(value: object) -> None:
    progress = parse_progress(value)
    assert progress is None or 0 <= progress <= 100


def test_tavus_words_map_onto_our_states() -> None:
    assert observe("ready", None, None).status is Status.COMPLETED
    assert observe("completed", None, None).status is Status.COMPLETED
    assert observe("failed", None, "bad light").error_message == "bad light"
    assert observe("started", "40/100", None).progress == 40
    assert observe(None, "55%", None).progress == 55
    assert observe("mystery", None, None).status is None

"""The state machine: allowed moves, and terminal states that never change."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from replica_pipeline.rules.states import INITIAL, TERMINAL, Status, can_transition, sources_of


def test_the_happy_path_is_allowed() -> None:
    path = [Status.SUBMITTING, Status.TRAINING, Status.TRAINING, Status.COMPLETED]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))


def test_terminal_states_have_no_way_out() -> None:
    for terminal in TERMINAL:
        assert not any(can_transition(terminal, new) for new in Status)


def test_training_cannot_go_back_to_submitting() -> None:
    assert not can_transition(Status.TRAINING, Status.SUBMITTING)
    assert Status.TRAINING not in sources_of(Status.SUBMITTING)


def test_half_pairs_can_time_out_into_rejected() -> None:
    assert can_transition(Status.WAITING_FOR_CONSENT, Status.REJECTED)
    assert can_transition(Status.WAITING_FOR_TRAINING, Status.REJECTED)


@given(st.sampled_from(sorted(INITIAL)), st.lists(st.sampled_from(list(Status)), max_size=30))
def test_no_event_sequence_leaves_a_terminal_state(start: Status, events: list[Status]) -> None:
    current = start
    reached_terminal = current in TERMINAL
    for event in events:
        if can_transition(current, event):
            assert not reached_terminal
            current = event
        reached_terminal = reached_terminal or current in TERMINAL
    if reached_terminal:
        assert current in TERMINAL


def test_a_deep_checked_submission_goes_on_to_tavus_or_stops_there() -> None:
    # checking -> submitting (passed), rejected (failed) or error (unreadable); never back,
    # and never straight to training: only a claimed submission reaches Tavus.
    assert Status.CHECKING in INITIAL
    assert {new for new in Status if can_transition(Status.CHECKING, new)} == {
        Status.SUBMITTING,
        Status.REJECTED,
        Status.ERROR,
    }
    assert Status.CHECKING not in sources_of(Status.TRAINING)
    assert not any(can_transition(status, Status.CHECKING) for status in Status)

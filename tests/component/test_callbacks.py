"""Tavus's callback through API Gateway's proxy event: authenticated, parsed, applied once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from tests.component.support import finish_in_tavus, submitted
from tests.harness import Pipeline


def test_a_ready_callback_completes_the_replica_and_announces_it(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])

    status, body = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert status == 200
    assert body == {
        "submission_id": item["submission_id"],
        "replica_id": item["replica_id"],
        "status": "completed",
        "changed": True,
    }
    after = pipeline.item(item["submission_id"])
    assert after["status"] == "completed"
    assert after["training_progress"] == 100
    [event] = pipeline.status_events()
    assert event["old_status"] == "training"
    assert event["new_status"] == "completed"
    assert event["replica_id"] == item["replica_id"]
    assert event["training_progress"] == 100


@pytest.mark.security
def test_replays_change_nothing_and_announce_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])
    token = pipeline.token_for(item["submission_id"])
    answers = [
        pipeline.post_callback({"replica_id": item["replica_id"], "status": "ready"}, token=token)
        for _ in range(5)
    ]

    assert [status for status, _ in answers] == [200] * 5
    assert [body["changed"] for _, body in answers] == [True, False, False, False, False]
    assert len(pipeline.status_events()) == 1
    after = pipeline.item(item["submission_id"])
    assert [entry.get("status") for entry in after["history"]] == [
        "submitting",
        "training",
        "completed",
    ]


def test_an_error_callback_keeps_tavus_message(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    message = (
        "There was an issue processing your training video. The video provided does not "
        "meet the minimum duration requirement for training"
    )
    finish_in_tavus(pipeline, item["replica_id"], error=message)

    status, _ = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "error", "error_message": message},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert status == 200
    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["error_message"]) == ("error", message)


def test_get_replica_is_the_truth_when_the_callback_is_early(pipeline: Pipeline) -> None:
    item = submitted(pipeline)  # the emulator still says "started"

    status, body = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert status == 200
    assert body["status"] == "training"
    assert pipeline.item(item["submission_id"])["status"] == "training"


def test_the_callback_word_is_used_when_tavus_cannot_be_reached(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    pipeline.emulator.stop()

    status, body = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, body["status"]) == (200, "completed")


def test_progress_moves_forward_only_and_never_after_completion(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    token = pipeline.token_for(item["submission_id"])
    rid = item["replica_id"]

    for progress in ("40/100", "75/100", "50/100"):
        status, _ = pipeline.post_callback(
            {"replica_id": rid, "status": "training", "training_progress": progress}, token=token
        )
        assert status == 200
    assert pipeline.item(item["submission_id"])["training_progress"] == 75

    finish_in_tavus(pipeline, rid)
    pipeline.post_callback({"replica_id": rid, "status": "ready"}, token=token)
    pipeline.post_callback(
        {"replica_id": rid, "status": "training", "training_progress": "80/100"}, token=token
    )

    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["training_progress"]) == ("completed", 100)
    events = pipeline.status_events()
    assert [(e["new_status"], e["training_progress"]) for e in events] == [
        ("training", 40),
        ("training", 75),
        ("completed", 100),
    ]


def test_unknown_words_are_kept_in_history_and_change_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)

    status, body = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "thinking-about-it"},
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, body["changed"]) == (200, False)
    after = pipeline.item(item["submission_id"])
    assert after["status"] == "training"
    assert "thinking-about-it" in after["history"][-1]["note"]
    assert pipeline.status_events() == []


def test_the_event_type_envelope_is_accepted(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])

    status, body = pipeline.post_callback(
        {
            "event_type": "replica.training.completed",
            "properties": {"replica_id": item["replica_id"], "status": "ready"},
        },
        **pipeline.callback_query(item["submission_id"]),
    )

    assert (status, body["status"]) == (200, "completed")


@pytest.mark.security
def test_concurrent_callbacks_leave_a_consistent_item(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])
    token = pipeline.token_for(item["submission_id"])
    rid = item["replica_id"]
    bodies = [{"replica_id": rid, "status": "ready"}] * 3 + [
        {"replica_id": rid, "status": "training", "training_progress": f"{p}/100"}
        for p in (30, 60, 90)
    ]
    answers: list[int] = []
    start = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> None:
        start.wait()
        answers.append(_post_directly(pipeline, body, token))

    threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * len(bodies)
    after = pipeline.item(item["submission_id"])
    assert (after["status"], after["training_progress"]) == ("completed", 100)
    completions = [e for e in pipeline.status_events() if e["new_status"] == "completed"]
    assert len(completions) == 1


def _post_directly(
    pipeline: Pipeline, body: dict[str, Any], token: str, submission: str | None = None
) -> int:
    """The callback service called the way the handler calls it (threads share no handler)."""
    from replica_pipeline.adapters.tavus import TavusClient
    from replica_pipeline.services.callbacks import CallbackDependencies, handle_callback

    settings = pipeline.settings
    key = pipeline.secret(pipeline.resources.callback_hmac_secret_arn).encode()
    api_key = pipeline.secret(pipeline.resources.tavus_api_key_secret_arn)
    deps = CallbackDependencies(
        store=pipeline.store(),
        callback_key=lambda: key,
        tavus=lambda: TavusClient(settings.tavus, api_key),
    )
    handle_callback(token, json.dumps(body).encode(), deps, submission)
    return 200


BAD_CALLBACKS = [
    pytest.param("no-token", None, b"{}", 401, id="no token"),
    pytest.param("forged", "f" * 64, None, 403, id="forged token"),
    pytest.param("garbled", "not-a-token", None, 403, id="malformed token"),
    pytest.param("other", "OTHER", None, 403, id="token of another submission"),
    pytest.param(
        "big", "OWN", b'{"replica_id": "x", "pad": "' + b"a" * 70_000 + b'"}', 413, id="over 64 KiB"
    ),
    pytest.param("text", "OWN", b"replica ready!", 400, id="not JSON"),
    pytest.param("list", "OWN", b'["replica_id"]', 400, id="not an object"),
    pytest.param("nested", "OWN", b"[" * 20_000 + b"]" * 20_000, 400, id="deeply nested"),
    pytest.param("noid", "OWN", b'{"status": "ready"}', 400, id="no replica_id"),
    pytest.param(
        "ctrl",
        "OWN",
        b'{"replica_id": "r\\u0000\\u202e", "status": "ready"}',
        400,
        id="control characters",
    ),
    pytest.param(
        "unknown",
        "OWN",
        b'{"replica_id": "r-nobody", "status": "ready"}',
        404,
        id="unknown replica",
    ),
]


@pytest.mark.security
@pytest.mark.parametrize(("case", "token", "body", "expected"), BAD_CALLBACKS)
def test_bad_callbacks_get_their_status_code_and_write_nothing(
    pipeline: Pipeline, case: str, token: str | None, body: bytes | None, expected: int
) -> None:
    item = submitted(pipeline)
    other = submitted(pipeline, "uploads/other.mp4")
    finish_in_tavus(pipeline, item["replica_id"])
    before = pipeline.items()
    resolved_token = {
        "OWN": pipeline.token_for(item["submission_id"]),
        "OTHER": pipeline.token_for(other["submission_id"]),
    }.get(token or "", token)
    payload = (
        body
        if body is not None
        else json.dumps({"replica_id": item["replica_id"], "status": "ready"}).encode()
    )

    status, answer = pipeline.post_callback(payload, token=resolved_token)

    assert status == expected
    assert set(answer) == {"error"}
    assert pipeline.items() == before
    assert pipeline.status_events() == []


@pytest.mark.security
def test_wrong_content_type_is_still_read_as_json(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    finish_in_tavus(pipeline, item["replica_id"])

    status, _ = pipeline.post_callback(
        {"replica_id": item["replica_id"], "status": "ready"},
        **pipeline.callback_query(item["submission_id"]),
        headers={"Content-Type": "text/plain"},
    )

    assert status == 200


@pytest.mark.security
def test_get_instead_of_post_is_405_and_writes_nothing(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    before = pipeline.items()
    token = pipeline.token_for(item["submission_id"])

    status, answer = pipeline.request(
        "callback", "GET", f"/callbacks/tavus?token={token}", resource="/callbacks/tavus"
    )

    assert (status, answer) == (405, {"error": "use POST"})
    assert pipeline.items() == before


@pytest.mark.security
def test_no_log_line_carries_the_token(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    item = submitted(pipeline)
    token = pipeline.token_for(item["submission_id"])
    capsys.readouterr()

    pipeline.post_callback({"replica_id": item["replica_id"], "status": "training"}, token=token)
    pipeline.post_callback({"replica_id": item["replica_id"]}, token="f" * 64)

    output = capsys.readouterr()
    assert token not in output.out + output.err
    assert "f" * 64 not in output.out + output.err


def test_a_callback_costs_two_reads_and_two_writes(
    pipeline: Pipeline, aws_calls: Counter[str]
) -> None:
    item = submitted(pipeline)
    aws_calls.clear()

    _post_directly(
        pipeline,
        {"replica_id": item["replica_id"], "status": "training", "training_progress": "10/100"},
        pipeline.token_for(item["submission_id"]),
        item["submission_id"],
    )

    dynamodb = {name: n for name, n in aws_calls.items() if name.startswith("dynamodb.")}
    # Read the named item; read it again for its event and write the change with its
    # event in the item's outbox; take the event out once EventBridge has it.
    assert dynamodb == {"dynamodb.GetItem": 2, "dynamodb.UpdateItem": 2}
    assert aws_calls["eventbridge.PutEvents"] == 1


def test_a_percent_encoded_query_is_decoded_as_api_gateway_does(pipeline: Pipeline) -> None:
    item = submitted(pipeline)
    token = pipeline.token_for(item["submission_id"])
    encoded = "".join(f"%{ord(c):02X}" for c in token)
    body = {"replica_id": item["replica_id"], "status": "training", "training_progress": "5/100"}

    status, answer = pipeline.request(
        "callback",
        "POST",
        f"/callbacks/tavus?token={encoded}&note=a+b%26c",
        resource="/callbacks/tavus",
        body=json.dumps(body).encode(),
    )

    assert (status, answer["changed"]) == (200, True)

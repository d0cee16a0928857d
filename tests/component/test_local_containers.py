"""The local stack's ingest containers behave like Lambda's: one process per container,
up to N events at once, one event at a time each, killed and replaced at the timeout;
and the SQS pump deletes exactly what succeeded, returning a failed invocation's batch.

The containers run ``tests.component.fake_handlers`` (see there for what it answers).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import boto3
import pytest

from replica_pipeline_local.stack.lambda_runtime import (
    ContainerPool,
    FunctionError,
    FunctionTimeout,
)
from replica_pipeline_local.stack.sqs_pump import SqsPump

FAKE_HANDLER = "tests.component.fake_handlers"


class MakePool(Protocol):
    def __call__(
        self, size: int, timeout_seconds: float = 30.0, handler: str = FAKE_HANDLER
    ) -> ContainerPool: ...


@pytest.fixture
def make_pool() -> Iterator[MakePool]:
    """Pools of containers running the fake handler, all closed after the test."""
    pools: list[ContainerPool] = []

    def make(
        size: int, timeout_seconds: float = 30.0, handler: str = FAKE_HANDLER
    ) -> ContainerPool:
        pool = ContainerPool(
            size, handler=handler, function_name="fake", timeout_seconds=timeout_seconds
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def invoke_all(pool: ContainerPool, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(len(events)) as executor:
        return list(executor.map(pool.invoke, events))


def pollers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sqs-pump")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_n_events_at_once_run_at_the_same_time_on_n_processes(make_pool: MakePool) -> None:
    # given four warm containers
    pool = make_pool(4)
    warm = pool.warm()

    # when four events that each take half a second arrive together
    answers = invoke_all(pool, [{"sleep": 0.5}] * 4)

    # then each ran in its own container process, all four at the same time
    pids = {answer["pid"] for answer in answers}
    assert pids == set(warm)
    assert len(pids) == 4
    assert os.getpid() not in pids
    assert max(a["started"] for a in answers) < min(a["ended"] for a in answers)


def test_a_container_runs_one_event_at_a_time_and_imports_its_handler_once(
    make_pool: MakePool,
) -> None:
    # given two containers and six events arriving together
    pool = make_pool(2)

    answers = invoke_all(pool, [{"sleep": 0.2}] * 6)

    # then no container ran two events at once: the others waited for an idle one
    by_pid: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for answer in answers:
        by_pid[answer["pid"]].append(answer)
    assert 1 <= len(by_pid) <= 2
    for runs in by_pid.values():
        runs.sort(key=lambda run: run["started"])
        assert all(a["ended"] <= b["started"] for a, b in itertools.pairwise(runs))
        assert {run["most_running"] for run in runs} == {1}
        assert len({run["imported_at"] for run in runs}) == 1  # one cold start per container


def test_the_context_counts_down_from_the_function_timeout(make_pool: MakePool) -> None:
    pool = make_pool(1, timeout_seconds=7)

    answer = pool.invoke({})

    assert answer["function_name"] == "fake"
    assert 6000 < answer["remaining_ms"] <= 7000


def test_a_handler_past_its_timeout_is_killed_and_the_next_event_gets_a_fresh_container(
    make_pool: MakePool,
) -> None:
    # given a container that has answered once
    pool = make_pool(1, timeout_seconds=0.5)
    first = pool.invoke({})["pid"]

    # when an event outlives the function's timeout
    started = time.monotonic()
    with pytest.raises(FunctionTimeout, match=r"0\.5 s"):
        pool.invoke({"sleep": 30})

    # then its container was killed at the timeout, not when the handler finished
    assert time.monotonic() - started < 10
    assert not alive(first)
    # and the next event runs in a fresh container (a new cold start)
    second = pool.invoke({})
    assert second["pid"] != first
    assert alive(second["pid"])


def test_a_handler_that_raises_is_a_function_error_and_its_container_stays(
    make_pool: MakePool,
) -> None:
    pool = make_pool(1)
    before = pool.invoke({})["pid"]

    with pytest.raises(FunctionError, match="RuntimeError: boom"):
        pool.invoke({"raise": "boom"})

    # Lambda keeps the environment after a function error; so do we
    assert pool.invoke({})["pid"] == before


def test_a_handler_that_cannot_be_imported_is_a_function_error(make_pool: MakePool) -> None:
    pool = make_pool(1, handler="tests.component.no_such_handler")

    with pytest.raises(FunctionError, match="ModuleNotFoundError"):
        pool.invoke({})


def test_closing_the_pool_stops_every_container(make_pool: MakePool) -> None:
    pool = make_pool(2)
    pids = pool.warm()

    pool.close()

    assert not any(alive(pid) for pid in pids)
    with pytest.raises(FunctionError, match="stopped"):
        pool.invoke({})


# -- the pump ----------------------------------------------------------------------


@pytest.fixture
def queue(aws: str) -> tuple[Any, str, str]:
    sqs = boto3.client("sqs", endpoint_url=aws)
    url = sqs.create_queue(QueueName="ingest", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def in_flight(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_the_pump_deletes_exactly_the_records_that_succeeded(
    make_pool: MakePool, queue: tuple[Any, str, str]
) -> None:
    sqs, url, arn = queue
    for body in ("ok-1", "fail-1", "ok-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    pump = SqsPump(sqs, url, arn, "us-east-1", make_pool(1))

    handled = pump.pump_once()

    assert handled == 3
    assert in_flight(sqs, url) == 1  # the failed record, back after the visibility timeout


def test_a_function_error_returns_the_whole_batch(
    make_pool: MakePool, queue: tuple[Any, str, str]
) -> None:
    sqs, url, arn = queue
    for body in ("ok-1", "crash"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    pump = SqsPump(sqs, url, arn, "us-east-1", make_pool(1))

    handled = pump.pump_once()

    assert handled == 2
    assert in_flight(sqs, url) == 2


def test_the_pump_polls_with_one_thread_per_container_and_stops_them(
    make_pool: MakePool, queue: tuple[Any, str, str]
) -> None:
    sqs, url, arn = queue
    pool = make_pool(3)
    pids = pool.warm()
    for n in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=f"ok-{n}")

    pump = SqsPump(sqs, url, arn, "us-east-1", pool).start()
    assert len(pollers()) == 3
    deadline = time.monotonic() + 10
    while in_flight(sqs, url) and time.monotonic() < deadline:
        time.sleep(0.1)
    pump.stop()

    assert in_flight(sqs, url) == 0
    assert pollers() == []
    assert not any(alive(pid) for pid in pids)

"""Fixtures for component tests: the handlers wired to moto's server and the Tavus emulator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.harness import Pipeline, make_pipeline


@pytest.fixture
def pipeline(aws: str) -> Iterator[Pipeline]:
    yield from make_pipeline(aws)


@pytest.fixture
def aws_calls() -> Iterator[Counter[str]]:
    """Every AWS operation made through boto3's default session while the test runs."""
    calls: Counter[str] = Counter()

    def count(event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".")
        calls[f"{service}.{operation}"] += 1

    events = boto3._get_default_session().events
    events.register("before-call.*.*", count, unique_id="count-calls")
    yield calls
    events.unregister("before-call.*.*", unique_id="count-calls")

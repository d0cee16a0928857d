from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.clips import ClipMaker, make_clip
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


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    """Make a 1080p25 clip once per session: same name, same clip (names say what is in it)."""
    folder = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def make(name: str, **options: Any) -> Path:
        if name not in made:
            settings: dict[str, Any] = {"width": 1920, "height": 1080, "fps": 25, **options}
            made[name] = make_clip(folder / name, **settings)
        return made[name]

    return make

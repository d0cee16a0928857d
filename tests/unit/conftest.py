from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Pipeline, make_pipeline


@pytest.fixture
def pipeline(aws: str) -> Iterator[Pipeline]:
    yield from make_pipeline(aws)

"""Shared fixtures: one moto server per session, wiped per test; clips made once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from replica_pipeline_local.stack.moto_server import start_moto_server
from tests.clips import ClipMaker, make_clip

# Before anything imports boto3: credentials that cannot reach AWS, and moto's endpoint.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_SESSION_TOKEN", None)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto_server()
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = previous
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str) -> str:
    """A wiped moto: every test starts with no AWS resources at all."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return moto_endpoint


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


@pytest.fixture(scope="session")
def two_people_clip(clip: ClipMaker) -> Path:
    """75 s of 1080p25, talking then still, with two people in view: it passes every check
    of the header and the sound, and fails the pictures' second_face (for the deep check)."""
    from tests import faces  # OpenCV: only the sessions that need the clip load it

    return clip(
        "two-people.mp4",
        seconds=75,
        speech=[(0, 40)],
        picture=faces.two_people(1920, 1080)(0),
        small_file=True,
        key_frame_seconds=2,
    )

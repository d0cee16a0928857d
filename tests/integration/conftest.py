"""One local stack per test session, started as `make up` starts it, in its own state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from replica_pipeline_local.stack_description import FILE_NAME, LocalStackDescription
from tests.integration.edges import Edges

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    yield from local_stack(tmp_path_factory.mktemp("local-stack"))


def local_stack(
    state_dir: Path, *settings: str, flags: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """A local stack in ``state_dir`` until the generator is closed; ``settings`` are
    ``NAME=VALUE`` handler settings on top of the suite's (e.g. TAVUS_API_VOCABULARY=faces),
    ``flags`` more of the stack's own options (e.g. --deep-check)."""
    command = [sys.executable, "-m", "replica_pipeline_local.stack"]
    options = [
        "--state-dir",
        str(state_dir),
        # a fast clock, a quick reconciler and short retries keep the suite short
        "--training-seconds=2",
        "--reconcile-every=2",
        "--visibility-timeout=3",
        # short Tavus timeouts and backoff, so timeouts and outages play out in seconds
        "--setting=TAVUS_READ_TIMEOUT_SECONDS=2",
        "--setting=TAVUS_BACKOFF_SECONDS=0.05",
        # a create whose outcome is unknown is looked up in Tavus 2 s later
        "--setting=CREATE_SETTLE_SECONDS=2",
        *(f"--setting={setting}" for setting in settings),
        *flags,
    ]
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    started = subprocess.run(
        [*command, "up", *options], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stdout + started.stderr
    # Through the typed reader: a stack.json it cannot read fails here, before any test.
    description = LocalStackDescription.load(state_dir / FILE_NAME)
    # The tests read the stack's keys as the file has them, and where its state lives.
    yield {**description.as_dict(), "state_dir": str(state_dir)}
    subprocess.run(
        [*command, "down", "--state-dir", str(state_dir)], cwd=ROOT, env=environment, check=False
    )


@pytest.fixture
def edges(stack: dict[str, str]) -> Iterator[Edges]:
    edges = Edges(stack)
    edges.reset_faults()
    yield edges
    edges.reset_faults()

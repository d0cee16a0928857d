"""A local stack for one benchmark, started as `make up` starts it, in its own state dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import requests

from bench import ROOT
from replica_pipeline_local.stack_description import FILE_NAME, LocalStackDescription

START_TIMEOUT_SECONDS = 150
T = TypeVar("T")


@dataclass(frozen=True)
class LocalStack:
    description: LocalStackDescription  # stack.json
    lambda_env: dict[str, str]  # lambda.env: the handlers' environment
    state_dir: Path

    # Keys `make up` always writes, though the CLI's reader leaves them optional.
    @property
    def pid(self) -> int:
        return _written(self.description.pid, "pid")

    @property
    def callback_url(self) -> str:
        return _written(self.description.callback_url, "callback_url")

    @property
    def events_queue_url(self) -> str:
        return _written(self.description.events_queue_url, "events_queue_url")

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=self.description.aws_access_key_id,
            aws_secret_access_key=self.description.aws_secret_access_key,
            region_name=self.description.region,
        )

    def client(self, service: str) -> Any:
        return self.session().client(  # type: ignore[call-overload]
            service, endpoint_url=self.description.aws_endpoint_url
        )

    def table(self) -> Any:
        dynamodb = self.session().resource(
            "dynamodb", endpoint_url=self.description.aws_endpoint_url
        )
        return dynamodb.Table(self.description.table)

    def emulator(self, path: str) -> Any:
        """GET one of the Tavus emulator's control endpoints (``/_emulator/...``)."""
        response = requests.get(f"{self.description.tavus_url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def set_emulator_faults(self, faults: dict[str, Any]) -> Any:
        """Replace the Tavus emulator's faults (``POST /_emulator/faults``); the faults it took."""
        response = requests.post(
            f"{self.description.tavus_url}/_emulator/faults", json=faults, timeout=30
        )
        response.raise_for_status()
        return response.json()


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _written(value: T | None, key: str) -> T:
    if value is None:
        raise RuntimeError(f"stack.json has no {key}; was it written by `make up`?")
    return value


@contextmanager
def local_stack(
    *,
    training_seconds: float,
    reconcile_every: float,
    visibility_timeout: int,
    settings: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
) -> Iterator[LocalStack]:
    """``python -m replica_pipeline_local.stack up`` in a temporary state dir, then ``down``.

    ``settings`` override handler settings (``--setting=NAME=VALUE``); ``options`` are
    more of the stack's own (``--deep-check``).
    """
    state_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    command = [sys.executable, "-m", "replica_pipeline_local.stack"]
    environment = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    try:
        started = subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [
                *command,
                "up",
                "--state-dir",
                str(state_dir),
                f"--training-seconds={training_seconds}",
                f"--reconcile-every={reconcile_every}",
                f"--visibility-timeout={visibility_timeout}",
                *(f"--setting={name}={value}" for name, value in (settings or {}).items()),
                *options,
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
        if started.returncode != 0:
            raise RuntimeError(f"the local stack did not start: {started.stdout}{started.stderr}")
        description = LocalStackDescription.load(state_dir / FILE_NAME)
        yield LocalStack(description, read_env_file(state_dir / "lambda.env"), state_dir)
    finally:
        subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [*command, "down", "--state-dir", str(state_dir)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(state_dir, ignore_errors=True)

"""The local stack: the whole pipeline on loopback, with no AWS account and no Tavus key.

``python -m local.stack serve`` runs, in one process: moto's server (S3, SQS,
DynamoDB, Secrets Manager, EventBridge, IAM) bootstrapped like the CDK stack,
the Tavus emulator, an API Gateway adapter for the callback and status
handlers, an SQS pump for the ingest handler, and the reconciler every 10 s.
``up`` starts that in the background and returns once it answers; ``down``
stops it. Everything it writes lives in the state directory (``.local/``):
``stack.json`` (the endpoints), ``lambda.env`` (the handlers' environment),
``stack.pid`` and ``logs/stack.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

DEFAULT_STATE_DIR = Path(".local")
REGION = "us-east-1"
# moto accepts any credentials; these only have to look like credentials.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local-secret"  # nosec B105 # noqa: S105 - not a secret: moto ignores it
LOCAL_TAVUS_KEY = "local-tavus-key"
START_TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class StackFiles:
    state_dir: Path

    @property
    def stack_json(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def lambda_env(self) -> Path:
        return self.state_dir / "lambda.env"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "stack.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / "stack.log"


def serve(
    files: StackFiles,
    *,
    training_seconds: float,
    reconcile_every: float,
    visibility_timeout: int,
    settings: dict[str, str] | None = None,
) -> None:
    """Run the stack in this process until SIGTERM or SIGINT."""
    from local.moto_server import start_moto_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING if noisy != "werkzeug" else logging.ERROR)
    os.environ.update(
        AWS_ACCESS_KEY_ID=LOCAL_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=LOCAL_SECRET_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(variable, None)

    moto, endpoint = start_moto_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint

    # Imported only now: they must see the environment above.
    import boto3

    from local.api_adapter import ApiAdapter
    from local.bootstrap import bootstrap, lambda_environment
    from local.lambda_runtime import LocalFunctions
    from local.sqs_pump import SqsPump
    from local.tavus_emulator import TavusEmulator

    emulator = TavusEmulator(LOCAL_TAVUS_KEY, training_seconds=training_seconds).start()
    resources = bootstrap(
        endpoint_url=endpoint,
        region=REGION,
        tavus_api_key=LOCAL_TAVUS_KEY,
        visibility_timeout_seconds=visibility_timeout,
    )
    functions = LocalFunctions()
    adapter = ApiAdapter(functions)
    environment = lambda_environment(
        resources,
        tavus_url=emulator.url,
        callback_base_url=f"{adapter.url}/callbacks/tavus",
        # A claim's lease must outlive an invocation; the pump gives ingest 120 s.
        **{"SUBMIT_LEASE_SECONDS": "150", **(settings or {})},
    )
    os.environ.update(environment)
    pump = SqsPump(boto3.client("sqs"), resources.queue_url, resources.queue_arn, REGION, functions)
    stopping = threading.Event()

    def reconcile_on_schedule() -> None:
        while not stopping.wait(reconcile_every):
            try:
                functions.invoke("reconciler", {"source": "local.schedule"}, timeout_seconds=300)
            except Exception:
                logging.getLogger("local.reconciler").exception("reconciler run failed")

    threads = [
        threading.Thread(target=adapter.serve_forever, name="api", daemon=True),
        threading.Thread(target=pump.run, name="sqs-pump", daemon=True),
        threading.Thread(target=reconcile_on_schedule, name="reconciler", daemon=True),
    ]
    for thread in threads:
        thread.start()

    description = {
        "aws_endpoint_url": endpoint,
        "region": REGION,
        "aws_access_key_id": LOCAL_ACCESS_KEY,
        "aws_secret_access_key": LOCAL_SECRET_KEY,
        "bucket": resources.bucket,
        "upload_prefix": resources.upload_prefix,
        "table": resources.table,
        "api_url": adapter.url,
        "callback_url": f"{adapter.url}/callbacks/tavus",
        "tavus_url": emulator.url,
        "tavus_api_key": LOCAL_TAVUS_KEY,
        "event_bus": resources.event_bus,
        "queue_url": resources.queue_url,
        "dlq_url": resources.dlq_url,
        "events_queue_url": resources.events_queue_url,
        "pid": os.getpid(),
    }
    files.lambda_env.write_text(
        "".join(
            f"{key}={value}\n"
            for key, value in {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
                **environment,
            }.items()
        )
    )
    # Written last and atomically: its presence means the stack answers.
    temporary = files.stack_json.with_suffix(".tmp")
    temporary.write_text(json.dumps(description, indent=2) + "\n")
    temporary.replace(files.stack_json)
    endpoints = {k: v for k, v in description.items() if k.endswith(("_url", "bucket", "table"))}
    logging.getLogger("local.stack").info("local stack ready: %s", json.dumps(endpoints))

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()
    pump.stop()
    adapter.stop()
    emulator.stop()
    moto.stop()
    files.stack_json.unlink(missing_ok=True)


def running_stack(files: StackFiles) -> dict[str, Any] | None:
    """The description of a live stack in this state directory, or None."""
    try:
        description: dict[str, Any] = json.loads(files.stack_json.read_text())
        os.kill(int(description["pid"]), 0)
        requests.get(f"{description['api_url']}/openapi.json", timeout=3).raise_for_status()
    except (OSError, ValueError, KeyError, requests.RequestException):
        return None
    return description


def up(files: StackFiles, extra_args: list[str]) -> int:
    current = running_stack(files)
    if current:
        print(f"The local stack is already running (pid {current['pid']}): {files.stack_json}")
        return 0
    files.log_file.parent.mkdir(parents=True, exist_ok=True)
    files.stack_json.unlink(missing_ok=True)
    with files.log_file.open("ab") as log:
        process = subprocess.Popen(  # nosec B603 # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "local.stack",
                "serve",
                "--state-dir",
                str(files.state_dir),
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make up`, holds none of its pipes
        )
    files.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"The local stack failed to start; see {files.log_file}:", file=sys.stderr)
            print(_tail(files.log_file), file=sys.stderr)
            return 1
        description = running_stack(files)
        if description:
            print(f"Local stack up (pid {process.pid}); endpoints in {files.stack_json}")
            print(f"  status API   {description['api_url']}/replicas")
            print(f"  uploads      s3://{description['bucket']}/{description['upload_prefix']}")
            print(f"  AWS (moto)   {description['aws_endpoint_url']}")
            print(f"  Tavus (emu)  {description['tavus_url']}")
            print(f"  logs         {files.log_file}")
            return 0
        time.sleep(0.2)
    process.terminate()
    print(f"The local stack did not answer within {START_TIMEOUT_SECONDS} s; see {files.log_file}")
    return 1


def down(files: StackFiles) -> int:
    pid = _pid(files)
    if pid is None:
        print("No local stack is running.")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    else:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    files.pid_file.unlink(missing_ok=True)
    files.stack_json.unlink(missing_ok=True)
    print(f"Local stack stopped (pid {pid}).")
    return 0


def _pid(files: StackFiles) -> int | None:
    for source in (files.pid_file, files.stack_json):
        try:
            text = source.read_text()
            pid = int(json.loads(text)["pid"]) if source.suffix == ".json" else int(text.strip())
        except (OSError, ValueError, KeyError):
            continue
        if _alive(pid):
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A zombie child of ours still "exists"; it is not running.
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") == -1
    except OSError:
        return True


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["serve", "up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--training-seconds", type=float, default=20.0)
    parser.add_argument("--reconcile-every", type=float, default=10.0)
    parser.add_argument("--visibility-timeout", type=int, default=10)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a handler setting, e.g. TAVUS_READ_TIMEOUT_SECONDS=2",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting if "=" in item)
    files = StackFiles(args.state_dir.resolve())
    files.state_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "serve":
        serve(
            files,
            training_seconds=args.training_seconds,
            reconcile_every=args.reconcile_every,
            visibility_timeout=args.visibility_timeout,
            settings=settings,
        )
    elif args.command == "up":
        extra = [
            f"--training-seconds={args.training_seconds}",
            f"--reconcile-every={args.reconcile_every}",
            f"--visibility-timeout={args.visibility_timeout}",
            *(f"--setting={name}={value}" for name, value in settings.items()),
        ]
        sys.exit(up(files, extra))
    elif args.command == "down":
        sys.exit(down(files))
    else:
        description = running_stack(files)
        print(json.dumps(description, indent=2) if description else "No local stack is running.")
        sys.exit(0 if description else 1)


if __name__ == "__main__":
    main()

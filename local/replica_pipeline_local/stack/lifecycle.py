"""The local stack: the whole pipeline on loopback, with no AWS account and no Tavus key.

``python -m replica_pipeline_local.stack serve`` runs moto's server (S3, SQS, DynamoDB, Secrets
Manager, EventBridge, IAM) bootstrapped like the CDK stack, the Tavus emulator,
an API Gateway adapter for the callback and status handlers, an SQS pump that
feeds the ingest handler with the concurrency it has in AWS (one process per
container), and the reconciler every 10 s. With ``TAVUS_API_URL`` and
``TAVUS_API_KEY`` set, it runs against that Tavus instead of the emulator.
``--setting SIGNER=cloudfront`` signs Tavus's download URLs as the ``cloudfront``
signer does in AWS, served by a loopback stand-in of the distribution.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from replica_pipeline.contracts.routes import TAVUS_CALLBACK
from replica_pipeline_local.stack_description import (
    CLOUDFRONT_SIGNER,
    TAVUS_EMULATOR,
    TAVUS_EXTERNAL,
    LocalStackDescription,
)
from replica_pipeline_local.stack_description import FILE_NAME as STACK_JSON

DEFAULT_STATE_DIR = Path(".local")
# The CDK app's settings; the local stack reads ingest_max_concurrency from its context.
CDK_JSON = Path(__file__).resolve().parents[3] / "cdk.json"
REGION = "us-east-1"
# moto accepts any credentials; these only have to look like credentials.
LOCAL_ACCESS_KEY = "local"
LOCAL_SECRET_KEY = "local-secret"  # nosec B105 # noqa: S105 - not a secret: moto ignores it
LOCAL_TAVUS_KEY = "local-tavus-key"
START_TIMEOUT_SECONDS = 90
# Set both to run the stack against that Tavus (the real one included) instead of the emulator.
TAVUS_URL_VARIABLE = "TAVUS_API_URL"
TAVUS_KEY_VARIABLE = "TAVUS_API_KEY"


class StackOptionError(ValueError):
    """A bad Tavus choice or ingest concurrency; the message names what to fix."""


@dataclass(frozen=True)
class ExternalTavus:
    """A Tavus that is not the emulator: its base URL and API key."""

    url: str
    api_key: str = field(repr=False)


def external_tavus(environ: Mapping[str, str]) -> ExternalTavus | None:
    """The Tavus named by TAVUS_API_URL and TAVUS_API_KEY, or None (the emulator)."""
    url = environ.get(TAVUS_URL_VARIABLE, "").strip()
    key = environ.get(TAVUS_KEY_VARIABLE, "").strip()
    if not url and not key:
        return None
    if not key:
        raise StackOptionError(
            f"{TAVUS_URL_VARIABLE} is set but {TAVUS_KEY_VARIABLE} is not: set both to run "
            "against that Tavus, or neither for the emulator"
        )
    if not url:
        raise StackOptionError(
            f"{TAVUS_KEY_VARIABLE} is set but {TAVUS_URL_VARIABLE} is not: set both (for the "
            "real Tavus, TAVUS_API_URL=https://tavusapi.com), or neither for the emulator"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StackOptionError(
            f"{TAVUS_URL_VARIABLE} must be an http(s) URL such as https://tavusapi.com, not {url!r}"
        )
    return ExternalTavus(url.rstrip("/"), key)


def cdk_ingest_concurrency(cdk_json: Path = CDK_JSON) -> int:
    """``ingest_max_concurrency`` from cdk.json's context: what the SQS event source allows."""
    value = _cdk_setting(cdk_json, "ingest_max_concurrency", "pass --ingest-concurrency N")
    return _concurrency(value, f"ingest_max_concurrency in {cdk_json}")


def cdk_deep_check(cdk_json: Path = CDK_JSON) -> bool:
    """``deep_check`` from cdk.json's context (false when absent): the stack runs it too."""
    value = _cdk_setting(
        cdk_json, "deep_check", "pass --deep-check or --no-deep-check", default=False
    )
    if not isinstance(value, bool):
        raise StackOptionError(f"deep_check in {cdk_json} must be true or false, not {value!r}")
    return value


def _cdk_setting(cdk_json: Path, name: str, fix: str, *, default: Any = None) -> Any:
    """``name`` from cdk.json's context (``default`` when absent, if given); a StackOptionError
    that says how to do without the file when it cannot be read."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
        return context[name] if default is None else context.get(name, default)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise StackOptionError(f"cannot read {name} from {cdk_json} ({error}); {fix}") from error


def _check_signer(settings: Mapping[str, str]) -> None:
    from replica_pipeline.config import SIGNER, SIGNERS

    signer = settings.get(SIGNER, "").strip().lower()
    if signer and signer not in SIGNERS:
        raise StackOptionError(f"--setting {SIGNER}={signer} must be one of " + ", ".join(SIGNERS))


def _concurrency(value: Any, source: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1 or str(number) != str(value).strip():
        raise StackOptionError(f"{source} must be a whole number of 1 or more, not {value!r}")
    return number


@dataclass(frozen=True)
class StackFiles:
    state_dir: Path

    @property
    def stack_json(self) -> Path:
        return self.state_dir / STACK_JSON

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
    ingest_concurrency: int,
    tavus: ExternalTavus | None = None,
    settings: dict[str, str] | None = None,
    deep_check: bool = False,
) -> None:
    """Run the stack in this process until SIGTERM or SIGINT.

    ``tavus`` None runs the Tavus emulator; otherwise the handlers call that Tavus.
    ``deep_check`` adds the deep-check queue and function, as the deep_check setting does.
    """
    from replica_pipeline_local.stack.lambda_runtime import configure_logging
    from replica_pipeline_local.stack.moto_server import start_moto_server

    configure_logging()
    # The key goes into the Tavus key secret, as in AWS; the handlers never see it as a variable.
    os.environ.pop(TAVUS_KEY_VARIABLE, None)
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

    from replica_pipeline.config import (
        DEEP_CHECK_TIMEOUT_SECONDS,
        DEFAULT_SIGNER,
        INGEST_TIMEOUT_SECONDS,
        SIGNER,
    )
    from replica_pipeline_local.stack.api_gateway import ApiAdapter
    from replica_pipeline_local.stack.bootstrap import bootstrap, lambda_environment
    from replica_pipeline_local.stack.lambda_runtime import (
        DEEP_CHECK_HANDLER,
        ContainerPool,
        LocalFunctions,
    )
    from replica_pipeline_local.stack.sqs_pump import SqsPump
    from replica_pipeline_local.stack.tavus_emulator import TavusEmulator

    emulator: TavusEmulator | None = None
    if tavus is None:
        emulator = TavusEmulator(LOCAL_TAVUS_KEY, training_seconds=training_seconds).start()
        tavus_url, tavus_api_key = emulator.url, LOCAL_TAVUS_KEY
    else:
        tavus_url, tavus_api_key = tavus.url, tavus.api_key
        logging.getLogger("replica_pipeline_local.stack").info(
            "Tavus: %s (external: statuses move through the reconciler's polling)", tavus_url
        )
    resources = bootstrap(
        endpoint_url=endpoint,
        region=REGION,
        tavus_api_key=tavus_api_key,
        visibility_timeout_seconds=visibility_timeout,
        signer=(settings or {}).get(SIGNER, "").strip().lower() or DEFAULT_SIGNER,
        deep_check=deep_check,
    )
    edge = None
    if resources.cloudfront_key_pair_id and resources.cloudfront_public_key_pem:
        from replica_pipeline_local.stack.cloudfront_edge import CloudFrontEdge

        # The distribution in front of the bucket: verifies each signed URL, then reads S3.
        edge = CloudFrontEdge(
            boto3.client("s3"),
            resources.bucket,
            {resources.cloudfront_key_pair_id: resources.cloudfront_public_key_pem},
        ).start()
    functions = LocalFunctions()
    adapter = ApiAdapter(functions)
    environment = lambda_environment(
        resources,
        tavus_url=tavus_url,
        callback_base_url=f"{adapter.url}{TAVUS_CALLBACK.path}",
        cloudfront_url=edge.url if edge else None,
        # A claim's lease must outlive an ingest invocation (killed at its timeout).
        **{"SUBMIT_LEASE_SECONDS": str(INGEST_TIMEOUT_SECONDS + 30), **(settings or {})},
    )
    os.environ.update(environment)
    # Cold-start the in-process functions before any ingest container competes for the CPU:
    # `up` waits for the status API's first answer.
    functions.load("status_api", "callback", "reconciler")
    # Ingest containers are spawned processes; they inherit os.environ as it is now, and
    # start lazily (a cold start on the first event that needs one), as Lambda's do.
    pump = SqsPump(
        boto3.client("sqs"),
        resources.queue_url,
        resources.queue_arn,
        REGION,
        ContainerPool(ingest_concurrency),
    )
    pumps = [pump]
    if resources.deep_check_queue_url and resources.deep_check_queue_arn:
        # One record per invocation, as the deep-check function's event source in AWS.
        pumps.append(
            SqsPump(
                boto3.client("sqs"),
                resources.deep_check_queue_url,
                resources.deep_check_queue_arn,
                REGION,
                ContainerPool(
                    1,
                    handler=DEEP_CHECK_HANDLER,
                    function_name="replica-pipeline-deep-check",
                    timeout_seconds=DEEP_CHECK_TIMEOUT_SECONDS,
                ),
                batch_size=1,
            )
        )
    stopping = threading.Event()

    def reconcile_on_schedule() -> None:
        while not stopping.wait(reconcile_every):
            try:
                functions.invoke("reconciler", {"source": "local.schedule"}, timeout_seconds=300)
            except Exception:
                logging.getLogger("local.reconciler").exception("reconciler run failed")

    threads = [
        threading.Thread(target=adapter.serve_forever, name="api", daemon=True),
        threading.Thread(target=reconcile_on_schedule, name="reconciler", daemon=True),
    ]
    for thread in threads:
        thread.start()
    for each in pumps:
        each.start()

    description = LocalStackDescription(
        aws_endpoint_url=endpoint,
        region=REGION,
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        bucket=resources.bucket,
        upload_prefix=resources.upload_prefix,
        table=resources.table,
        api_url=adapter.url,
        callback_url=f"{adapter.url}{TAVUS_CALLBACK.path}",
        tavus_url=tavus_url,
        tavus_api_key=tavus_api_key,
        tavus=TAVUS_EMULATOR if emulator else TAVUS_EXTERNAL,
        ingest_concurrency=ingest_concurrency,
        reconcile_every_seconds=reconcile_every,
        event_bus=resources.event_bus,
        queue_url=resources.queue_url,
        dlq_url=resources.dlq_url,
        events_queue_url=resources.events_queue_url,
        pid=os.getpid(),
        # Only with SIGNER=cloudfront: the default stack.json keeps its documented keys.
        signer=CLOUDFRONT_SIGNER if edge else None,
        cloudfront_url=edge.url if edge else None,
        deep_check_queue_url=resources.deep_check_queue_url,
        deep_check_dlq_url=resources.deep_check_dlq_url,
    )
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
    temporary.write_text(description.to_json())
    temporary.replace(files.stack_json)
    endpoints = {
        k: v for k, v in description.as_dict().items() if k.endswith(("_url", "bucket", "table"))
    }
    logging.getLogger("replica_pipeline_local.stack").info(
        "local stack ready: %s", json.dumps(endpoints)
    )

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()
    for each in pumps:
        each.stop()
    adapter.stop()
    if emulator:
        emulator.stop()
    if edge:
        edge.stop()
    moto.stop()
    files.stack_json.unlink(missing_ok=True)


def running_stack(files: StackFiles) -> LocalStackDescription | None:
    """The description of a live stack in this state directory, or None."""
    try:
        description = LocalStackDescription.load(files.stack_json)
        if description.pid is None:
            return None
        os.kill(int(description.pid), 0)
        requests.get(f"{description.api_url}/openapi.json", timeout=3).raise_for_status()
    except (OSError, ValueError, KeyError, requests.RequestException):
        return None
    return description


def up(files: StackFiles, extra_args: list[str], environ: Mapping[str, str] | None = None) -> int:
    """Start the stack in the background and return once it answers (0), or say why not.

    ``environ`` (default: this process's) chooses the Tavus: TAVUS_API_URL and
    TAVUS_API_KEY both set for that Tavus, neither for the emulator.
    """
    environ = os.environ if environ is None else environ
    try:
        tavus = external_tavus(environ)
    except StackOptionError as error:
        print(f"The local stack cannot start: {error}", file=sys.stderr)
        return 2
    current = running_stack(files)
    if current:
        if tavus and (current.tavus_url, current.tavus_api_key) != (tavus.url, tavus.api_key):
            print(
                f"The local stack is already running (pid {current.pid}) against "
                f"{_tavus_label(current)} {current.tavus_url}, not {tavus.url}; "
                "run `make down` first.",
                file=sys.stderr,
            )
            return 1
        print(f"The local stack is already running (pid {current.pid}): {files.stack_json}")
        print(_summary_line(_tavus_label(current), current.tavus_url))
        return 0
    files.log_file.parent.mkdir(parents=True, exist_ok=True)
    files.stack_json.unlink(missing_ok=True)
    # The Tavus choice travels explicitly: `serve` must not pick up a different one.
    child_environment = {
        k: v for k, v in environ.items() if k not in (TAVUS_URL_VARIABLE, TAVUS_KEY_VARIABLE)
    }
    if tavus:
        child_environment[TAVUS_URL_VARIABLE] = tavus.url
        child_environment[TAVUS_KEY_VARIABLE] = tavus.api_key
    started = time.monotonic()
    with files.log_file.open("ab") as log:
        process = subprocess.Popen(  # nosec B603 # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "replica_pipeline_local.stack",
                "serve",
                "--state-dir",
                str(files.state_dir),
                *extra_args,
            ],
            env=child_environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `make up`, holds none of its pipes
        )
    files.pid_file.write_text(f"{process.pid}\n")
    deadline = started + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"The local stack failed to start; see {files.log_file}:", file=sys.stderr)
            print(_tail(files.log_file), file=sys.stderr)
            return 1
        description = running_stack(files)
        if description:
            print(
                f"Local stack up in {time.monotonic() - started:.1f} s (pid {process.pid}); "
                f"endpoints in {files.stack_json}"
            )
            for label, value in (
                ("status API", f"{description.api_url}/replicas"),
                ("uploads", f"s3://{description.bucket}/{description.upload_prefix}"),
                ("AWS (moto)", description.aws_endpoint_url),
                (_tavus_label(description), description.tavus_url),
                ("ingest", f"up to {description.ingest_concurrency} invocations at once"),
                (
                    "deep check",
                    "on: each submission is checked before Create Replica"
                    if description.deep_check_queue_url
                    else "off (--deep-check, or deep_check in cdk.json)",
                ),
                ("logs", files.log_file),
            ):
                print(_summary_line(label, value))
            return 0
        time.sleep(0.2)
    process.terminate()
    print(f"The local stack did not answer within {START_TIMEOUT_SECONDS} s; see {files.log_file}")
    return 1


def _tavus_label(description: LocalStackDescription) -> str:
    return "Tavus (external)" if description.is_external_tavus else "Tavus (emu)"


def _summary_line(label: str, value: object) -> str:
    return f"  {label:<17}{value}"


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
    for pid in (_pid_in_pid_file(files), _pid_in_stack_json(files)):
        if pid is not None and _alive(pid):
            return pid
    return None


def _pid_in_pid_file(files: StackFiles) -> int | None:
    try:
        return int(files.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_in_stack_json(files: StackFiles) -> int | None:
    try:
        pid = LocalStackDescription.load(files.stack_json).pid
        return None if pid is None else int(pid)
    except (OSError, ValueError, KeyError):
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
        prog="python -m replica_pipeline_local.stack",
        description=__doc__.split("\n")[0],
        epilog=f"{TAVUS_URL_VARIABLE} and {TAVUS_KEY_VARIABLE} in the environment (both or "
        "neither): run against that Tavus instead of the emulator.",
    )
    parser.add_argument("command", choices=["serve", "up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--training-seconds", type=float, default=20.0)
    parser.add_argument("--reconcile-every", type=float, default=10.0)
    parser.add_argument("--visibility-timeout", type=int, default=10)
    parser.add_argument(
        "--ingest-concurrency",
        metavar="N",
        help="ingest invocations at once (default: ingest_max_concurrency in cdk.json)",
    )
    parser.add_argument(
        "--deep-check",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check each video's pictures and sound before Create Replica, as deep_check "
        "does in AWS (default: deep_check in cdk.json)",
    )
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
    if args.command in ("serve", "up"):
        try:
            concurrency = (
                _concurrency(args.ingest_concurrency, "--ingest-concurrency")
                if args.ingest_concurrency is not None
                else cdk_ingest_concurrency()
            )
            deep_check = cdk_deep_check() if args.deep_check is None else args.deep_check
            tavus = external_tavus(os.environ) if args.command == "serve" else None
            _check_signer(settings)
        except StackOptionError as error:
            parser.exit(2, f"{parser.prog} {args.command}: {error}\n")
    if args.command == "serve":
        serve(
            files,
            training_seconds=args.training_seconds,
            reconcile_every=args.reconcile_every,
            visibility_timeout=args.visibility_timeout,
            ingest_concurrency=concurrency,
            tavus=tavus,
            settings=settings,
            deep_check=deep_check,
        )
    elif args.command == "up":
        extra = [
            f"--training-seconds={args.training_seconds}",
            f"--reconcile-every={args.reconcile_every}",
            f"--visibility-timeout={args.visibility_timeout}",
            f"--ingest-concurrency={concurrency}",
            "--deep-check" if deep_check else "--no-deep-check",
            *(f"--setting={name}={value}" for name, value in settings.items()),
        ]
        sys.exit(up(files, extra))
    elif args.command == "down":
        sys.exit(down(files))
    else:
        description = running_stack(files)
        print(description.to_json().rstrip("\n") if description else "No local stack is running.")
        sys.exit(0 if description else 1)


if __name__ == "__main__":
    main()

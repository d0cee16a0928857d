"""``replicas``: check and submit videos, follow them to a replica, retry what failed.

Exit codes: 0 success, 1 failure (including a replica that ended in error or
was rejected, for ``watch``), 2 usage.

Installed on its own (``pipx install '.[cli]'``) it works from any folder: see
``stack_files`` for where it finds the local stack and CDK's outputs file.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replica_pipeline.adapters.media_probe import RangedReader, container_rejection
from replica_pipeline.config import ValidationLimits
from replica_pipeline.rules.keys import (
    META_CALLBACK_TAG,
    META_MODEL_NAME,
    META_REPLICA_NAME,
    combined_key,
    encode_metadata_text,
    pair_keys,
)
from replica_pipeline.rules.states import TERMINAL, Status
from replica_pipeline.rules.training_options import TRAINING_PROPERTIES
from replica_pipeline.rules.validation import ObjectFacts, check_object
from replica_pipeline.services.ingest import combined_submission_id, pair_submission_id
from replica_pipeline_local.cli.completion import SHELLS
from replica_pipeline_local.cli.stack_files import (
    LOCAL_STATE_ENV,
    LOCAL_STATE_OPTION,
    OUTPUTS_FILE_ENV,
    OUTPUTS_FILE_NAME,
    OUTPUTS_FILE_OPTION,
)
from replica_pipeline_local.cli.targets import Target, TargetError, resolve_target

if TYPE_CHECKING:
    from replica_pipeline_local.cli.preflight import VideoReport
    from replica_pipeline_local.cli.prepare import Prepared

TERMINAL_WORDS = frozenset(status.value for status in TERMINAL)
DISTRIBUTION = "replica-pipeline"
# The modules of pyproject's `cli` extra, which a plain `pipx install .` leaves out.
CLI_EXTRA_MODULES = frozenset({"rich", "av", "shtab"})


class CliError(Exception):
    """A failure to report in one line and exit 1."""


# -- submit ----------------------------------------------------------------


def check_local_video(path: Path, limits: ValidationLimits) -> str | None:
    """The reason the pipeline would reject this file, found before uploading it."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    facts = ObjectFacts(path.name, path.suffix.lower(), path.stat().st_size, content_type)
    reason = check_object(facts, limits)
    if reason:
        return reason
    with path.open("rb") as handle:

        def fetch(first: int, last: int) -> bytes:
            handle.seek(first)
            return handle.read(last - first + 1)

        reader = RangedReader(facts.size, fetch, budget=limits.probe_max_bytes)
        return container_rejection(reader, path.name, limits)


def submit(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    for path in [args.file] + ([args.consent] if args.consent else []):
        if not path.is_file():
            raise CliError(_not_a_file(path))
    limits = ValidationLimits().for_model(args.model)
    if not args.prepare:
        return _submit_files(target, args, args.file, args.consent, limits)
    # --prepare: convert on this machine first and upload the converted copies, which
    # live only as long as the upload (the key's name still comes from the original).
    with tempfile.TemporaryDirectory(prefix="replicas-prepare-") as folder:
        video = _prepare_for_upload(args, args.file, Path(folder) / "training.mp4", limits)
        consent = None
        if args.consent:
            consent_limits = limits.for_consent_video()
            consent = _prepare_for_upload(
                args, args.consent, Path(folder) / "consent.mp4", consent_limits
            )
        return _submit_files(target, args, video, consent, limits)


def _prepare_for_upload(
    args: argparse.Namespace, source: Path, output: Path, limits: ValidationLimits
) -> Path:
    from replica_pipeline_local.cli.prepare import PrepareRefused

    try:
        _prepare_with_progress(source, output, limits, quiet=args.json)
    except PrepareRefused as refusal:
        raise CliError(f"{source} cannot be prepared, so nothing was uploaded: {refusal}") from None
    return output


def _submit_files(
    target: Target,
    args: argparse.Namespace,
    video: Path,
    consent: Path | None,
    limits: ValidationLimits,
) -> dict[str, Any]:
    """Check and upload ``video`` (and ``consent``): the originals, or their prepared copies."""
    files = [video] + ([consent] if consent else [])
    shown = {str(video): str(args.file), str(consent): str(args.consent)}
    for path in files:
        reason = check_local_video(path, limits if path is video else limits.for_consent_video())
        if reason:
            raise CliError(f"{shown[str(path)]} would be rejected: {reason}")
    if not args.force:
        reports = preflight(video, consent, limits)
        if not all(report.passed for report in reports):
            failures = [
                f"  {shown[report.path]}: {finding.check}: {finding.value} ({finding.detail})"
                for report in reports
                for finding in report.failures
            ]
            fixable = any(report.fix for report in reports)
            raise CliError(
                "the pre-flight check failed, so nothing was uploaded:\n"
                + "\n".join(failures)
                + "\n(`replicas check FILE` shows every finding; "
                + ("--prepare converts the file first; " if fixable else "")
                + "--force uploads anyway)"
            )
    name = (args.key_name or args.file.stem).strip().strip("/")
    metadata = {
        key: encode_metadata_text(value)
        for key, value in (
            (META_REPLICA_NAME, args.name),
            (META_MODEL_NAME, args.model),
            (META_CALLBACK_TAG, args.tag),
        )
        if value
    }
    for option, prop in TRAINING_PROPERTIES.items():
        if getattr(args, prop, None) is not None:
            metadata[option] = "true" if getattr(args, prop) else "false"
    s3 = target.client("s3")
    keys: tuple[str, ...]
    if consent:
        keys = pair_keys(name, video.suffix.lower(), consent.suffix.lower(), target.upload_prefix)
        etags = [
            _upload(s3, target.bucket, key, path, metadata)
            for key, path in zip(keys, files, strict=True)
        ]
        submission_id = pair_submission_id(target.bucket, name, etags[0], etags[1])
    else:
        keys = (combined_key(name, video.suffix.lower(), target.upload_prefix),)
        etag = _upload(s3, target.bucket, keys[0], video, metadata)
        submission_id = combined_submission_id(target.bucket, name, etag)
    return {"submission_id": submission_id, "bucket": target.bucket, "keys": list(keys)}


def _upload(s3: Any, bucket: str, key: str, path: Path, metadata: dict[str, str]) -> str:
    content_type = mimetypes.guess_type(path.name)[0] or "video/mp4"
    s3.upload_file(
        str(path), bucket, key, ExtraArgs={"Metadata": metadata, "ContentType": content_type}
    )
    etag: str = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    return etag.strip('"')


def _not_a_file(path: Path) -> str:
    return f"not a file: {path}" if path.exists() else f"file not found: {path}"


def preflight(
    video: Path, consent: Path | None, limits: ValidationLimits | None = None
) -> list[VideoReport]:
    """The deeper check on this machine (decodes the audio): what Tavus needs of a recording."""
    from replica_pipeline_local.cli.preflight import (
        PreflightError,
        PreflightLimits,
        check_submission,
    )

    try:
        return check_submission(video, consent, PreflightLimits(video=limits or ValidationLimits()))
    except PreflightError as error:
        raise CliError(str(error)) from None


def check_command(args: argparse.Namespace) -> int:
    """``replicas check``: 0 ready to upload, 1 fails a requirement, 2 no such file."""
    from replica_pipeline_local.cli.preflight import render_text

    for path in (args.file, args.consent):
        if path is not None and not path.is_file():
            print(f"replicas: {_not_a_file(path)}", file=sys.stderr)
            return 2
    reports = preflight(args.file, args.consent)
    data = {
        "passed": all(report.passed for report in reports),
        "reports": [report.as_dict() for report in reports],
    }
    _say(args, data, render_text(reports))
    return 0 if data["passed"] else 1


# -- prepare -----------------------------------------------------------------


def prepare_command(args: argparse.Namespace) -> int:
    """``replicas prepare``: 0 written, 1 refused (a re-encode cannot fix it), 2 usage
    (no such file, or OUT exists without --overwrite)."""
    from replica_pipeline_local.cli.prepare import PrepareRefused, default_output

    output: Path = args.output or default_output(args.file)
    usage_error = None
    if not args.file.is_file():
        usage_error = _not_a_file(args.file)
    elif output.exists() and output.resolve() == args.file.resolve():
        usage_error = f"{output} is the recording itself; name another output with -o"
    elif output.exists() and not args.overwrite:
        usage_error = f"{output} exists; pass --overwrite to replace it"
    elif not output.parent.is_dir():
        usage_error = f"no such folder for the output: {output.parent}"
    if usage_error:
        print(f"replicas: {usage_error}", file=sys.stderr)
        return 2
    try:
        prepared = _prepare_with_progress(
            args.file, output, ValidationLimits().for_model(args.model), quiet=args.json
        )
    except PrepareRefused as refusal:
        if args.json:
            print(json.dumps({"prepared": False, "source": str(args.file), "reason": str(refusal)}))
        else:
            print(f"replicas: cannot prepare {args.file}: {refusal}", file=sys.stderr)
        return 1
    plan = prepared.plan
    text = (
        f"wrote {output}: {plan.width}x{plan.height}, {prepared.as_dict()['frame_rate']} fps, "
        f"H.264 + AAC, {prepared.size / 2**20:,.1f} MB, {plan.duration_seconds:.1f} s "
        f"(in {prepared.seconds:.1f} s)"
    )
    if plan.changes:
        text += "\n  " + "; ".join(plan.changes)
    _say(args, prepared.as_dict(), text)
    return 0


def _prepare_with_progress(
    source: Path, output: Path, limits: ValidationLimits, *, quiet: bool
) -> Prepared:
    """Prepare ``source`` with a progress bar on stderr (none when ``quiet``)."""
    from replica_pipeline_local.cli.prepare import prepare

    if quiet:
        return prepare(source, output, limits)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=Console(stderr=True))
    task = progress.add_task(f"preparing {source.name}"[:40], total=None)

    def show(done: float, total: float) -> None:
        progress.start()  # at the first report: a refusal comes before any, and shows no bar
        progress.update(task, completed=done, total=total)

    try:
        return prepare(source, output, limits, progress=show)
    finally:
        if progress.live.is_started:
            progress.stop()


# -- reading status ----------------------------------------------------------


def fetch_item(target: Target, identifier: str) -> dict[str, Any] | None:
    for path in (f"/replicas/{identifier}", f"/replicas/by-replica/{identifier}"):
        response = target.api_get(path)
        if response.status_code == 200:
            item: dict[str, Any] = response.json()
            return item
        if response.status_code not in (400, 404):
            raise CliError(f"the status API answered {response.status_code}: {response.text[:200]}")
    return None


def list_items(target: Target, status: str | None, limit: int) -> list[dict[str, Any]]:
    params = {"limit": str(min(limit, 100))}
    if status:
        params["status"] = status
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        response = target.api_get("/replicas", params)
        if response.status_code != 200:
            raise CliError(f"the status API answered {response.status_code}: {response.text[:200]}")
        page = response.json()
        items.extend(page["items"])
        if not page.get("next"):
            break
        params["next"] = page["next"]
    return items[:limit]


def watch(
    target: Target,
    identifiers: list[str],
    *,
    appear_timeout: float,
    poll_seconds: float = 1.0,
    show: Callable[[dict[str, dict[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll until every item is terminal; items may take a moment to appear after upload."""
    latest: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    while True:
        for identifier in identifiers:
            if latest.get(identifier, {}).get("status") in TERMINAL_WORDS:
                continue
            item = fetch_item(target, identifier)
            if item is not None:
                latest[identifier] = item
        if show:
            show(latest)
        if len(latest) == len(identifiers) and all(
            item["status"] in TERMINAL_WORDS for item in latest.values()
        ):
            return latest
        missing = [i for i in identifiers if i not in latest]
        if missing and time.monotonic() - started > appear_timeout:
            raise CliError(
                f"unknown id {missing[0]!r}: no submission appeared within {appear_timeout:.0f} s"
            )
        time.sleep(poll_seconds)


def _watch_with_progress(
    target: Target, identifiers: list[str], appear_timeout: float
) -> dict[str, dict[str, Any]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("[bold]{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks = {
            identifier: progress.add_task(identifier[:12], total=100, status="waiting for the drop")
            for identifier in identifiers
        }

        def show(latest: dict[str, dict[str, Any]]) -> None:
            for identifier, item in latest.items():
                percent = item.get("training_progress") or 0
                if item["status"] == Status.COMPLETED.value:
                    percent = 100
                progress.update(
                    tasks[identifier],
                    completed=percent,
                    description=str(item.get("replica_name") or identifier)[:24],
                    status=item["status"],
                )

        return watch(target, identifiers, appear_timeout=appear_timeout, show=show)


# -- retry -----------------------------------------------------------------


def retry(target: Target, identifier: str) -> dict[str, Any]:
    """Ask for a new attempt of a failed submission (idempotent: it names the attempt seen)."""
    item = fetch_item(target, identifier)
    if item is None:
        raise CliError(f"unknown id {identifier!r}")
    body = json.dumps({"attempt": int(item.get("attempts", 0))}).encode()
    sid = item["submission_id"]
    response = target.api_request("POST", f"/replicas/{sid}/retry", body=body)
    if response.status_code != 202:
        raise CliError(_api_error(response))
    answer: dict[str, Any] = response.json()
    return answer


def _api_error(response: Any) -> str:
    try:
        message = response.json().get("error")
    except ValueError:
        message = None
    return str(message or f"the status API answered {response.status_code}: {response.text[:200]}")


# -- console ---------------------------------------------------------------


def console_command(target: Target, args: argparse.Namespace) -> int:
    """Serve the console until Ctrl-C (its server proxies to the status API, signing for AWS)."""
    from replica_pipeline_local.cli.console_server import ConsoleError, run_console

    if not 0 <= args.port <= 65535:
        print("replicas: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    try:
        run_console(target, port=args.port, open_browser=not args.no_open)
    except ConsoleError as error:
        raise CliError(str(error)) from None
    return 0


# -- dead letters ----------------------------------------------------------


def dead_letters(target: Target, *, redrive: bool) -> dict[str, Any]:
    from replica_pipeline.rules.deferral import QueuedMessage

    sqs = target.client("sqs")
    shown: list[dict[str, Any]] = []
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=target.dlq_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0 if not redrive else 30,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in {s["message_id"] for s in shown}]
        if not fresh:
            break
        for message in fresh:
            shown.append({"message_id": message["MessageId"], "keys": _keys_of(message["Body"])})
            if redrive:
                # A deferred copy goes back as the original: its wait starts afresh.
                original = QueuedMessage.read(message["Body"]).body
                sqs.send_message(QueueUrl=target.queue_url, MessageBody=original)
                sqs.delete_message(QueueUrl=target.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
    return {"dead_letters": shown, "redriven": moved}


def _keys_of(body: str) -> list[str]:
    from replica_pipeline.rules.deferral import QueuedMessage
    from replica_pipeline.rules.keys import MalformedNotification, parse_notification
    from replica_pipeline.services.retry import retry_request_in

    message = QueuedMessage.read(body)
    if message.waiting_since is not None:
        return [f"{key} (waiting since {message.waiting_since})" for key in _keys_of(message.body)]
    request = retry_request_in(body)
    if request is not None:
        return [f"retry of {request.submission_id} (attempt {request.attempt})"]
    try:
        return [created.key for created in parse_notification(body)]
    except MalformedNotification:
        return ["(not an S3 notification)"]


# -- the command line --------------------------------------------------------


def installed_version() -> str:
    """The installed distribution's version (what ``pip`` and ``pipx`` show)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed: run from a source tree)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replicas", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="'local' (the default) or a deployed stack's name, e.g. ReplicaPipeline-dev",
    )
    parser.add_argument(
        LOCAL_STATE_OPTION,
        dest="local_state",
        type=Path,
        metavar="DIR",
        help=f"the local stack's state folder, holding stack.json (default: ${LOCAL_STATE_ENV}, "
        "else .local/ in this folder or the nearest parent that has one)",
    )
    # The name the tests and older scripts use; same setting.
    parser.add_argument("--state-dir", dest="local_state", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        OUTPUTS_FILE_OPTION,
        type=Path,
        metavar="FILE",
        help="the file `cdk deploy --outputs-file` wrote: deployed stacks named in it are "
        f"read from it, without asking CloudFormation (default: ${OUTPUTS_FILE_ENV}, else "
        f"{OUTPUTS_FILE_NAME} in this folder or the nearest parent that has one)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    submit_parser = commands.add_parser("submit", help="upload a video (and its consent video)")
    submit_parser.add_argument("file", type=Path)
    submit_parser.add_argument("--consent", type=Path, help="a separate consent video")
    submit_parser.add_argument("--name", help="the replica's name (default: the file name)")
    submit_parser.add_argument("--model", help="Tavus replica model, e.g. phoenix-3")
    submit_parser.add_argument("--tag", help="free text echoed in status events")
    submit_parser.add_argument(
        "--key-name", help="the name part of the S3 key (default: the file stem)"
    )
    submit_parser.add_argument("--watch", action="store_true", help="watch it until it is done")
    submit_parser.add_argument(
        "--force", action="store_true", help="upload even if the pre-flight check fails"
    )
    submit_parser.add_argument(
        "--prepare",
        action="store_true",
        help="convert with `replicas prepare` first and upload the converted copy",
    )
    for option, prop in TRAINING_PROPERTIES.items():
        submit_parser.add_argument(
            f"--{option}",
            dest=prop,
            action=argparse.BooleanOptionalAction,
            help=f"ask Tavus for its {prop} training option (default: Tavus's)",
        )

    check_parser = commands.add_parser(
        "check", help="pre-flight check of a video on this machine, before uploading it"
    )
    check_parser.add_argument("file", type=Path)
    check_parser.add_argument("--consent", type=Path, help="a separate consent video")

    prepare_parser = commands.add_parser(
        "prepare",
        help="convert a recording (a phone's HEVC .mov, 4K, 60 fps...) into what Tavus accepts",
    )
    prepare_parser.add_argument("file", type=Path)
    prepare_parser.add_argument(
        "-o", "--output", type=Path, help="where to write it (default: <name>.prepared.mp4)"
    )
    prepare_parser.add_argument(
        "--overwrite", action="store_true", help="replace the output if it exists"
    )
    prepare_parser.add_argument(
        "--model", help="Tavus replica model, for its duration floor (e.g. phoenix-4)"
    )

    status_parser = commands.add_parser(
        "status", help="one submission, by submission or replica id"
    )
    status_parser.add_argument("id")

    list_parser = commands.add_parser("list", help="submissions, newest first")
    list_parser.add_argument("--status", choices=[s.value for s in Status])
    list_parser.add_argument("--limit", type=int, default=25)

    watch_parser = commands.add_parser("watch", help="live progress until done")
    watch_parser.add_argument("id", nargs="?", help="default: everything still in progress")
    watch_parser.add_argument("--appear-timeout", type=float, default=60.0, help=argparse.SUPPRESS)

    retry_parser = commands.add_parser(
        "retry", help="send a failed submission to Tavus again, as a new attempt"
    )
    retry_parser.add_argument("id", help="submission id or replica id")
    retry_parser.add_argument("--watch", action="store_true", help="watch it until it is done")

    console_parser = commands.add_parser(
        "console", help="every replica in your browser, served on loopback"
    )
    console_parser.add_argument(
        "--port", type=int, default=0, help="loopback port (default: a free one)"
    )
    console_parser.add_argument(
        "--no-open", action="store_true", help="print the URL instead of opening a browser"
    )

    dlq_parser = commands.add_parser(
        "dlq", help="show dead letters (records that failed every retry)"
    )
    dlq_parser.add_argument(
        "--redrive", action="store_true", help="send them back to the ingest queue"
    )

    completion_parser = commands.add_parser(
        "completion",
        help='print the shell completion script, e.g. eval "$(replicas completion bash)"',
    )
    completion_parser.add_argument("shell", choices=SHELLS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":  # needs no stack
            return check_command(args)
        if args.command == "prepare":  # nor does this
            return prepare_command(args)
        if args.command == "completion":  # nor this
            from replica_pipeline_local.cli.completion import completion_script

            print(completion_script(parser, args.shell))
            return 0
        target = resolve_target(
            args.stack, local_state=args.local_state, outputs_file=args.outputs_file
        )
        if args.command == "console":
            return console_command(target, args)
        return _run(target, args)
    except (CliError, TargetError) as error:
        if args.json:
            print(json.dumps({"error": str(error)}))
        else:
            print(f"replicas: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as missing:
        if missing.name not in CLI_EXTRA_MODULES:
            raise
        print(
            f"replicas: this command needs {missing.name}, from the cli extra; reinstall with "
            "it: pipx install --force '<repository or wheel>[cli]'",
            file=sys.stderr,
        )
        return 1


def _run(target: Target, args: argparse.Namespace) -> int:
    if args.command == "submit":
        result = submit(target, args)
        _say(
            args,
            result,
            f"submitted {', '.join(result['keys'])}\nsubmission id: {result['submission_id']}",
        )
        if args.watch:
            return _finish_watch(target, args, [result["submission_id"]])
        return 0
    if args.command == "status":
        item = fetch_item(target, args.id)
        if item is None:
            raise CliError(f"unknown id {args.id!r}")
        _say(args, item, _describe(item))
        return 0
    if args.command == "list":
        if not 1 <= args.limit <= 1000:
            raise CliError("--limit must be between 1 and 1000")
        items = list_items(target, args.status, args.limit)
        _say(args, {"items": items}, "\n".join(_row(item) for item in items) or "no submissions")
        return 0
    if args.command == "watch":
        if args.id:
            identifiers = [args.id]
        else:
            identifiers = [
                item["submission_id"]
                for item in list_items(target, None, 100)
                if item["status"] not in TERMINAL_WORDS
            ]
            if not identifiers:
                _say(args, {"items": []}, "nothing in progress")
                return 0
        return _finish_watch(target, args, identifiers)
    if args.command == "retry":
        item = retry(target, args.id)
        _say(
            args,
            item,
            f"retrying {item['submission_id']} as attempt {item['attempts']} "
            f"(status {item['status']})",
        )
        if args.watch:
            return _finish_watch(target, args, [item["submission_id"]])
        return 0
    result = dead_letters(target, redrive=args.redrive)
    lines = [f"{d['message_id']}  {', '.join(d['keys'])}" for d in result["dead_letters"]]
    summary = f"{len(lines)} dead letter(s)" + (
        f", {result['redriven']} redriven" if args.redrive else ""
    )
    _say(args, result, "\n".join([*lines, summary]))
    return 0


def _finish_watch(target: Target, args: argparse.Namespace, identifiers: list[str]) -> int:
    appear = getattr(args, "appear_timeout", 60.0)
    if args.json:
        final = watch(target, identifiers, appear_timeout=appear)
    else:
        final = _watch_with_progress(target, identifiers, appear)
    _say(args, {"items": list(final.values())}, "\n".join(_describe(i) for i in final.values()))
    return 0 if all(item["status"] == Status.COMPLETED.value for item in final.values()) else 1


def _say(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _row(item: dict[str, Any]) -> str:
    progress = item.get("training_progress")
    shown = f"{progress:>3}%" if progress is not None else "    "
    return (
        f"{item['submission_id']}  {item['status']:<20} {shown}  "
        f"{item['updated_at']}  {item.get('replica_name', '')}"
    )


def _describe(item: dict[str, Any]) -> str:
    lines = [
        f"submission  {item['submission_id']}",
        f"name        {item.get('replica_name')}",
        f"status      {item['status']}"
        + (f" ({item['training_progress']}%)" if item.get("training_progress") is not None else ""),
    ]
    if int(item.get("attempts") or 0) > 1:
        lines.append(f"{'attempt':<11} {item['attempts']}")
    for label, key in (
        ("replica id", "replica_id"),
        ("error", "error_message"),
        ("what to do", "error_hint"),  # the status API's advice on a Tavus training error
        ("training", "training_key"),
        ("consent", "consent_key"),
        ("thumbnail", "thumbnail_video_url"),
        ("updated", "updated_at"),
    ):
        if item.get(key):
            lines.append(f"{label:<11} {item[key]}")
    return "\n".join(lines)


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()

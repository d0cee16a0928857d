"""``replicas``: check and submit videos, follow them to a replica, retry what failed.

Exit codes: 0 success, 1 failure (including a replica that ended in error or
was rejected, for ``watch``), 2 usage.

Installed on its own (``pipx install '.[cli]'``) it works from any folder: see
``stack_files`` for where it finds the local stack and CDK's outputs file.

This module holds the command line and its dispatch; each command lives in a
``*_command(s)`` module next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from replica_pipeline.rules.states import Status
from replica_pipeline.rules.training_options import TRAINING_PROPERTIES
from replica_pipeline_local.cli.completion import SHELLS
from replica_pipeline_local.cli.operations_commands import console_command, dlq_command
from replica_pipeline_local.cli.output import CliError
from replica_pipeline_local.cli.recording_commands import check_command, prepare_command
from replica_pipeline_local.cli.stack_files import (
    LOCAL_STATE_ENV,
    LOCAL_STATE_OPTION,
    OUTPUTS_FILE_ENV,
    OUTPUTS_FILE_NAME,
    OUTPUTS_FILE_OPTION,
)
from replica_pipeline_local.cli.status_commands import (
    list_command,
    retry_command,
    status_command,
    watch_command,
)
from replica_pipeline_local.cli.submit_command import submit_command
from replica_pipeline_local.cli.targets import Target, TargetError, resolve_target

DISTRIBUTION = "replica-pipeline"
# The modules of pyproject's `cli` extra, which a plain `pipx install .` leaves out
# (opencv-python-headless is imported as cv2).
CLI_EXTRA_MODULES = frozenset({"rich", "av", "shtab", "numpy", "cv2"})


def completion_command(args: argparse.Namespace) -> int:
    """``replicas completion SHELL``: the script that completes this parser's commands."""
    from replica_pipeline_local.cli.completion import completion_script

    print(completion_script(build_parser(), args.shell))
    return 0


# Commands that work on this machine alone: no stack is looked for.
LOCAL_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": check_command,
    "prepare": prepare_command,
    "completion": completion_command,
}
# Commands that talk to a stack (`--stack`, the local one by default).
STACK_COMMANDS: dict[str, Callable[[Target, argparse.Namespace], int]] = {
    "submit": submit_command,
    "status": status_command,
    "list": list_command,
    "watch": watch_command,
    "retry": retry_command,
    "console": console_command,
    "dlq": dlq_command,
}


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
    args = build_parser().parse_args(argv)
    try:
        local_command = LOCAL_COMMANDS.get(args.command)
        if local_command is not None:
            return local_command(args)
        target = resolve_target(
            args.stack, local_state=args.local_state, outputs_file=args.outputs_file
        )
        return STACK_COMMANDS[args.command](target, args)
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


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()

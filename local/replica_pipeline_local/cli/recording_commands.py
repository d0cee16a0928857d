"""``replicas check`` and ``replicas prepare``: a recording on this machine, no stack needed.

PyAV and rich come from the ``cli`` extra, so they are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from replica_pipeline.config import ValidationLimits
from replica_pipeline_local.cli.output import CliError, not_a_file, say

if TYPE_CHECKING:
    from replica_pipeline.preflight.report import VideoReport
    from replica_pipeline_local.cli.prepare import Prepared


def preflight(
    video: Path, consent: Path | None, limits: ValidationLimits | None = None
) -> list[VideoReport]:
    """The deeper check on this machine (decodes the audio): what Tavus needs of a recording."""
    from replica_pipeline.preflight.check import check_submission
    from replica_pipeline.preflight.report import PreflightError, PreflightLimits

    try:
        return check_submission(video, consent, PreflightLimits(video=limits or ValidationLimits()))
    except PreflightError as error:
        raise CliError(str(error)) from None


def check_command(args: argparse.Namespace) -> int:
    """``replicas check``: 0 ready to upload, 1 fails a requirement, 2 no such file."""
    from replica_pipeline.preflight.rendering import render_text

    for path in (args.file, args.consent):
        if path is not None and not path.is_file():
            print(f"replicas: {not_a_file(path)}", file=sys.stderr)
            return 2
    reports = preflight(args.file, args.consent)
    data = {
        "passed": all(report.passed for report in reports),
        "reports": [report.as_dict() for report in reports],
    }
    say(args, data, render_text(reports))
    return 0 if data["passed"] else 1


def prepare_command(args: argparse.Namespace) -> int:
    """``replicas prepare``: 0 written, 1 refused (a re-encode cannot fix it), 2 usage
    (no such file, or OUT exists without --overwrite)."""
    from replica_pipeline_local.cli.prepare import PrepareRefused, default_output

    output: Path = args.output or default_output(args.file)
    usage_error = None
    if not args.file.is_file():
        usage_error = not_a_file(args.file)
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
        prepared = prepare_with_progress(
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
    say(args, prepared.as_dict(), text)
    return 0


def prepare_with_progress(
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

"""What every ``replicas`` command prints: JSON with ``--json``, else text; one-line errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


class CliError(Exception):
    """A failure to report in one line and exit 1."""


def say(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def not_a_file(path: Path) -> str:
    return f"not a file: {path}" if path.exists() else f"file not found: {path}"


def row(item: dict[str, Any]) -> str:
    """One submission on one line, for ``replicas list``."""
    progress = item.get("training_progress")
    shown = f"{progress:>3}%" if progress is not None else "    "
    return (
        f"{item['submission_id']}  {item['status']:<20} {shown}  "
        f"{item['updated_at']}  {item.get('replica_name', '')}"
    )


def describe(item: dict[str, Any]) -> str:
    """One submission as labelled lines, for ``replicas status`` and the end of a watch."""
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
    lines += [f"{'check':<11} {line}" for line in check_lines(item)]
    return "\n".join(lines)


def check_lines(item: dict[str, Any]) -> list[str]:
    """The deep check's findings on an item, one line each (``replicas check``'s words)."""
    lines = []
    for finding in item.get("check_findings") or []:
        seconds = ", ".join(f"{second:g} s" for second in finding.get("at_seconds") or [])
        lines.append(
            f"{finding['verdict']}: {finding['video']} video, {finding['check']}: "
            f"{finding['detail']}"
            + (f" (at {seconds})" if seconds else "")
            + (f" [Tavus: {finding['prevents']}]" if finding.get("prevents") else "")
        )
    return lines

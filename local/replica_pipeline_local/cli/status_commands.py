"""``replicas status``, ``list``, ``watch`` and ``retry``: submissions, through the status API."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from replica_pipeline.rules.states import TERMINAL, Status
from replica_pipeline_local.cli.output import CliError, describe, row, say
from replica_pipeline_local.cli.targets import Target

TERMINAL_WORDS = frozenset(status.value for status in TERMINAL)


def status_command(target: Target, args: argparse.Namespace) -> int:
    item = fetch_item(target, args.id)
    if item is None:
        raise CliError(f"unknown id {args.id!r}")
    say(args, item, describe(item))
    return 0


def list_command(target: Target, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit must be between 1 and 1000")
    items = list_items(target, args.status, args.limit)
    say(args, {"items": items}, "\n".join(row(item) for item in items) or "no submissions")
    return 0


def watch_command(target: Target, args: argparse.Namespace) -> int:
    if args.id:
        identifiers = [args.id]
    else:
        identifiers = [
            item["submission_id"]
            for item in list_items(target, None, 100)
            if item["status"] not in TERMINAL_WORDS
        ]
        if not identifiers:
            say(args, {"items": []}, "nothing in progress")
            return 0
    return finish_watch(target, args, identifiers)


def retry_command(target: Target, args: argparse.Namespace) -> int:
    item = retry(target, args.id)
    say(
        args,
        item,
        f"retrying {item['submission_id']} as attempt {item['attempts']} (status {item['status']})",
    )
    if args.watch:
        return finish_watch(target, args, [item["submission_id"]])
    return 0


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


def finish_watch(target: Target, args: argparse.Namespace, identifiers: list[str]) -> int:
    """Watch until every item is terminal; 0 when all completed, 1 otherwise."""
    appear = getattr(args, "appear_timeout", 60.0)
    if args.json:
        final = watch(target, identifiers, appear_timeout=appear)
    else:
        final = _watch_with_progress(target, identifiers, appear)
    say(args, {"items": list(final.values())}, "\n".join(describe(i) for i in final.values()))
    return 0 if all(item["status"] == Status.COMPLETED.value for item in final.values()) else 1


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

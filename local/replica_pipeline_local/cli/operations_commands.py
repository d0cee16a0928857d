"""``replicas console`` and ``replicas dlq``: the browser console, and the dead letters."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from replica_pipeline_local.cli.output import CliError, say
from replica_pipeline_local.cli.targets import Target


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


def dlq_command(target: Target, args: argparse.Namespace) -> int:
    result = dead_letters(target, redrive=args.redrive)
    lines = [f"{d['message_id']}  {', '.join(d['keys'])}" for d in result["dead_letters"]]
    summary = f"{len(lines)} dead letter(s)" + (
        f", {result['redriven']} redriven" if args.redrive else ""
    )
    say(args, result, "\n".join([*lines, summary]))
    return 0


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

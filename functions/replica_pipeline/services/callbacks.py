"""Tavus's training callback: authenticate, parse, find, confirm, apply.

Order of checks (each answer is documented in the README):
413 body over 64 KiB · 401 no token · 400 not JSON / not an object / no
replica_id or face_id · 403 a token that is not ours for the submission the URL names ·
404 no such submission (or, for a URL that names none, no such replica) ·
200 applied, already applied, or news about another replica (ignored).

The callback URL names the submission (``?submission=…&token=…``, the token
being the HMAC of that id), so the token is checked before anything is read
and the item is read consistently: a callback that beats the ingest's write of
``replica_id`` still finds its item. News about a replica that is not the
item's current one (an earlier attempt's) changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.adapters.tavus import TavusClient, TavusError, callback_news
from replica_pipeline.clock import Clock, utc_now
from replica_pipeline.config import TavusSettings
from replica_pipeline.rules.callback_token import token_matches
from replica_pipeline.rules.submission import Item, earlier_replica_ids
from replica_pipeline.services.tracking import (
    DEFAULT_ERROR,
    Observation,
    apply_observation,
    observe,
    observe_replica,
)

MAX_BODY_BYTES = 64 * 1024

logger = Logger(child=True)


class CallbackRefused(Exception):
    """A callback we will not apply; ``status_code`` says why, the message says it in words."""

    status_code = 400


class BodyTooLarge(CallbackRefused):
    status_code = 413


class MissingToken(CallbackRefused):
    status_code = 401


class MalformedCallback(CallbackRefused):
    status_code = 400


class WrongToken(CallbackRefused):
    status_code = 403


class UnknownReplica(CallbackRefused):
    status_code = 404


@dataclass(frozen=True)
class ParsedCallback:
    replica_id: str
    observation: Observation


@dataclass
class CallbackDependencies:
    store: ReplicaStore
    callback_key: Callable[[], bytes]
    tavus: Callable[[], TavusClient]
    clock: Clock = field(default=utc_now)


@dataclass(frozen=True)
class CallbackResult:
    submission_id: str
    replica_id: str
    status: str
    changed: bool


def parse_callback(body: bytes) -> ParsedCallback:
    """The replica id and news of a callback body, flat or in an ``event_type`` envelope,
    in either of Tavus's vocabularies (``replica_id`` or ``face_id``)."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"callback body is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise MalformedCallback("callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedCallback("callback body is not a JSON object")
    for news in callback_news(payload):
        replica_id = news.replica_id.strip()
        if replica_id and len(replica_id) <= 128 and replica_id.isprintable():
            return ParsedCallback(
                replica_id=replica_id,
                observation=observe(news.status, news.progress, news.error_message),
            )
    raise MalformedCallback("callback body has no replica_id (or face_id)")


def handle_callback(
    token: str | None,
    body: bytes,
    deps: CallbackDependencies,
    submission_id: str | None = None,
) -> CallbackResult:
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"callback body is over {MAX_BODY_BYTES // 1024} KiB")
    if not token:
        raise MissingToken("callback URL has no token")
    parsed = parse_callback(body)
    if len(token) != 64 or not all(c in "0123456789abcdef" for c in token):
        raise WrongToken("callback token is not valid")
    item = _authenticated_item(token, parsed, deps, submission_id)
    sid = str(item["submission_id"])
    current = item.get("replica_id")
    if parsed.replica_id in earlier_replica_ids(item) or (current and current != parsed.replica_id):
        deps.store.note(
            sid,
            f"callback about replica {parsed.replica_id}, not this attempt's: ignored",
            deps.clock(),
        )
        return CallbackResult(sid, parsed.replica_id, str(item.get("status")), changed=False)
    observation = confirm(parsed, deps)
    updated = apply_observation(
        deps.store, item, parsed.replica_id, observation, deps.clock(), source="callback"
    )
    current_item = updated or item
    return CallbackResult(
        submission_id=sid,
        replica_id=parsed.replica_id,
        status=str(current_item.get("status")),
        changed=updated is not None,
    )


def _authenticated_item(
    token: str, parsed: ParsedCallback, deps: CallbackDependencies, submission_id: str | None
) -> Item:
    """The item the callback is for, read consistently, once its token has been checked."""
    if submission_id is not None:
        # The token first: a caller without it learns nothing about what exists.
        if not token_matches(submission_id, token, deps.callback_key()):
            raise WrongToken("callback token is not valid for this submission")
        item = deps.store.get(submission_id)
        if item is None:
            raise UnknownReplica("no such submission")
        return item
    # A URL handed out before callback URLs named their submission.
    found = deps.store.find_by_replica_id(parsed.replica_id)
    if found is None:
        raise UnknownReplica("no submission has this replica_id")
    sid = str(found["submission_id"])
    if not token_matches(sid, token, deps.callback_key()):
        raise WrongToken("callback token is not valid for this replica")
    item = deps.store.get(sid)  # the index may lag the table: read the item itself
    if item is None:
        raise UnknownReplica("no submission has this replica_id")
    return item


def confirming_settings(settings: TavusSettings) -> TavusSettings:
    """The Tavus client of a callback: one quick try, no retry, no ``Retry-After`` wait.

    Its slowest call (``slowest_call_seconds``, 6 s) fits well inside the callback
    function's timeout; when it cannot confirm, the callback's own word is applied.
    """
    return replace(
        settings,
        max_retries=0,
        connect_timeout=min(settings.connect_timeout, 2.0),
        read_timeout=min(settings.read_timeout, 4.0),
    )


def confirm(parsed: ParsedCallback, deps: CallbackDependencies) -> Observation:
    """Before a terminal change, ask Get Replica (the truth); fall back to the callback's word."""
    if not parsed.observation.is_terminal:
        return parsed.observation
    try:
        replica = deps.tavus().get_replica(parsed.replica_id)
    except TavusError as error:
        logger.warning(
            "could not confirm the callback with Get Replica; trusting the callback",
            extra={"replica_id": parsed.replica_id, "reason": str(error)},
        )
        return parsed.observation
    if replica is None:
        logger.warning(
            "Tavus does not know the replica a callback named; trusting the callback",
            extra={"replica_id": parsed.replica_id},
        )
        return parsed.observation
    truth = observe_replica(replica)
    if truth.status is None:
        return parsed.observation
    if truth.status is parsed.observation.status:
        # Same verdict: keep the callback's message when Get Replica has none.
        return parsed.observation if truth.error_message == DEFAULT_ERROR else truth
    logger.info(
        "Get Replica disagrees with the callback; following Get Replica",
        extra={
            "replica_id": parsed.replica_id,
            "callback": parsed.observation.word,
            "tavus": truth.word,
        },
    )
    return truth


def describe(result: CallbackResult) -> dict[str, Any]:
    return asdict(result)

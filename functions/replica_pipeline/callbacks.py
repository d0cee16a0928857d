"""Tavus's training callback: authenticate, parse, confirm, apply.

Order of checks (each answer is documented in the README):
413 body over 64 KiB · 401 no token · 400 not JSON / not an object / no
replica_id · 403 a token that is not ours for this replica · 404 a replica id we
never submitted · 200 applied, or already applied (replays are harmless).
Nothing is written before every check has passed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from replica_pipeline.callback_token import token_matches
from replica_pipeline.clock import Clock, utc_now
from replica_pipeline.store import ReplicaStore
from replica_pipeline.tavus import TavusClient, TavusError
from replica_pipeline.tracking import (
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
    """The replica id and news of a callback body, flat or in an ``event_type`` envelope."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"callback body is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise MalformedCallback("callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedCallback("callback body is not a JSON object")
    for scope in (payload, payload.get("properties")):
        if isinstance(scope, dict) and isinstance(scope.get("replica_id"), str):
            replica_id = scope["replica_id"].strip()
            if replica_id and len(replica_id) <= 128 and replica_id.isprintable():
                return ParsedCallback(
                    replica_id=replica_id,
                    observation=observe(
                        scope.get("status"),
                        scope.get("training_progress", scope.get("progress")),
                        scope.get("error_message"),
                    ),
                )
    raise MalformedCallback("callback body has no replica_id")


def handle_callback(token: str | None, body: bytes, deps: CallbackDependencies) -> CallbackResult:
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"callback body is over {MAX_BODY_BYTES // 1024} KiB")
    if not token:
        raise MissingToken("callback URL has no token")
    parsed = parse_callback(body)
    if len(token) != 64 or not all(c in "0123456789abcdef" for c in token):
        raise WrongToken("callback token is not valid")
    item = deps.store.find_by_replica_id(parsed.replica_id)
    if item is None:
        raise UnknownReplica("no submission has this replica_id")
    sid = str(item["submission_id"])
    if not token_matches(sid, token, deps.callback_key()):
        raise WrongToken("callback token is not valid for this replica")
    observation = confirm(parsed, deps)
    updated = apply_observation(deps.store, item, observation, deps.clock(), source="callback")
    current = updated or item
    return CallbackResult(
        submission_id=sid,
        replica_id=parsed.replica_id,
        status=str(current.get("status")),
        changed=updated is not None,
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

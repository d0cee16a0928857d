"""Status API Lambda: read submissions over REST, and retry failed ones (IAM-authorized in AWS).

``GET /replicas``, ``GET /replicas/{submission_id}``,
``GET /replicas/by-replica/{replica_id}``, ``POST /replicas/{submission_id}/retry``
and ``GET /openapi.json``, whose document Powertools generates from the typed
routes and models below.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, field_validator

from replica_pipeline import runtime
from replica_pipeline.adapters.store import ReplicaStore
from replica_pipeline.clock import utc_now
from replica_pipeline.handlers.responses import json_error, proxy_json_error
from replica_pipeline.observability import traced
from replica_pipeline.rules.states import Status
from replica_pipeline.services.retry import (
    RetryNotFound,
    RetryNotQueued,
    RetryRefused,
    request_retry,
)
from replica_pipeline.services.status_query import (
    CURSOR_PATTERN,
    BadCursor,
    list_submissions,
    public,
)

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)


class HistoryEntry(BaseModel):
    at: str
    status: Status | None = None
    note: str | None = None


class Replica(BaseModel):
    """One submission: a drop on its way to (or done as) a Tavus replica."""

    submission_id: str
    status: Status
    kind: str = Field(description="combined, pair, or part (half of a pair)")
    name: str = Field(description="the drop's name from its S3 key")
    replica_name: str
    replica_id: str | None = Field(default=None, description="Tavus's id, once submitted")
    training_progress: int | None = Field(default=None, ge=0, le=100)
    error_message: str | None = None
    error_kind: str | None = Field(
        default=None,
        description=(
            "for an error Tavus reported, its kind as Tavus's training errors table names "
            "it (e.g. video_duration, consent_mismatch); null when not recognised"
        ),
    )
    error_hint: str | None = Field(
        default=None, description="what to do about that error, in one sentence"
    )
    last_error: str | None = Field(
        default=None, description="why a submitting item is waiting to be retried"
    )
    model_name: str | None = None
    callback_tag: str | None = None
    tavus_replica_name: str | None = None
    bucket: str
    training_key: str | None = None
    consent_key: str | None = None
    training_version: str | None = None
    consent_version: str | None = None
    created_at: str
    updated_at: str
    attempts: int = Field(default=0, description="attempts so far; a retry starts the next")
    thumbnail_video_url: str | None = Field(
        default=None, description="Tavus's preview of the finished replica"
    )
    previous_replica_ids: list[str] = Field(
        default=[], description="Tavus replicas of earlier attempts that failed"
    )
    history: list[HistoryEntry] = []


class RetryBody(BaseModel):
    attempt: int | None = Field(
        default=None,
        ge=0,
        description=(
            "the attempt being retried: the item's `attempts` as you saw it. Sending it "
            "makes the request idempotent: a repeat answers 202 again and starts nothing."
        ),
    )

    @field_validator("attempt", mode="before")
    @classmethod
    def not_a_boolean(cls, value: Any) -> Any:
        # JSON Schema's integer admits 2.0, so lax parsing stays; but `true` is not attempt 1.
        if isinstance(value, bool):
            raise ValueError("must be an integer, not true or false")
        return value


class ReplicaPage(BaseModel):
    items: list[Replica]
    next: str | None = Field(default=None, description="pass as ?next= for the following page")


class ErrorBody(BaseModel):
    error: str


@cache
def store() -> ReplicaStore:
    return runtime.replica_store()


def _error_response(description: str) -> OpenAPIResponse:
    return {
        "description": description,
        "content": {"application/json": {"schema": ErrorBody.model_json_schema()}},
    }


BAD_PARAMETERS = _error_response("bad parameters (the message says which)")
NOT_FOUND = _error_response("no such submission")
NOT_RETRYABLE = _error_response("not in error (the message says why; rejected videos must change)")
NOT_QUEUED = _error_response("the retry could not be queued; nothing was sent to Tavus")


@app.get(
    "/replicas",
    summary="List submissions, newest first",
    responses={200: {"description": "a page of submissions"}, 400: BAD_PARAMETERS},
)
def list_replicas(
    status: Annotated[Status | None, Query(description="only submissions in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 25,
    next: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="`next` of the previous page")
    ] = None,
) -> ReplicaPage:
    page = list_submissions(store(), status=status, limit=limit, cursor=next)
    return ReplicaPage(items=[Replica(**item) for item in page.items], next=page.next)


@app.get(
    "/replicas/by-replica/<replica_id>",
    summary="One submission, by Tavus replica id",
    responses={200: {"description": "the submission"}, 400: BAD_PARAMETERS, 404: NOT_FOUND},
)
def get_by_replica_id(replica_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Replica:
    item = store().find_by_replica_id(replica_id)
    if item is None:
        raise NotFoundError(f"no submission has replica_id {replica_id!r}")
    return Replica(**public(item))


@app.get(
    "/replicas/<submission_id>",
    summary="One submission, by submission id",
    responses={200: {"description": "the submission"}, 400: BAD_PARAMETERS, 404: NOT_FOUND},
)
def get_replica(submission_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Replica:
    item = store().get(submission_id)
    if item is None:
        raise NotFoundError(f"no submission {submission_id!r}")
    return Replica(**public(item))


RETRY_RESOURCE = "/replicas/{submission_id}/retry"  # API Gateway's name for the route


@app.post(
    "/replicas/<submission_id>/retry",
    summary="Retry a failed submission as a new attempt",
    description=(
        "Sends the same videos to Tavus again, with fresh pre-signed URLs, as attempt "
        "`attempts + 1` of the same submission (history kept). Only `error` items can be "
        "retried. Exactly one new Create Replica per attempt, however often it is requested."
    ),
    responses={
        202: {
            "description": "the new attempt was started (or, for a repeat, already had been)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Replica"}}},
        },
        400: BAD_PARAMETERS,
        404: NOT_FOUND,
        409: NOT_RETRYABLE,
        415: _error_response("a body that is not JSON"),
        503: NOT_QUEUED,
    },
)
def retry_replica(
    submission_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: Annotated[RetryBody | None, Body()] = None,
) -> Response[str]:
    answer = request_retry(
        store(),
        runtime.send_to_ingest_queue,
        submission_id,
        body.attempt if body else None,
        utc_now(),
    )
    logger.info(
        "retry requested",
        extra={
            "submission_id": submission_id,
            "attempt": answer.item.get("attempts"),
            "replayed": answer.replayed,
        },
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=Replica(**public(answer.item)).model_dump_json(),
    )


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="replica-pipeline status API", version="1.0.0"),
    )


OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


READ_ONLY = "this resource is read-only: use GET"


@app.route("/replicas", method=OTHER_METHODS, include_in_schema=False)
@app.route("/openapi.json", method=OTHER_METHODS, include_in_schema=False)
def refuse_writes() -> Response[str]:
    return json_error(405, READ_ONLY, allow="GET")


@app.route(
    "/replicas/<submission_id>/retry",
    method=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def refuse_other_retry_methods(submission_id: str) -> Response[str]:
    return json_error(405, "a retry is requested with POST", allow="POST")


@app.route("/replicas/<submission_id>", method=OTHER_METHODS, include_in_schema=False)
def refuse_item_writes(submission_id: str) -> Response[str]:
    return json_error(405, READ_ONLY, allow="GET")


@app.route("/replicas/by-replica/<replica_id>", method=OTHER_METHODS, include_in_schema=False)
def refuse_replica_writes(replica_id: str) -> Response[str]:
    return json_error(405, READ_ONLY, allow="GET")


@app.exception_handler(RequestValidationError)
def bad_parameters(error: RequestValidationError) -> Response[str]:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e.get('loc', ())[1:])}: {e.get('msg')}"
        for e in error.errors()
    )
    return json_error(400, problems or "bad parameters")


@app.exception_handler(BadCursor)
def bad_cursor(error: BadCursor) -> Response[str]:
    return json_error(400, str(error))


@app.exception_handler(RetryNotFound)
def retry_not_found(error: RetryNotFound) -> Response[str]:
    return json_error(404, str(error))


@app.exception_handler(RetryRefused)
def retry_refused(error: RetryRefused) -> Response[str]:
    return json_error(409, str(error))


@app.exception_handler(RetryNotQueued)
def retry_not_queued(error: RetryNotQueued) -> Response[str]:
    return json_error(503, str(error))


@app.exception_handler(NotFoundError)
def not_found(error: NotFoundError) -> Response[str]:
    return json_error(404, str(error.msg))


# Request counts, latency and errors come from API Gateway's own metrics.
@logger.inject_lambda_context
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Checked before the resolver, whose body parsing fails on some malformed media types
    # (multipart without a boundary) before any route or error handler could answer.
    if event.get("resource") == RETRY_RESOURCE:
        if not _json_or_no_body(event):
            return proxy_json_error(
                415, "send the retry body as JSON (Content-Type: application/json), or no body"
            )
        if not _utf8_body(event):  # the resolver would fail decoding it (a 502)
            return proxy_json_error(400, "the retry body is not UTF-8 JSON")
    return app.resolve(event, context)


def _utf8_body(event: dict[str, Any]) -> bool:
    """Whether the body (API Gateway base64-encodes a binary one) is UTF-8 text."""
    body = event.get("body")
    if not body or not event.get("isBase64Encoded"):
        return True
    try:
        base64.b64decode(str(body), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return False
    return True


def _json_or_no_body(event: dict[str, Any]) -> bool:
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    return not event.get("body") or media_type in ("", "application/json")

"""Status API Lambda: read submissions over REST (IAM-authorized in AWS).

``GET /replicas``, ``GET /replicas/{submission_id}``,
``GET /replicas/by-replica/{replica_id}`` and ``GET /openapi.json``, whose
document Powertools generates from the typed routes and models below.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from replica_pipeline import runtime
from replica_pipeline.handlers.responses import json_error
from replica_pipeline.observability import traced
from replica_pipeline.states import Status
from replica_pipeline.status_query import CURSOR_PATTERN, BadCursor, list_submissions, public
from replica_pipeline.store import ReplicaStore

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
    attempts: int = 0
    history: list[HistoryEntry] = []


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


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="replica-pipeline status API", version="1.0.0"),
    )


OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


READ_ONLY = "the status API is read-only: use GET"


@app.route("/replicas", method=OTHER_METHODS, include_in_schema=False)
@app.route("/openapi.json", method=OTHER_METHODS, include_in_schema=False)
def refuse_writes() -> Response[str]:
    return json_error(405, READ_ONLY, allow="GET")


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


@app.exception_handler(NotFoundError)
def not_found(error: NotFoundError) -> Response[str]:
    return json_error(404, str(error.msg))


# Request counts, latency and errors come from API Gateway's own metrics.
@logger.inject_lambda_context
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

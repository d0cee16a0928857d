"""Status API Lambda: read submissions over REST, and retry failed ones (IAM-authorized in AWS).

``GET /replicas``, ``GET /replicas/{submission_id}``,
``GET /replicas/by-replica/{replica_id}``, ``POST /replicas/{submission_id}/retry``
and ``GET /openapi.json``, whose document Powertools generates from the typed
routes and models below.
"""

from __future__ import annotations

import base64
import inspect
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from replica_pipeline import runtime
from replica_pipeline.adapters.store.repository import ReplicaStore
from replica_pipeline.clock import utc_now
from replica_pipeline.contracts.routes import (
    GET_BY_REPLICA_ID,
    GET_REPLICA,
    HTTP_METHODS,
    LIST_REPLICAS,
    OPENAPI_DOCUMENT,
    RETRY_REPLICA,
    ROUTES,
    STATUS_FUNCTION,
    Route,
)
from replica_pipeline.handlers.responses import json_error, proxy_json_error
from replica_pipeline.handlers.status_models import ErrorBody, Replica, ReplicaPage, RetryBody
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


@runtime.per_container
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
    LIST_REPLICAS.resolver_path,
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
    GET_BY_REPLICA_ID.resolver_path,
    summary="One submission, by Tavus replica id",
    responses={200: {"description": "the submission"}, 400: BAD_PARAMETERS, 404: NOT_FOUND},
)
def get_by_replica_id(replica_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Replica:
    item = store().find_by_replica_id(replica_id)
    if item is None:
        raise NotFoundError(f"no submission has replica_id {replica_id!r}")
    return Replica(**public(item))


@app.get(
    GET_REPLICA.resolver_path,
    summary="One submission, by submission id",
    responses={200: {"description": "the submission"}, 400: BAD_PARAMETERS, 404: NOT_FOUND},
)
def get_replica(submission_id: Annotated[str, Path(min_length=1, max_length=128)]) -> Replica:
    item = store().get(submission_id)
    if item is None:
        raise NotFoundError(f"no submission {submission_id!r}")
    return Replica(**public(item))


RETRY_RESOURCE = RETRY_REPLICA.path  # API Gateway's name for the route


@app.post(
    RETRY_REPLICA.resolver_path,
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


@app.get(OPENAPI_DOCUMENT.resolver_path, include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=app.get_openapi_json_schema(title="replica-pipeline status API", version="1.0.0"),
    )


READ_ONLY = "this resource is read-only: use GET"
REFUSALS = {"GET": READ_ONLY, "POST": "a retry is requested with POST"}


def _refuse_other_methods(route: Route) -> None:
    """Answer 405, naming the one method the route takes, to every other method on its path."""
    reason = REFUSALS[route.method]

    def refuse(**_path_parameters: str) -> Response[str]:
        return json_error(405, reason, allow=route.method)

    # The resolver's validation reads the signature: name the path's parameters in it.
    refuse.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
            for name in route.path_parameters
        ]
    )
    others = [method for method in HTTP_METHODS if method != route.method]
    app.route(route.resolver_path, method=others, include_in_schema=False)(refuse)


for _route in ROUTES:
    if _route.function == STATUS_FUNCTION:
        _refuse_other_methods(_route)


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
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
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

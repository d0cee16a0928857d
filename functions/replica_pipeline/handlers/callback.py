"""Callback Lambda: ``POST /callbacks/tavus?submission=…&token=…`` from Tavus, via API Gateway."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from replica_pipeline import runtime
from replica_pipeline.adapters.tavus import TavusClient
from replica_pipeline.config import load_settings
from replica_pipeline.contracts.routes import HTTP_METHODS, TAVUS_CALLBACK
from replica_pipeline.handlers.responses import json_error
from replica_pipeline.observability import (
    CALLBACKS_APPLIED,
    CALLBACKS_UNCHANGED,
    METRICS_NAMESPACE,
    callbacks_refused_metric,
    traced,
)
from replica_pipeline.rules.callback_token import SUBMISSION_PARAMETER, TOKEN_PARAMETER
from replica_pipeline.services.callbacks import (
    CallbackDependencies,
    CallbackRefused,
    confirming_settings,
    describe,
    handle_callback,
)

logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)
app = APIGatewayRestResolver()


@runtime.per_container
def dependencies() -> CallbackDependencies:
    return CallbackDependencies(
        store=runtime.replica_store(),
        callback_key=runtime.callback_key,
        tavus=_confirming_client,
    )


def _confirming_client() -> TavusClient:
    return runtime.tavus_client(confirming_settings(load_settings().tavus))


@app.post(TAVUS_CALLBACK.resolver_path)
def receive_callback() -> dict[str, Any]:
    event = app.current_event
    query = event.query_string_parameters or {}
    body = event.decoded_body.encode("utf-8") if event.decoded_body else b""
    result = handle_callback(
        query.get(TOKEN_PARAMETER), body, dependencies(), query.get(SUBMISSION_PARAMETER)
    )
    metrics.add_metric(
        name=CALLBACKS_APPLIED if result.changed else CALLBACKS_UNCHANGED,
        unit=MetricUnit.Count,
        value=1,
    )
    logger.info("callback handled", extra=describe(result))
    return describe(result)


@app.route(
    TAVUS_CALLBACK.resolver_path,
    method=[method for method in HTTP_METHODS if method != TAVUS_CALLBACK.method],
)
def wrong_method() -> Response[str]:
    metrics.add_metric(name=callbacks_refused_metric(405), unit=MetricUnit.Count, value=1)
    return json_error(405, f"use {TAVUS_CALLBACK.method}", allow=TAVUS_CALLBACK.method)


@app.exception_handler(CallbackRefused)
def refuse(error: CallbackRefused) -> Response[str]:
    metrics.add_metric(
        name=callbacks_refused_metric(error.status_code), unit=MetricUnit.Count, value=1
    )
    logger.warning(
        "callback refused", extra={"status_code": error.status_code, "reason": str(error)}
    )
    return json_error(error.status_code, str(error))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""The JSON error answer both HTTP handlers give: ``{"error": "<what went wrong>"}``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types


def json_error(status_code: int, message: str, allow: str | None = None) -> Response[str]:
    """An error response; ``allow`` lists the methods a 405 should name (RFC 9110)."""
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": message}),
        headers={"Allow": allow} if allow else None,
    )


def proxy_json_error(status_code: int, message: str) -> dict[str, Any]:
    """The same error as a finished API Gateway proxy response, for answers given before
    the resolver runs."""
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"error": message}),
        "isBase64Encoded": False,
    }

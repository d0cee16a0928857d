"""API Gateway REST (Lambda proxy) events, built the way AWS builds them from an HTTP request.

Used by the local HTTP adapter and by tests: the query string is decoded as
API Gateway decodes it, headers come single- and multi-valued, and a body that
is not UTF-8 text arrives base64-encoded.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl


def rest_proxy_event(
    method: str,
    raw_path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    stage: str = "local",
    query: str | None = None,
) -> dict[str, Any]:
    """The event for ``method raw_path`` (path plus any query string) on ``resource``.

    Pass ``query`` separately when ``raw_path`` is an already decoded path, which
    may itself contain a ``?``.
    """
    if query is None:
        # Split by hand: urlsplit would silently drop control characters from the path.
        path, _, query = raw_path.partition("?")
    else:
        path = raw_path
    pairs = parse_qsl(query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    header_map = dict(headers or {})
    text_body: str | None = None
    is_base64 = False
    if body:
        try:
            text_body = body.decode("utf-8")
        except UnicodeDecodeError:
            text_body, is_base64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": header_map or None,
        "multiValueHeaders": {k: [v] for k, v in header_map.items()} or None,
        # API Gateway keeps the last value of a repeated parameter here.
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": header_map.get("User-Agent")},
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }

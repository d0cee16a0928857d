"""The REST API's routes, declared once: the handlers, the CDK app and the local stack read them.

Plain data on purpose (no CDK, no Powertools), so any of the three can import it cheaply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Auth(StrEnum):
    IAM = "iam"  # SigV4-signed callers (the status API)
    SIGNED_URL = "signed_url"  # no IAM: Tavus signs nothing; an HMAC token in the URL


@dataclass(frozen=True)
class Route:
    method: str
    # API Gateway's resource path, parameters in braces: ``/replicas/{submission_id}``.
    path: str
    # The handler module (``replica_pipeline.handlers.<function>``) that serves it.
    function: str
    auth: Auth
    # Query string parameters API Gateway lets through (all optional).
    query_parameters: tuple[str, ...] = ()

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    @property
    def resolver_path(self) -> str:
        """The path as Powertools' resolver writes it: ``/replicas/<submission_id>``."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)


STATUS_FUNCTION = "status_api"
CALLBACK_FUNCTION = "callback"

LIST_REPLICAS = Route(
    "GET", "/replicas", STATUS_FUNCTION, Auth.IAM, query_parameters=("status", "limit", "next")
)
GET_REPLICA = Route("GET", "/replicas/{submission_id}", STATUS_FUNCTION, Auth.IAM)
GET_BY_REPLICA_ID = Route("GET", "/replicas/by-replica/{replica_id}", STATUS_FUNCTION, Auth.IAM)
OPENAPI_DOCUMENT = Route("GET", "/openapi.json", STATUS_FUNCTION, Auth.IAM)
RETRY_REPLICA = Route("POST", "/replicas/{submission_id}/retry", STATUS_FUNCTION, Auth.IAM)
TAVUS_CALLBACK = Route("POST", "/callbacks/tavus", CALLBACK_FUNCTION, Auth.SIGNED_URL)

# In the order API Gateway's methods are created (the template's order).
ROUTES: tuple[Route, ...] = (
    LIST_REPLICAS,
    GET_REPLICA,
    GET_BY_REPLICA_ID,
    OPENAPI_DOCUMENT,
    RETRY_REPLICA,
    TAVUS_CALLBACK,
)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

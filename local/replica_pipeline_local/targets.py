"""Where the pipeline runs: the local stack (``.local/stack.json``) or a deployed stack.

Everything the CLI needs (bucket, queues, API URL, how to sign) comes from here.
Deployed stacks are found by name from their outputs; their status API takes
SigV4-signed requests made with the user's own AWS credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

LOCAL = "local"

# CloudFormation output keys of the deployed stack (infra/), matched case-insensitively.
OUTPUT_BUCKET = "bucketname"
OUTPUT_UPLOAD_PREFIX = "uploadprefix"
OUTPUT_TABLE = "tablename"
OUTPUT_API_URL = "apiurl"
OUTPUT_QUEUE_URL = "ingestqueueurl"
OUTPUT_DLQ_URL = "ingestdlqurl"


class TargetError(Exception):
    """The stack cannot be found or reached; the message says what to do."""


@dataclass(frozen=True)
class Target:
    name: str
    region: str
    bucket: str
    upload_prefix: str
    table: str
    api_url: str
    queue_url: str
    dlq_url: str
    endpoint_url: str | None = None  # moto's, for the local stack
    access_key: str | None = None
    secret_key: str | None = None
    tavus_url: str | None = None

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    def client(self, service: str) -> Any:
        session = boto3.session.Session(
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )
        return session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def api_get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        """GET on the status API."""
        return self.api_request("GET", path, params=params)

    def api_request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> requests.Response:
        """One request to the status API; signed with SigV4 for a deployed stack (IAM auth).

        ``path`` starts with ``/`` and is relative to the API's base URL.
        """
        url = self.api_url.rstrip("/") + path
        prepared = requests.Request(method, url, params=params).prepare()
        headers: dict[str, str] = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        if not self.is_local:
            credentials = boto3.session.Session().get_credentials()
            if credentials is None:
                raise TargetError("no AWS credentials found to sign requests to the status API")
            request = AWSRequest(method=method, url=str(prepared.url), headers=headers, data=body)
            SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(
                request
            )
            headers = dict(request.headers.items())
        try:
            return requests.request(
                method, str(prepared.url), headers=headers, data=body, timeout=30
            )
        except requests.ConnectionError:
            raise TargetError(
                f"the status API at {self.api_url} does not answer"
                + ("; is the local stack running? (make up)" if self.is_local else "")
            ) from None


def load_target(stack: str | None, state_dir: Path) -> Target:
    """``--stack``: ``local`` (the default when ``.local/stack.json`` exists) or a stack name."""
    stack_json = state_dir / "stack.json"
    if stack in (None, LOCAL):
        if not stack_json.exists():
            if stack is None:
                raise TargetError(
                    "no stack to talk to: start the local one with `make up`, "
                    "or name a deployed stack with --stack NAME"
                )
            raise TargetError("the local stack is not running: start it with `make up`")
        return _local(json.loads(stack_json.read_text()))
    return _deployed(stack)


def _local(description: dict[str, Any]) -> Target:
    return Target(
        name=LOCAL,
        region=description["region"],
        bucket=description["bucket"],
        upload_prefix=description["upload_prefix"],
        table=description["table"],
        api_url=description["api_url"],
        queue_url=description["queue_url"],
        dlq_url=description["dlq_url"],
        endpoint_url=description["aws_endpoint_url"],
        access_key=description["aws_access_key_id"],
        secret_key=description["aws_secret_access_key"],
        tavus_url=description.get("tavus_url"),
    )


def _deployed(stack_name: str) -> Target:
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session()
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise TargetError(f"cannot read stack {stack_name!r}: {error}") from None
    outputs = {
        output["OutputKey"].lower(): output["OutputValue"]
        for output in stacks[0].get("Outputs", [])
    }

    def output(key: str) -> str:
        for name, value in outputs.items():
            if name.endswith(key):
                return str(value)
        raise TargetError(
            f"stack {stack_name!r} has no {key} output; is it a replica-pipeline stack?"
        )

    return Target(
        name=stack_name,
        region=session.region_name or "us-east-1",
        bucket=output(OUTPUT_BUCKET),
        upload_prefix=output(OUTPUT_UPLOAD_PREFIX),
        table=output(OUTPUT_TABLE),
        api_url=output(OUTPUT_API_URL),
        queue_url=output(OUTPUT_QUEUE_URL),
        dlq_url=output(OUTPUT_DLQ_URL),
    )

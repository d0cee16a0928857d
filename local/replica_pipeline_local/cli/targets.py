"""Where the pipeline runs: the local stack (``.local/stack.json``) or a deployed stack.

Everything the CLI needs (bucket, queues, API URL, how to sign) comes from here.
Deployed stacks are found by name from their outputs: in the file that
``cdk deploy --outputs-file`` wrote when there is one (no AWS call), else from
CloudFormation. Their status API takes SigV4-signed requests made with the
user's own AWS credentials.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from replica_pipeline.contracts import stack_outputs
from replica_pipeline_local.cli.stack_files import (
    Found,
    StackFileError,
    find_local_stack_json,
    find_outputs_file,
    local_stack_not_found,
    read_json_object,
)
from replica_pipeline_local.stack_description import LocalStackDescription

LOCAL = "local"


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


def resolve_target(
    stack: str | None,
    *,
    local_state: Path | None = None,
    outputs_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Target:
    """The CLI's ``--stack``, wherever it runs: ``local`` (the default) or a deployed stack.

    The local stack's ``stack.json`` comes from ``local_state`` (``--local-state``),
    ``$REPLICAS_LOCAL_STATE``, or ``.local/`` in ``cwd`` or a parent. A deployed stack is
    read from CDK's outputs file when one (``--outputs-file``, ``$REPLICAS_OUTPUTS_FILE``,
    ``cdk-outputs.json`` in ``cwd`` or a parent) names it, else from CloudFormation.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    try:
        if stack not in (None, LOCAL):
            return _deployed_from_outputs_file(stack, outputs_file, environ, cwd) or _deployed(
                stack
            )
        found = find_local_stack_json(local_state, environ, cwd)
        if found is None:
            if stack is None:
                raise TargetError(
                    f"no stack to talk to: {local_stack_not_found(cwd)}; "
                    "or name a deployed stack with --stack NAME"
                    + _stacks_in_outputs_file(outputs_file, environ, cwd)
                )
            raise TargetError(local_stack_not_found(cwd))
        return _local(read_json_object(found), found)
    except StackFileError as error:
        raise TargetError(str(error)) from None


def _local(description: Mapping[str, Any], found: Found) -> Target:
    try:
        stack = LocalStackDescription.from_dict(description)
    except KeyError as missing:
        raise TargetError(
            f"{found.path} ({found.source}) has no {missing} entry; "
            "is it a local stack's stack.json?"
        ) from None
    return Target(
        name=LOCAL,
        region=stack.region,
        bucket=stack.bucket,
        upload_prefix=stack.upload_prefix,
        table=stack.table,
        api_url=stack.api_url,
        queue_url=stack.queue_url,
        dlq_url=stack.dlq_url,
        endpoint_url=stack.aws_endpoint_url,
        access_key=stack.aws_access_key_id,
        secret_key=stack.aws_secret_access_key,
        tavus_url=stack.tavus_url,
    )


def _deployed(stack_name: str) -> Target:
    """A deployed stack read from CloudFormation (needs the user's AWS credentials)."""
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session()
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise TargetError(f"cannot read stack {stack_name!r}: {error}") from None
    outputs = {
        str(output["OutputKey"]): str(output["OutputValue"])
        for output in stacks[0].get("Outputs", [])
    }
    # describe_stacks answered in the session's region: that is the stack's.
    return target_from_outputs(stack_name, outputs, session.region_name)


def _deployed_from_outputs_file(
    stack_name: str, option: Path | None, environ: Mapping[str, str], cwd: Path
) -> Target | None:
    """The stack as CDK's outputs file records it; ``None`` to ask CloudFormation instead."""
    found = find_outputs_file(option, environ, cwd)
    if found is None:
        return None
    stacks = read_json_object(found)
    outputs = stacks.get(stack_name)
    if outputs is None:
        if found.explicit:
            # The user pointed at this file: a stack missing from it is a mistake to show.
            raise TargetError(
                f"{found.path} ({found.source}) has no stack {stack_name!r}; "
                f"it has: {', '.join(sorted(stacks)) or 'none'}"
            )
        return None
    if not isinstance(outputs, dict):
        raise TargetError(f"{found.path}: stack {stack_name!r} is not a JSON object of outputs")
    return target_from_outputs(
        stack_name,
        {str(key): str(value) for key, value in outputs.items()},
        boto3.session.Session().region_name,
    )


def _stacks_in_outputs_file(option: Path | None, environ: Mapping[str, str], cwd: Path) -> str:
    """A hint naming the deployed stacks an outputs file knows, for the "no stack" error."""
    try:
        found = find_outputs_file(option, environ, cwd)
        names = sorted(read_json_object(found)) if found else []
    except StackFileError:
        return ""  # the hint is optional: a broken file is reported when it is used
    if not found or not names:
        return ""
    return f" ({found.path} names {', '.join(names)})"


def target_from_outputs(
    stack_name: str, outputs: Mapping[str, str], configured_region: str | None
) -> Target:
    """A deployed stack from its outputs (output id → value), wherever they were read.

    Ids are matched exactly: the CDK stack writes them from the same constants.
    """

    def output(key: str) -> str:
        if key in outputs:
            return outputs[key]
        raise TargetError(
            f"stack {stack_name!r} has no {key} output; is it a replica-pipeline stack?"
        )

    api_url = output(stack_outputs.API_URL)
    queue_url = output(stack_outputs.INGEST_QUEUE_URL)
    region = (
        outputs.get(stack_outputs.REGION)
        or _region_in_url(api_url)
        or _region_in_url(queue_url)
        or configured_region
    )
    if not region:
        raise TargetError(
            f"cannot tell the region of stack {stack_name!r}: set AWS_REGION "
            "(or configure one with `aws configure`)"
        )
    return Target(
        name=stack_name,
        region=region,
        bucket=output(stack_outputs.UPLOADS_BUCKET_NAME),
        upload_prefix=output(stack_outputs.UPLOAD_PREFIX),
        table=output(stack_outputs.REPLICAS_TABLE_NAME),
        api_url=api_url,
        queue_url=queue_url,
        dlq_url=output(stack_outputs.INGEST_DLQ_URL),
    )


# A region as AWS spells them: eu-west-1, us-gov-west-1, cn-north-1, ap-southeast-5...
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# Regional hosts put the region right after the service label:
# <api>.execute-api.<region>.amazonaws.com, sqs.<region>.amazonaws.com.
_SERVICE_LABELS = ("execute-api", "sqs")


def _region_in_url(url: str) -> str | None:
    from urllib.parse import urlsplit

    labels = (urlsplit(url).hostname or "").split(".")
    for index, label in enumerate(labels[:-1]):
        if label in _SERVICE_LABELS and _REGION.match(labels[index + 1]):
            return labels[index + 1]
    return None

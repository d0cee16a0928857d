"""AWS clients and secrets, made once per container and only when first used.

Creating a boto3 client costs ~130 ms of CPU (service model loading), so no
handler builds one at import time. boto3 honours ``AWS_ENDPOINT_URL``, which is
how the same code talks to moto's server locally.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

SECRET_CACHE_SECONDS = 300


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@cache
def s3_client() -> S3Client:
    return boto3.client("s3", region_name=region())


@cache
def events_client() -> EventBridgeClient:
    return boto3.client("events", region_name=region())


@cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs", region_name=region())


@cache
def replicas_table(table_name: str) -> Table:
    return boto3.resource("dynamodb", region_name=region()).Table(table_name)


def secret_text(secret_arn: str) -> str:
    """A secret's string value, cached for a few minutes so rotations are picked up."""
    from aws_lambda_powertools.utilities import parameters

    return parameters.get_secret(secret_arn, max_age=SECRET_CACHE_SECONDS)

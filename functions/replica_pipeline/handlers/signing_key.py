"""Custom resource (CDK Provider framework): the CloudFront key pair of the cloudfront signer.

Create makes an RSA-2048 key pair, writes the private key (and the serial that asked for
it) to the key secret, and answers only the public key, which becomes the distribution's
``AWS::CloudFront::PublicKey``. The private key never leaves Secrets Manager and this
function. A new ``signer_key_serial`` replaces the resource, so CloudFormation makes a
new pair, then deletes the old resource; when a failed deployment rolls a new pair
back, Delete puts the previous private key back in the secret.
"""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from replica_pipeline.adapters.aws import region

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

logger = Logger()

RSA_KEY_BITS = 2048  # what CloudFront accepts for signed URLs (RSA 2048)
PUBLIC_KEY_ATTRIBUTE = "PublicKeyPem"
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


@cache
def secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", region_name=region())


def new_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh RSA-2048 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return private_pem, public_pem_of(private_pem)


def public_pem_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def physical_id(serial: str) -> str:
    return f"cloudfront-signing-key-{serial}"


def on_event(event: dict[str, Any], secrets: SecretsManagerClient) -> dict[str, Any]:
    """Create, Update or Delete, as the Provider framework calls them."""
    properties = event["ResourceProperties"]
    secret_arn, serial = str(properties["SecretArn"]), str(properties["Serial"])
    request = event["RequestType"]
    if request == "Delete":
        try:
            _restore_previous_key(secrets, secret_arn, serial)
        except ClientError:
            # A secret already gone (or going) has nothing to restore; never block a delete.
            logger.exception("could not restore the previous CloudFront signing key")
        return {"PhysicalResourceId": event["PhysicalResourceId"]}
    if request == "Update" and event.get("PhysicalResourceId") == physical_id(serial):
        current = _stored(secrets, secret_arn, CURRENT)
        if current is not None and current.get("serial") == serial:
            # Same serial, same secret: keep the pair, answer its public key again.
            public_pem = public_pem_of(str(current["private_key_pem"]))
            return {"PhysicalResourceId": physical_id(serial), "Data": _data(public_pem)}
    private_pem, public_pem = new_key_pair()
    secrets.put_secret_value(
        SecretId=secret_arn,
        SecretString=json.dumps({"private_key_pem": private_pem, "serial": serial}),
    )
    logger.info("new CloudFront signing key", extra={"serial": serial})
    return {"PhysicalResourceId": physical_id(serial), "Data": _data(public_pem)}


def _data(public_pem: str) -> dict[str, str]:
    return {PUBLIC_KEY_ATTRIBUTE: public_pem}


def _stored(secrets: SecretsManagerClient, secret_arn: str, stage: str) -> dict[str, Any] | None:
    try:
        answer = secrets.get_secret_value(SecretId=secret_arn, VersionStage=stage)
    except secrets.exceptions.ResourceNotFoundException:
        return None
    try:
        value = json.loads(answer["SecretString"])
    except (KeyError, json.JSONDecodeError):
        return None  # the placeholder the secret was created with
    return {**value, "version_id": answer["VersionId"]} if isinstance(value, dict) else None


def _restore_previous_key(secrets: SecretsManagerClient, secret_arn: str, serial: str) -> None:
    """Deleting the pair the secret holds now (a rolled-back rotation, or the stack going):
    make the previous private key current again, so it matches the public key that stays."""
    current = _stored(secrets, secret_arn, CURRENT)
    if current is None or current.get("serial") != serial:
        return  # an old pair after a successful rotation: the secret holds the new one
    previous = _stored(secrets, secret_arn, PREVIOUS)
    if previous is None or "private_key_pem" not in previous:
        return
    secrets.update_secret_version_stage(
        SecretId=secret_arn,
        VersionStage=CURRENT,
        MoveToVersionId=previous["version_id"],
        RemoveFromVersionId=current["version_id"],
    )
    logger.info("restored the previous CloudFront signing key", extra={"serial": serial})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return on_event(event, secrets_client())

"""Create, on moto's server, the AWS resources the CDK stack would create in AWS.

Same table schema (imported from the functions package), same bucket
notification, same queue and dead-letter queue, same secrets, and a signer IAM
user whose long-lived key (``AKIA…``) signs the pre-signed URLs, as in AWS.

With ``signer="cloudfront"`` it also makes the CloudFront key pair the way the CDK
stack's custom resource does (the same handler code writes the private key to a
secret and answers the public key), for the loopback stand-in of the distribution
(``replica_pipeline_local.stack.cloudfront_edge``). The signer user is made all the same:
the handlers of a cloudfront stack are never told about it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import boto3

from replica_pipeline.adapters.events import DETAIL_TYPE, EVENT_SOURCE
from replica_pipeline.config import DEFAULT_SIGNER, DEFAULT_UPLOAD_PREFIX, SIGNER_CLOUDFRONT
from replica_pipeline.contracts.table_schema import create_table_request

UPLOAD_PREFIX = DEFAULT_UPLOAD_PREFIX
DLQ_MAX_RECEIVE_COUNT = 3


@dataclass(frozen=True)
class LocalResources:
    region: str
    bucket: str
    upload_prefix: str
    table: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    tavus_api_key_secret_arn: str
    callback_hmac_secret_arn: str
    signer_secret_arn: str
    signer_user: str
    event_bus: str
    events_queue_url: str
    # The cloudfront signer's key pair (None with the iam_user signer).
    cloudfront_key_secret_arn: str | None = None
    cloudfront_key_pair_id: str | None = None
    cloudfront_public_key_pem: str | None = None
    cloudfront_key_serial: str = "1"
    # The deep check's queue and dead-letter queue (None unless deep_check is on).
    deep_check_queue_url: str | None = None
    deep_check_queue_arn: str | None = None
    deep_check_dlq_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _session(region: str) -> boto3.session.Session:
    """One session per region for every bootstrap of this process: a new session loads each
    service's model again (about 0.5 s for the six clients), which tests pay per pipeline."""
    return boto3.session.Session(region_name=region)


def bootstrap(
    *,
    endpoint_url: str,
    region: str,
    tavus_api_key: str,
    stage: str = "local",
    visibility_timeout_seconds: int = 30,
    signer: str = DEFAULT_SIGNER,
    deep_check: bool = False,
) -> LocalResources:
    session = _session(region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    s3, sqs, dynamodb, events = client("s3"), client("sqs"), client("dynamodb"), client("events")
    secretsmanager, iam = client("secretsmanager"), client("iam")
    bucket = f"replica-pipeline-{stage}-uploads"
    table = f"replica-pipeline-{stage}-replicas"

    queue_url, queue_arn, dlq_url = _queue_with_dlq(
        sqs, f"replica-pipeline-{stage}-ingest", visibility_timeout_seconds
    )
    deep_check_queue_url = deep_check_queue_arn = deep_check_dlq_url = None
    if deep_check:
        deep_check_queue_url, deep_check_queue_arn, deep_check_dlq_url = _queue_with_dlq(
            sqs, f"replica-pipeline-{stage}-deep-check", visibility_timeout_seconds
        )

    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}
                    },
                }
            ]
        },
    )
    dynamodb.create_table(**create_table_request(table))

    signer_user = f"replica-pipeline-{stage}-signer"
    iam.create_user(UserName=signer_user)
    iam.put_user_policy(
        UserName=signer_user,
        PolicyName="read-uploads",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        # GetObjectVersion: the pre-signed URLs name the version.
                        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                        "Resource": f"arn:aws:s3:::{bucket}/{UPLOAD_PREFIX}*",
                    }
                ],
            }
        ),
    )
    access_key = iam.create_access_key(UserName=signer_user)["AccessKey"]

    # Status events: a custom bus, and a rule that copies them to a queue people can watch.
    event_bus = f"replica-pipeline-{stage}"
    events.create_event_bus(Name=event_bus)
    events_queue_url = sqs.create_queue(QueueName=f"replica-pipeline-{stage}-status-events")[
        "QueueUrl"
    ]
    events_queue_arn = sqs.get_queue_attributes(
        QueueUrl=events_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    events.put_rule(
        Name="status-events-to-queue",
        EventBusName=event_bus,
        EventPattern=json.dumps({"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}),
    )
    events.put_targets(
        Rule="status-events-to-queue",
        EventBusName=event_bus,
        Targets=[{"Id": "queue", "Arn": events_queue_arn}],
    )

    def secret(name: str, value: str) -> str:
        arn: str = secretsmanager.create_secret(
            Name=f"replica-pipeline/{stage}/{name}", SecretString=value
        )["ARN"]
        return arn

    key_pair = _cloudfront_key_pair(secretsmanager, stage) if signer == SIGNER_CLOUDFRONT else None

    return LocalResources(
        region=region,
        bucket=bucket,
        upload_prefix=UPLOAD_PREFIX,
        table=table,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        tavus_api_key_secret_arn=secret("tavus-api-key", tavus_api_key),
        callback_hmac_secret_arn=secret("callback-hmac-key", secrets.token_hex(32)),
        signer_secret_arn=secret(
            "signer-key",
            json.dumps(
                {
                    "access_key_id": access_key["AccessKeyId"],
                    "secret_access_key": access_key["SecretAccessKey"],
                }
            ),
        ),
        signer_user=signer_user,
        event_bus=event_bus,
        events_queue_url=events_queue_url,
        cloudfront_key_secret_arn=key_pair.secret_arn if key_pair else None,
        cloudfront_key_pair_id=key_pair.key_pair_id if key_pair else None,
        cloudfront_public_key_pem=key_pair.public_key_pem if key_pair else None,
        cloudfront_key_serial=key_pair.serial if key_pair else "1",
        deep_check_queue_url=deep_check_queue_url,
        deep_check_queue_arn=deep_check_queue_arn,
        deep_check_dlq_url=deep_check_dlq_url,
    )


def _queue_with_dlq(sqs: Any, name: str, visibility_timeout_seconds: int) -> tuple[str, str, str]:
    """A queue whose poison messages go to ``<name>-dlq``: its URL, its ARN, the DLQ's URL."""
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
    )["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": _arn(sqs, dlq_url),
                    "maxReceiveCount": str(DLQ_MAX_RECEIVE_COUNT),
                }
            ),
        },
    )["QueueUrl"]
    return queue_url, _arn(sqs, queue_url), dlq_url


def _arn(sqs: Any, queue_url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return arn


@dataclass(frozen=True)
class _CloudFrontKeyPair:
    secret_arn: str
    key_pair_id: str
    public_key_pem: str
    serial: str


def _cloudfront_key_pair(secretsmanager: Any, stage: str) -> _CloudFrontKeyPair:
    """The key pair as the stack's custom resource makes it, with an id like CloudFront's."""
    from replica_pipeline.handlers.signing_key import PUBLIC_KEY_ATTRIBUTE, on_event

    serial = "1"
    arn: str = secretsmanager.create_secret(
        Name=f"replica-pipeline/{stage}/cloudfront-signing-key",
        SecretString="placeholder until the key pair is made",
    )["ARN"]
    answer = on_event(
        {"RequestType": "Create", "ResourceProperties": {"SecretArn": arn, "Serial": serial}},
        secretsmanager,
    )
    return _CloudFrontKeyPair(
        secret_arn=arn,
        # CloudFront's public key ids: K and 13 upper-case letters and digits.
        key_pair_id="K" + secrets.token_hex(7).upper()[:13],
        public_key_pem=answer["Data"][PUBLIC_KEY_ATTRIBUTE],
        serial=serial,
    )


def lambda_environment(
    resources: LocalResources,
    *,
    tavus_url: str,
    callback_base_url: str,
    cloudfront_url: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The environment the handlers get, named by the settings module (as the CDK stack does).

    ``cloudfront_url`` (the distribution's stand-in) switches the handlers to the
    cloudfront signer, as ``infra.signers.cloudfront_environment`` does in AWS.
    """
    from replica_pipeline import config

    environment = {
        config.TABLE_NAME: resources.table,
        config.UPLOAD_PREFIX: resources.upload_prefix,
        config.TAVUS_API_URL: tavus_url,
        config.TAVUS_API_KEY_SECRET_ARN: resources.tavus_api_key_secret_arn,
        config.CALLBACK_BASE_URL: callback_base_url,
        config.CALLBACK_HMAC_SECRET_ARN: resources.callback_hmac_secret_arn,
        config.SIGNER_SECRET_ARN: resources.signer_secret_arn,
        config.EVENT_BUS_NAME: resources.event_bus,
        config.INGEST_QUEUE_URL: resources.queue_url,
        "POWERTOOLS_SERVICE_NAME": "replica-pipeline",
    }
    if resources.deep_check_queue_url is not None:
        environment[config.DEEP_CHECK_QUEUE_URL] = resources.deep_check_queue_url
    if cloudfront_url is not None:
        if resources.cloudfront_key_pair_id is None or resources.cloudfront_key_secret_arn is None:
            raise ValueError("bootstrap with signer='cloudfront' to sign with CloudFront")
        del environment[config.SIGNER_SECRET_ARN]
        environment.update(
            {
                config.SIGNER: config.SIGNER_CLOUDFRONT,
                config.CLOUDFRONT_URL: cloudfront_url,
                config.CLOUDFRONT_KEY_PAIR_ID: resources.cloudfront_key_pair_id,
                config.CLOUDFRONT_KEY_SECRET_ARN: resources.cloudfront_key_secret_arn,
                config.CLOUDFRONT_KEY_SERIAL: resources.cloudfront_key_serial,
            }
        )
    environment.update(overrides)
    return environment

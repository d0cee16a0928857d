"""The three secrets the functions read, and the signer: a long-lived IAM user key.

Pre-signed URLs die with the credentials that signed them, and a Lambda role's
credentials live for hours at most; Tavus may download a day later. So the
ingest function signs with the access key of a dedicated IAM user that can read
uploads and nothing else (see ``replica_pipeline.presigner``).

Rotation
--------
- Signer key: increment the ``signer_key_serial`` setting (cdk.json) and deploy.
  CloudFormation creates the new key, stores it in the signer secret, then
  deletes the old one. The functions re-read the secret within five minutes
  (``replica_pipeline.aws.SECRET_CACHE_SECONDS``). URLs already handed to Tavus
  were signed with the old key and stop working when it is deleted, so rotate
  when no submission entered ``training`` in the last hour (Tavus downloads
  the videos right after Create Replica).
- Tavus API key: issued by Tavus; replace it there, then
  ``aws secretsmanager put-secret-value`` (the README, "Deploy to AWS").
- Callback HMAC key: ``aws secretsmanager rotate-secret`` has no rotation
  function here; write a new random value with ``put-secret-value``. Callback
  URLs of trainings still in flight carry tokens made with the old key and will
  be refused (401/403); the reconciler then heals those items with Get Replica.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.checkov import skip_checks
from infra.nag import acknowledge
from infra.storage import UploadsBucket
from replica_pipeline.config import TAVUS_API_KEY_PLACEHOLDER

HMAC_KEY_LENGTH = 64


@dataclass(frozen=True)
class PipelineSecretsProps:
    uploads: UploadsBucket
    removal_policy: RemovalPolicy
    # Incrementing it replaces the signer's access key (see "Rotation" above).
    signer_key_serial: int = 1


class PipelineSecrets(Construct):
    """The Tavus API key, the callback HMAC key, and the signer user with its key in a secret."""

    def __init__(self, scope: Construct, construct_id: str, props: PipelineSecretsProps) -> None:
        super().__init__(scope, construct_id)

        self.tavus_api_key = secretsmanager.Secret(
            self,
            "TavusApiKey",
            description="Tavus API key (x-api-key); replace the placeholder after deploying.",
            secret_string_value=SecretValue.unsafe_plain_text(TAVUS_API_KEY_PLACEHOLDER),
            removal_policy=props.removal_policy,
        )
        acknowledge(
            self.tavus_api_key,
            "AwsSolutions-SMG4",
            "The Tavus API key is issued by Tavus; only Tavus can mint a new one, so "
            "there is nothing for a Secrets Manager rotation function to do.",
        )

        self.callback_hmac_key = secretsmanager.Secret(
            self,
            "CallbackHmacKey",
            description="Key of the HMAC tokens in the callback URLs given to Tavus.",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=HMAC_KEY_LENGTH,
                exclude_punctuation=True,
            ),
            removal_policy=props.removal_policy,
        )
        acknowledge(
            self.callback_hmac_key,
            "AwsSolutions-SMG4",
            "Rotating the callback HMAC key invalidates the tokens in the callback "
            "URLs of trainings in flight, so it is rotated by hand when none are "
            "(infra/secrets.py, 'Rotation').",
        )

        # The signer may read uploads and nothing else: one statement, written here rather
        # than bucket.grant_read (which adds s3:GetBucket*, s3:List* and every object). The
        # policy goes to a group of its own, the signer's only group (IAM's advice: no
        # policies on users).
        self.signer_group = iam.Group(self, "SignerGroup")
        self.signer = iam.User(self, "Signer", groups=[self.signer_group])
        self.signer_policy = iam.Policy(
            self,
            "SignerPolicy",
            statements=[
                props.uploads.read_uploads_statement(),
                # With the bucket_kms setting, reading an object also means decrypting it.
                *props.uploads.decrypt_statements(),
            ],
            groups=[self.signer_group],
        )
        acknowledge(
            self.signer_policy,
            f"AwsSolutions-IAM5[Resource::{props.uploads.uploads_nag_resource()}]",
            "The signer signs GET URLs for any upload that arrives, so it reads every object "
            "under the upload prefix (and only there); object keys are not known in advance.",
        )

        self.signer_key = iam.AccessKey(
            self, "SignerKey", user=self.signer, serial=props.signer_key_serial
        )
        self.signer_credentials = secretsmanager.Secret(
            self,
            "SignerCredentials",
            description="Access key of the signer IAM user (pre-signs Tavus download URLs).",
            secret_object_value={
                # The exact keys replica_pipeline.presigner.SignerCredentials.from_secret reads.
                "access_key_id": SecretValue.unsafe_plain_text(self.signer_key.access_key_id),
                "secret_access_key": self.signer_key.secret_access_key,
            },
            removal_policy=props.removal_policy,
        )
        acknowledge(
            self.signer_credentials,
            "AwsSolutions-SMG4",
            "The signer key is rotated through CloudFormation (signer_key_serial), "
            "which replaces the IAM access key and this value together; a rotation "
            "function would fork that state out of the stack.",
        )

        for secret in self.all_secrets:
            skip_checks(
                secret,
                CKV_AWS_149="Encrypted with the AWS-managed key aws/secretsmanager; only the "
                "functions' roles may read each secret, which IAM enforces per secret ARN.",
            )

    @property
    def all_secrets(self) -> tuple[secretsmanager.Secret, ...]:
        return (self.tavus_api_key, self.callback_hmac_key, self.signer_credentials)

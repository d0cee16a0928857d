"""The three secrets the functions read, and the signer: a long-lived IAM user key.

With the ``signer=cloudfront`` setting there is no signer user, key or secret here:
CloudFront signed URLs replace them (infra/signers.py).

Pre-signed URLs die with the credentials that signed them, and a Lambda role's
credentials live for hours at most; Tavus may download a day later. So the
ingest function signs with the access key of a dedicated IAM user that can read
uploads and nothing else (see ``replica_pipeline.adapters.presigner``).

Rotation
--------
- Signer key: increment the ``signer_key_serial`` setting (cdk.json) and deploy.
  CloudFormation creates the new key, stores it in the signer secret, then
  deletes the old one. The functions re-read the secret within five minutes
  (``replica_pipeline.adapters.aws.SECRET_CACHE_SECONDS``). URLs already handed to Tavus
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
from typing import TypeVar

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.checkov import skip_checks
from infra.nag import acknowledge
from infra.storage import UploadsBucket
from replica_pipeline.config import TAVUS_API_KEY_PLACEHOLDER

HMAC_KEY_LENGTH = 64


def grant_get_secret_value(role: iam.IRole, sid: str, *secrets: secretsmanager.ISecret) -> None:
    """Let ``role`` read the values of ``secrets``, in one statement named ``sid``.

    Written out: ``secret.grant_read`` would add DescribeSecret, which nothing calls.
    """
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=["secretsmanager:GetSecretValue"],
            resources=[secret.secret_arn for secret in secrets],
        )
    )


@dataclass(frozen=True)
class PipelineSecretsProps:
    uploads: UploadsBucket
    removal_policy: RemovalPolicy
    # Incrementing it replaces the signer's access key (see "Rotation" above).
    signer_key_serial: int = 1
    # False for the cloudfront signer: no IAM user, no access key, no signer secret.
    iam_user_signer: bool = True


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

        self.iam_user_signer = props.iam_user_signer
        self._signer_group: iam.Group | None = None
        self._signer: iam.User | None = None
        self._signer_credentials: secretsmanager.Secret | None = None
        if props.iam_user_signer:
            self._iam_user_signer(props)

        for secret in self.all_secrets:
            skip_checks(
                secret,
                CKV_AWS_149="Encrypted with the AWS-managed key aws/secretsmanager; only the "
                "functions' roles may read each secret, which IAM enforces per secret ARN.",
            )

    def _iam_user_signer(self, props: PipelineSecretsProps) -> None:
        # The signer may read uploads and nothing else: one statement, written here rather
        # than bucket.grant_read (which adds s3:GetBucket*, s3:List* and every object). The
        # policy goes to a group of its own, the signer's only group (IAM's advice: no
        # policies on users).
        self._signer_group = group = iam.Group(self, "SignerGroup")
        self._signer = signer = iam.User(self, "Signer", groups=[group])
        self.signer_policy = iam.Policy(
            self,
            "SignerPolicy",
            statements=[
                props.uploads.read_uploads_statement(),
                # With the bucket_kms setting, reading an object also means decrypting it.
                *props.uploads.decrypt_statements(),
            ],
            groups=[group],
        )
        acknowledge(
            self.signer_policy,
            f"AwsSolutions-IAM5[Resource::{props.uploads.uploads_nag_resource()}]",
            "The signer signs GET URLs for any upload that arrives, so it reads every object "
            "under the upload prefix (and only there); object keys are not known in advance.",
        )

        self.signer_key = iam.AccessKey(
            self, "SignerKey", user=signer, serial=props.signer_key_serial
        )
        self._signer_credentials = credentials = secretsmanager.Secret(
            self,
            "SignerCredentials",
            description="Access key of the signer IAM user (pre-signs Tavus download URLs).",
            secret_object_value={
                # The exact keys adapters/presigner.py's SignerCredentials.from_secret reads.
                "access_key_id": SecretValue.unsafe_plain_text(self.signer_key.access_key_id),
                "secret_access_key": self.signer_key.secret_access_key,
            },
            removal_policy=props.removal_policy,
        )
        acknowledge(
            credentials,
            "AwsSolutions-SMG4",
            "The signer key is rotated through CloudFormation (signer_key_serial), "
            "which replaces the IAM access key and this value together; a rotation "
            "function would fork that state out of the stack.",
        )

    @property
    def signer_group(self) -> iam.Group:
        return _iam_user_part(self._signer_group, "signer group")

    @property
    def signer(self) -> iam.User:
        """The IAM user whose key signs the URLs (the iam_user signer only)."""
        return _iam_user_part(self._signer, "signer user")

    @property
    def signer_credentials(self) -> secretsmanager.Secret:
        """The secret with the signer user's access key (the iam_user signer only)."""
        return _iam_user_part(self._signer_credentials, "signer secret")

    @property
    def all_secrets(self) -> tuple[secretsmanager.Secret, ...]:
        signer = () if self._signer_credentials is None else (self._signer_credentials,)
        return (self.tavus_api_key, self.callback_hmac_key, *signer)


T = TypeVar("T")


def _iam_user_part(part: T | None, what: str) -> T:
    if part is None:
        raise AttributeError(f"signer=cloudfront: there is no {what} (see infra/signers.py)")
    return part

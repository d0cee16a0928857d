"""The cloudfront signer: Tavus downloads uploads through CloudFront signed URLs.

For accounts whose SCPs forbid IAM users and access keys (the ``iam_user`` signer's
way, infra/secrets.py). Nothing here is an IAM user or a key of one:

- A CloudFront distribution serves the uploads bucket through origin access control
  (the bucket policy lets only this distribution read, CDK writes it); HTTPS only,
  GET/HEAD only, and its one behaviour trusts one key group, so every request needs a
  valid signature and an unexpired ``Expires``: nothing is public.
- The key pair is made at deploy time by a custom resource
  (``replica_pipeline.handlers.signing_key``): the private key goes straight into a
  Secrets Manager secret, only the public key comes back, as ``AWS::CloudFront::PublicKey``.
- The functions sign with ``replica_pipeline.adapters.cloudfront_signer`` for ``presign_hours``.

Rotation: increment ``signer_key_serial`` and deploy. The custom resource makes a new
pair and a new public key replaces the old one in the key group. URLs already handed to
Tavus die with the old public key, so rotate when no submission entered ``training`` in
the last hour, as for the IAM user's key. While the deployment runs, a function that
finds a key of another serial in the secret leaves the record in the queue (it is
retried once its environment names the new key).

With the ``bucket_kms`` setting, CDK also lets CloudFront decrypt with the bucket's key;
that key policy names ``distribution/*`` of this account, since naming this distribution
would make a dependency cycle (key -> bucket -> distribution -> key).

With a bucket of your own (``ReplicaPipelineProps.uploads_bucket``), CDK cannot change its
policy (nor its KMS key's): add the statement CDK prints in its warning, allowing
``cloudfront.amazonaws.com`` ``s3:GetObject`` and ``s3:GetObjectVersion`` on the uploads
for this distribution's ARN only (and ``kms:Decrypt`` on the key, if it has one).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CustomResource, Duration, RemovalPolicy, custom_resources
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.checkov import skip_checks
from infra.functions import (
    POWERTOOLS_SERVICE_NAME,
    FunctionSpec,
    FunctionsRuntime,
    FunctionsRuntimeProps,
    PipelineFunction,
)
from infra.nag import acknowledge
from infra.settings import StackSettings
from infra.storage import UploadsBucket
from replica_pipeline import config
from replica_pipeline.adapters.cloudfront_signer import VERSION_PARAMETER
from replica_pipeline.handlers.signing_key import PUBLIC_KEY_ATTRIBUTE

KEY_HANDLER = "replica_pipeline.handlers.signing_key.handler"


@dataclass(frozen=True)
class CloudFrontSignerProps:
    settings: StackSettings
    uploads: UploadsBucket
    removal_policy: RemovalPolicy


class CloudFrontSigner(Construct):
    """The distribution in front of the uploads bucket, its key group, and the signing key."""

    def __init__(self, scope: Construct, construct_id: str, props: CloudFrontSignerProps) -> None:
        super().__init__(scope, construct_id)
        serial = props.settings.signer_key_serial
        self.key_serial = str(serial)

        self.key_secret = secretsmanager.Secret(
            self,
            "SigningKey",
            description="Private key of the CloudFront key pair that signs Tavus download URLs "
            "(written by the stack's signing-key custom resource).",
            removal_policy=props.removal_policy,
        )
        acknowledge(
            self.key_secret,
            "AwsSolutions-SMG4",
            "The CloudFront signing key is rotated through CloudFormation (signer_key_serial): "
            "the custom resource writes the new private key here and the new public key "
            "replaces the old one in the key group together; a Secrets Manager rotation "
            "function would change the private key without the public key CloudFront checks.",
        )
        skip_checks(
            self.key_secret,
            CKV_AWS_149="Encrypted with the AWS-managed key aws/secretsmanager; only the "
            "signing-key custom resource and the ingest role may read it, per secret ARN.",
        )

        self.key_pair = self._key_pair(props)
        # The serial in the id: a rotation adds a public key (a new resource with a name of its
        # own) before the old one is deleted, which CloudFront's unique key names require.
        self.public_key = cloudfront.PublicKey(
            self,
            f"PublicKey{serial}",
            encoded_key=self.key_pair.get_att_string(PUBLIC_KEY_ATTRIBUTE),
            comment=f"Verifies the replica pipeline's Tavus download URLs (serial {serial})",
        )
        self.key_group = cloudfront.KeyGroup(
            self,
            "KeyGroup",
            items=[self.public_key],
            comment="Signers of the replica pipeline's Tavus download URLs",
        )
        self.distribution = self._distribution(props)
        self.url = f"https://{self.distribution.distribution_domain_name}"

    def _key_pair(self, props: CloudFrontSignerProps) -> CustomResource:
        # A runtime of its own with no environment: the pipeline's environment names this
        # construct's outputs. Same code asset (CDK stages it once), Powertools included.
        runtime = FunctionsRuntime(
            self,
            "KeyFunctions",
            FunctionsRuntimeProps(
                settings=props.settings,
                environment={POWERTOOLS_SERVICE_NAME: props.settings.service_name},
            ),
        )
        because = (
            "Invoked synchronously by CDK's custom-resource provider while CloudFormation "
            "deploys; a failure fails the deployment and shows in the stack's events."
        )
        self.key_handler = PipelineFunction(
            self,
            "KeyHandler",
            runtime,
            FunctionSpec(
                handler=KEY_HANDLER,
                description="Makes the CloudFront key pair of the Tavus download URLs",
                timeout=Duration.minutes(1),
                memory_size=256,
                no_dead_letter_queue_because=because,
            ),
        )
        self.key_handler.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteSigningKey",
                # Put a new key; read it back (same serial on update); restore the previous
                # one when a rotation rolls back.
                actions=[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                resources=[self.key_secret.secret_arn],
            )
        )
        provider_logs = logs.LogGroup(
            self,
            "KeyProviderLogs",
            retention=runtime.log_retention,
            removal_policy=props.removal_policy,
        )
        skip_checks(
            provider_logs,
            CKV_AWS_158="The provider framework logs request ids and outcomes, never the key "
            "(the handler answers only the public key); CloudWatch Logs encrypts them.",
        )
        provider = custom_resources.Provider(
            self,
            "KeyProvider",
            on_event_handler=self.key_handler.function,
            log_group=provider_logs,
        )
        self._acknowledge_provider(provider)
        return CustomResource(
            self,
            "KeyPair",
            service_token=provider.service_token,
            resource_type="Custom::CloudFrontSigningKey",
            properties={"SecretArn": self.key_secret.secret_arn, "Serial": self.key_serial},
        )

    def _acknowledge_provider(self, provider: custom_resources.Provider) -> None:
        framework = provider.node.find_child("framework-onEvent")
        for rule, reason in (
            (
                "Serverless-LambdaDLQ",
                "CDK's provider framework function is invoked synchronously by CloudFormation, "
                "which reports a failure as a failed deployment.",
            ),
            (
                "Serverless-LambdaDefaultMemorySize",
                "CDK's provider framework function only relays one call per deployment; CDK "
                "sizes it.",
            ),
            (
                "Serverless-LambdaTracing",
                "CDK's provider framework function relays one call per deployment to our "
                "traced key handler; CDK offers no tracing option for it.",
            ),
        ):
            acknowledge(framework, rule, reason)
        role = framework.node.find_child("ServiceRole")
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Role of CDK's custom-resource provider framework function; CDK attaches the "
            "basic execution policy so it can write its log group.",
        )
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::<"
            + self._logical_id(self.key_handler.function)
            + ".Arn>:*]",
            "CDK's provider framework may invoke every version and alias of our key handler "
            "(ARN:*), and nothing else.",
        )
        skip_checks(
            framework,
            CKV_AWS_115="CDK's provider framework function runs once per deployment; reserved "
            "concurrency would come out of the account's pool for nothing.",
            CKV_AWS_116="Invoked synchronously by CloudFormation, which reports its failure as "
            "a failed deployment.",
            CKV_AWS_117="Calls only the Lambda and CloudFormation APIs; a VPC protects nothing.",
            CKV_AWS_173="Its environment names our handler function, nothing secret.",
        )

    def _logical_id(self, construct: Construct) -> str:
        from aws_cdk import Stack

        element = construct.node.default_child
        return str(Stack.of(self).resolve(element.logical_id))  # type: ignore[union-attr]

    def _distribution(self, props: CloudFrontSignerProps) -> cloudfront.Distribution:
        origin = origins.S3BucketOrigin.with_origin_access_control(
            props.uploads.bucket,
            # The URLs name the object version ingest validated (?versionId=).
            origin_access_levels=[
                cloudfront.AccessLevel.READ,
                cloudfront.AccessLevel.READ_VERSIONED,
            ],
        )
        if props.uploads.key is not None:
            acknowledge(
                props.uploads,
                "Annotation::@aws-cdk/aws-cloudfront-origins:wildcardKeyPolicyForOac",
                "The uploads key lets CloudFront decrypt for distribution/* of this account: "
                "naming this distribution would close a cycle (key, bucket, distribution, key). "
                "Reading still needs the bucket policy, which names this distribution only.",
            )
        # versionId reaches S3 and keys the cache: two versions of one key are two objects.
        # CloudFront strips the signature parameters itself before it forwards a request.
        cache_policy = cloudfront.CachePolicy(
            self,
            "CachePolicy",
            comment="Uploads by key and version",
            query_string_behavior=cloudfront.CacheQueryStringBehavior.allow_list(VERSION_PARAMETER),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            default_ttl=Duration.days(1),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.days(7),
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"replica-pipeline ({props.settings.stage}): signed Tavus downloads",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cache_policy,
                # Videos are already compressed.
                compress=False,
                trusted_key_groups=[self.key_group],
            ),
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
        )
        self._acknowledge_distribution(distribution)
        return distribution

    def _acknowledge_distribution(self, distribution: cloudfront.Distribution) -> None:
        acknowledge(
            distribution,
            "AwsSolutions-CFR1",
            "Tavus downloads from servers whose countries it does not publish; every request "
            "needs a signature made by our ingest function, so a geo restriction would only "
            "risk refusing Tavus.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR2",
            "The only behaviour trusts a key group: CloudFront refuses unsigned or expired "
            "requests at the edge before any origin fetch, and there is no form, query or "
            "body for WAF rules to inspect.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR3",
            "CloudFront standard logging writes through S3 ACLs, which the access-log bucket "
            "disables (bucket owner enforced); every object fetch of the distribution is in "
            "the uploads bucket's server access logs, and ingest logs each URL it signs.",
        )
        acknowledge(
            distribution,
            "AwsSolutions-CFR4",
            "The URLs use the distribution's default *.cloudfront.net certificate, with which "
            "CloudFront fixes the viewer TLS policy; choosing TLSv1.2_2021 needs a custom "
            "domain and an ACM certificate this stack does not own. Viewers use HTTPS only.",
        )
        skip_checks(
            distribution,
            CKV_AWS_68="No WAF: every request needs a CloudFront signature checked at the edge "
            "before the origin is reached; there is nothing else for rules to inspect.",
            CKV_AWS_86="Standard logging needs ACLs on its bucket; the uploads bucket's "
            "server access logs record every fetch from the origin.",
            CKV_AWS_174="Default *.cloudfront.net certificate: CloudFront fixes its TLS "
            "policy; a minimum of TLSv1.2 needs a custom domain and certificate.",
        )


def cloudfront_environment(signer: CloudFrontSigner) -> dict[str, str]:
    """What the functions need to sign with the distribution (names, ids, ARNs; no key)."""
    return {
        config.SIGNER: config.SIGNER_CLOUDFRONT,
        config.CLOUDFRONT_URL: signer.url,
        config.CLOUDFRONT_KEY_PAIR_ID: signer.public_key.public_key_id,
        config.CLOUDFRONT_KEY_SECRET_ARN: signer.key_secret.secret_arn,
        config.CLOUDFRONT_KEY_SERIAL: signer.key_serial,
    }

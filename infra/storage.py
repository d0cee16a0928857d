"""Where drops land (the uploads bucket and its access-log bucket) and where submissions live
(the replicas table, built from the one schema in ``replica_pipeline.contracts.table_schema``)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.checkov import skip_checks
from infra.nag import nag_resource
from replica_pipeline.contracts.table_schema import INDEXES, PARTITION_KEY

# Objects the pipeline reads: the current version (GetObject) or, since the bucket is
# versioned and every request names the version it was notified about, that version.
READ_UPLOAD_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
# The item-level calls of replica_pipeline.adapters.store; no Scan, no batch calls.
TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# The construct id CDK gives the stack's auto-delete provider (aws-cdk-lib aws-s3).
AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
TABLE_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")


@dataclass(frozen=True)
class UploadsBucketProps:
    upload_prefix: str
    removal_policy: RemovalPolicy
    # True: a customer-managed KMS key (rotated yearly); False: S3-managed keys.
    use_kms: bool = False
    # Delete uploads this many days after they arrive; None keeps them.
    upload_expiry_days: int | None = None
    # Old versions (overwritten or deleted uploads) are kept this long, then deleted.
    noncurrent_version_days: int = 30
    # A bucket the caller already has: used as it is (its encryption, versioning, logging and
    # lifecycle stay the owner's), and never deleted by this construct.
    existing_bucket: s3.IBucket | None = None
    # The KMS key that bucket encrypts with, if any: readers must be allowed to decrypt.
    existing_key: kms.IKey | None = None


class UploadsBucket(Construct):
    """Private, encrypted, TLS-only, versioned, access-logged; no CORS (nobody uploads from a
    browser page of ours). Or, given one, the caller's own bucket as it is."""

    def __init__(self, scope: Construct, construct_id: str, props: UploadsBucketProps) -> None:
        super().__init__(scope, construct_id)
        self.upload_prefix = props.upload_prefix
        self.bucket: s3.IBucket
        self.key: kms.IKey | None
        self.access_logs: s3.Bucket | None = None
        if props.existing_bucket is not None:
            self.bucket = props.existing_bucket
            self.key = props.existing_key
            return
        self.bucket, self.key = self._create(props)

    def _create(self, props: UploadsBucketProps) -> tuple[s3.Bucket, kms.Key | None]:
        destroy = props.removal_policy == RemovalPolicy.DESTROY
        # A versioned bucket cannot be deleted while it holds versions: with destroy, CDK's
        # auto-delete custom resource empties it first; with retain it must never exist.
        auto_delete_objects = destroy

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # Server access log delivery writes only to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=props.removal_policy,
            auto_delete_objects=auto_delete_objects,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(365),
                    noncurrent_version_expiration=Duration.days(7),
                )
            ],
        )
        skip_checks(
            self.access_logs,
            CKV_AWS_18="This is the access-log destination bucket; logging its own accesses "
            "would need yet another bucket, endlessly.",
        )

        key: kms.Key | None = None
        if props.use_kms:
            key = kms.Key(
                self,
                "UploadsKey",
                description="Encrypts the replica-pipeline uploads bucket",
                enable_key_rotation=True,
                removal_policy=props.removal_policy,
                pending_window=Duration.days(7) if destroy else None,
            )

        lifecycle_rules = [
            s3.LifecycleRule(
                id="expire-noncurrent-versions",
                noncurrent_version_expiration=Duration.days(props.noncurrent_version_days),
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ]
        if props.upload_expiry_days is not None:
            lifecycle_rules.append(
                s3.LifecycleRule(
                    id="expire-uploads",
                    prefix=props.upload_prefix,
                    expiration=Duration.days(props.upload_expiry_days),
                )
            )

        bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="uploads-bucket/",
            lifecycle_rules=lifecycle_rules,
            removal_policy=props.removal_policy,
            auto_delete_objects=auto_delete_objects,
        )
        if auto_delete_objects:
            self._skip_auto_delete_provider_checks()
        return bucket, key

    def _skip_auto_delete_provider_checks(self) -> None:
        # CDK's own provider of Custom::S3AutoDeleteObjects: one per stack, shared by both
        # buckets, bundled by CDK (no Docker); its rights come from the buckets' policies.
        provider = Stack.of(self).node.find_child(AUTO_DELETE_PROVIDER_ID)
        skip_checks(
            provider.node.find_child("Handler"),
            CKV_AWS_116="Invoked only by CloudFormation as a custom resource while the stack "
            "is deleted; CloudFormation waits for its answer and reports a failure in the "
            "stack's events, where the person running destroy looks, not in a DLQ.",
            CKV_AWS_117="Empties these buckets through the public S3 endpoint while the stack "
            "is deleted; a VPC would need a NAT gateway or endpoint and protect nothing.",
            CKV_AWS_115="Invoked once per bucket when the stack is deleted; reserved "
            "concurrency would come out of the account's pool for a function idle otherwise.",
        )

    def read_uploads_statement(self) -> iam.PolicyStatement:
        """Read one upload (any version) under the upload prefix, and nothing else."""
        return iam.PolicyStatement(
            sid="ReadUploads",
            actions=list(READ_UPLOAD_ACTIONS),
            resources=[self.bucket.arn_for_objects(f"{self.upload_prefix}*")],
        )

    def uploads_nag_resource(self) -> str:
        """The uploads' objects as cdk-nag names them in a finding (for acknowledgements)."""
        return nag_resource(self, self.bucket.arn_for_objects(f"{self.upload_prefix}*"))

    def list_uploads_statement(self) -> iam.PolicyStatement:
        """List keys under the upload prefix only (finding the other half of a pair)."""
        return iam.PolicyStatement(
            sid="ListUploads",
            actions=["s3:ListBucket"],
            resources=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.upload_prefix}*"]}},
        )

    def decrypt_statements(self) -> list[iam.PolicyStatement]:
        """Readers of a KMS-encrypted bucket also decrypt with its key; none with S3-managed."""
        if self.key is None:
            return []
        return [
            iam.PolicyStatement(
                sid="DecryptUploads", actions=["kms:Decrypt"], resources=[self.key.key_arn]
            )
        ]


_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
}


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class ReplicasTable(Construct):
    """On-demand, point-in-time recovery, deletion protection, and the schema's GSIs.

    No Powertools idempotency table: the ingest claim (``submitting`` with a lease)
    lives in the replicas item itself, see the README, "Exactly one Create Replica".
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=_string(PARTITION_KEY),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_string(index.partition_key),
                    sort_key=_string(index.sort_key) if index.sort_key else None,
                    projection_type=_PROJECTIONS[index.projection],
                )
                for index in INDEXES
            ],
        )

    def grant_item_reads(self, grantee: iam.IGrantable) -> None:
        """GetItem and Query on the table and its indexes."""
        self.table.grant(grantee, *TABLE_READ_ACTIONS)

    def grant_item_updates(self, grantee: iam.IGrantable) -> None:
        """Reads plus conditional UpdateItem: changing existing items, never adding or deleting."""
        self.table.grant(grantee, *TABLE_READ_ACTIONS, "dynamodb:UpdateItem")

    def grant_item_writes(self, grantee: iam.IGrantable) -> None:
        """Reads plus the conditional Put/Update/Delete of the state machine."""
        self.table.grant(grantee, *TABLE_READ_ACTIONS, *TABLE_WRITE_ACTIONS)

"""The pipeline as a construct in somebody else's CDK app, with a bucket that app already has.

A second, tiny app (not ours: a stack with its own bucket, and one that imports a bucket by
name) adds ``ReplicaPipeline`` the way AWS Solutions Constructs are added. cdk-nag checks
that app too: the construct brings no finding of its own, whatever bucket it is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Acknowledgment, Validations, assertions
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.pipeline import ReplicaPipeline, ReplicaPipelineProps
from infra.settings import UPLOAD_PREFIX, StackSettings
from tests.infra.cfn import statements

IMPORTED_BUCKET = "team-videos-for-replicas"


class HostStack(cdk.Stack):
    """Another team's stack: a bucket of its own, and the pipeline fed from it."""

    def __init__(self, scope: cdk.App, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.videos = s3.Bucket(
            self,
            "TeamVideos",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
        )
        # The host's bucket, not the construct's: its own findings are the host's business.
        Validations.of(self.videos).acknowledge(
            Acknowledgment(id="AwsSolutions-S1", reason="The host app's bucket; logs elsewhere.")
        )
        self.pipeline = ReplicaPipeline(
            self,
            "Replicas",
            ReplicaPipelineProps(settings=StackSettings(stage="host"), uploads_bucket=self.videos),
        )


class ImportingStack(cdk.Stack):
    """A stack that only names a bucket made long ago, outside any CDK app."""

    def __init__(self, scope: cdk.App, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        videos = s3.Bucket.from_bucket_name(self, "Imported", IMPORTED_BUCKET)
        self.pipeline = ReplicaPipeline(
            self,
            "Replicas",
            ReplicaPipelineProps(settings=StackSettings(stage="imported"), uploads_bucket=videos),
        )


class DefaultsStack(cdk.Stack):
    """No props at all: every setting at cdk.json's default and a bucket of its own."""

    def __init__(self, scope: cdk.App, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.pipeline = ReplicaPipeline(self, "Replicas")


@pytest.fixture(scope="module")
def host_app(cdk_out: Path) -> dict[str, assertions.Template]:
    """The second app, synthesized with cdk-nag's packs on (findings raise)."""
    app = cdk.App(outdir=str(cdk_out / "host-app"))
    stacks: list[cdk.Stack] = [
        HostStack(app, "Host"),
        ImportingStack(app, "Importing"),
        DefaultsStack(app, "Defaults"),
    ]
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    app.synth()
    return {stack.stack_name: assertions.Template.from_stack(stack) for stack in stacks}


def notification_of(template: assertions.Template) -> dict[str, Any]:
    (notifications,) = template.find_resources("Custom::S3BucketNotifications").values()
    properties: dict[str, Any] = notifications["Properties"]
    return properties


def test_the_host_bucket_is_used_as_it_is_and_no_other_is_made(
    host_app: dict[str, assertions.Template],
) -> None:
    host = host_app["Host"]
    (bucket_id,) = host.find_resources("AWS::S3::Bucket")  # the host's bucket, and only it
    assert bucket_id.startswith("TeamVideos")
    notification = notification_of(host)
    assert notification["BucketName"] == {"Ref": bucket_id}
    (queue_configuration,) = notification["NotificationConfiguration"]["QueueConfigurations"]
    assert queue_configuration["Filter"] == {
        "Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}
    }
    # No auto-delete on a bucket the host owns: destroying the pipeline never empties it.
    assert not host.find_resources("Custom::S3AutoDeleteObjects")


def test_everything_reads_only_the_upload_prefix_of_the_host_bucket(
    host_app: dict[str, assertions.Template],
) -> None:
    host = host_app["Host"]
    (bucket_id,) = host.find_resources("AWS::S3::Bucket")
    reads = [
        resources
        for policy in host.find_resources("AWS::IAM::Policy").values()
        for actions, resources, _ in statements(policy["Properties"]["PolicyDocument"])
        if "s3:GetObject" in actions
    ]
    assert len(reads) >= 2  # the ingest function and the signer
    assert set(reads) == {(f"{bucket_id}.Arn/{UPLOAD_PREFIX}*",)}


def test_a_bucket_imported_by_name_gets_the_notification(
    host_app: dict[str, assertions.Template],
) -> None:
    importing = host_app["Importing"]
    assert not importing.find_resources("AWS::S3::Bucket")
    assert notification_of(importing)["BucketName"] == IMPORTED_BUCKET


def test_with_no_props_the_construct_makes_its_bucket_with_the_defaults(
    host_app: dict[str, assertions.Template],
) -> None:
    defaults = host_app["Defaults"]
    assert len(defaults.find_resources("AWS::S3::Bucket")) == 2  # uploads and access logs
    defaults.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Retain"})
    defaults.has_resource_properties("AWS::Events::EventBus", {"Name": "replica-pipeline-dev"})

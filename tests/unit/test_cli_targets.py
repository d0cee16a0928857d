"""The CLI finds a deployed stack's endpoints from its CloudFormation outputs."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from replica_pipeline_local.targets import TargetError, load_target

# The output keys the CDK stack declares (tests/infra checks the stack declares them).
OUTPUTS = {
    "UploadsBucketName": "replica-uploads-123",
    "UploadPrefix": "uploads/",
    "ReplicasTableName": "replicas-abc",
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
    "IngestQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest",
    "IngestDlqUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/ingest-dlq",
}


def deploy_fake_stack(name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_deployed_stack_is_found_by_name(aws: str, tmp_path: Path) -> None:
    deploy_fake_stack("ReplicaPipeline-prod", OUTPUTS)

    target = load_target("ReplicaPipeline-prod", tmp_path)

    assert (target.bucket, target.table, target.upload_prefix) == (
        "replica-uploads-123",
        "replicas-abc",
        "uploads/",
    )
    assert target.api_url == OUTPUTS["ApiUrl"]
    assert (target.queue_url, target.dlq_url) == (
        OUTPUTS["IngestQueueUrl"],
        OUTPUTS["IngestDlqUrl"],
    )
    assert not target.is_local


def test_a_stack_that_is_not_ours_says_so(aws: str, tmp_path: Path) -> None:
    deploy_fake_stack("SomethingElse", {"Foo": "bar"})

    with pytest.raises(TargetError, match="is it a replica-pipeline stack"):
        load_target("SomethingElse", tmp_path)


def test_no_stack_at_all_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="make up"):
        load_target(None, tmp_path)

"""signer=cloudfront: CloudFront signed URLs, and no IAM user or access key in the template.

The cloudfront variant is synthesized once for this module (twice in fact: once as
deployed, once with acknowledgements recorded instead of made, to check that each
one answers a real cdk-nag finding).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy, Stack, assertions
from aws_cdk import aws_s3 as s3

import infra.nag
from app import build_app
from infra.settings import SettingsError, StackSettings
from infra.signers import CloudFrontSigner, CloudFrontSignerProps
from infra.storage import UploadsBucket, UploadsBucketProps
from replica_pipeline import config
from replica_pipeline.handlers.signing_key import PUBLIC_KEY_ATTRIBUTE
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_acknowledgements import RecordingValidations

CLOUDFRONT = {"signer": "cloudfront"}


@pytest.fixture(scope="module")
def cloudfront(cdk_out: Path) -> Synthesized:
    return synthesize(cdk_out, CLOUDFRONT)


def only(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def test_the_signer_setting_accepts_only_iam_user_or_cloudfront() -> None:
    assert StackSettings.from_context({}).signer == "iam_user"
    assert StackSettings.from_context(CLOUDFRONT).uses_cloudfront_signer
    with pytest.raises(
        SettingsError, match="signer='cloudfrnt' must be 'iam_user' or 'cloudfront'"
    ):
        StackSettings.from_context({"signer": "cloudfrnt"})


@pytest.mark.security
def test_cloudfront_signer_creates_no_iam_user_and_no_access_key(cloudfront: Synthesized) -> None:
    assert not cloudfront.of_type("AWS::IAM::User")
    assert not cloudfront.of_type("AWS::IAM::AccessKey")
    assert not cloudfront.of_type("AWS::IAM::Group")
    outputs = cloudfront.template.to_json()["Outputs"]
    assert "SignerUserName" not in outputs
    assert "SignerSecretArn" not in outputs
    assert {"SignerDistributionDomain", "SignerKeySecretArn"} <= set(outputs)


@pytest.mark.security
def test_default_signer_is_still_the_iam_user_with_its_key(synth: Synthesized) -> None:
    only(synth.of_type("AWS::IAM::User"))
    only(synth.of_type("AWS::IAM::AccessKey"))
    assert not synth.of_type("AWS::CloudFront::Distribution")
    assert not synth.of_type("AWS::CloudFront::KeyGroup")
    outputs = synth.template.to_json()["Outputs"]
    assert {"SignerUserName", "SignerSecretArn"} <= set(outputs)


@pytest.mark.security
def test_distribution_serves_the_uploads_bucket_only_signed_over_https_get_head(
    cloudfront: Synthesized,
) -> None:
    pipeline = cloudfront.pipeline
    signer = pipeline.cloudfront_signer
    assert signer is not None
    _, distribution = only(cloudfront.of_type("AWS::CloudFront::Distribution"))
    settings = distribution["Properties"]["DistributionConfig"]
    behaviour = settings["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["TrustedKeyGroups"] == [{"Ref": cloudfront.logical_id(signer.key_group)}]
    assert "CacheBehaviors" not in settings  # no other path, so nothing unsigned
    (origin,) = settings["Origins"]
    assert origin["DomainName"] == {
        "Fn::GetAtt": [cloudfront.logical_id(pipeline.uploads.bucket), "RegionalDomainName"]
    }
    oac_id, oac = only(cloudfront.of_type("AWS::CloudFront::OriginAccessControl"))
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"


@pytest.mark.security
def test_only_this_distribution_may_read_the_bucket_through_its_policy(
    cloudfront: Synthesized,
) -> None:
    signer = cloudfront.pipeline.cloudfront_signer
    assert signer is not None
    distribution = cloudfront.logical_id(signer.distribution)
    policies = cloudfront.matching(
        "AWS::S3::BucketPolicy",
        {"Bucket": {"Ref": cloudfront.logical_id(cloudfront.pipeline.uploads.bucket)}},
    )
    _, policy = only(policies)
    statements = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
    source = json.dumps(statement["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert f'"Ref": "{distribution}"' in source


@pytest.mark.security
def test_key_pair_is_made_by_the_custom_resource_and_only_its_public_half_reaches_cloudfront(
    cloudfront: Synthesized,
) -> None:
    signer = cloudfront.pipeline.cloudfront_signer
    assert signer is not None
    key_pair_id, key_pair = only(cloudfront.of_type("Custom::CloudFrontSigningKey"))
    assert key_pair["Properties"]["SecretArn"] == {"Ref": cloudfront.logical_id(signer.key_secret)}
    assert key_pair["Properties"]["Serial"] == "1"
    _, public_key = only(cloudfront.of_type("AWS::CloudFront::PublicKey"))
    assert public_key["Properties"]["PublicKeyConfig"]["EncodedKey"] == {
        "Fn::GetAtt": [key_pair_id, PUBLIC_KEY_ATTRIBUTE]
    }
    _, key_group = only(cloudfront.of_type("AWS::CloudFront::KeyGroup"))
    assert key_group["Properties"]["KeyGroupConfig"]["Items"] == [
        {"Ref": cloudfront.logical_id(signer.public_key)}
    ]
    handlers = cloudfront.matching(
        "AWS::Lambda::Function", {"Handler": "replica_pipeline.handlers.signing_key.handler"}
    )
    only(handlers)


def test_functions_are_told_the_distribution_key_pair_and_key_secret(
    cloudfront: Synthesized,
) -> None:
    signer = cloudfront.pipeline.cloudfront_signer
    assert signer is not None
    (ingest,) = cloudfront.matching(
        "AWS::Lambda::Function", {"Handler": "replica_pipeline.handlers.ingest.handler"}
    ).values()
    environment = ingest["Properties"]["Environment"]["Variables"]
    assert environment[config.SIGNER] == config.SIGNER_CLOUDFRONT
    assert environment[config.CLOUDFRONT_KEY_PAIR_ID] == {
        "Ref": cloudfront.logical_id(signer.public_key)
    }
    assert environment[config.CLOUDFRONT_KEY_SECRET_ARN] == {
        "Ref": cloudfront.logical_id(signer.key_secret)
    }
    assert environment[config.CLOUDFRONT_KEY_SERIAL] == "1"
    assert "DomainName" in json.dumps(environment[config.CLOUDFRONT_URL])
    assert config.SIGNER_SECRET_ARN not in environment


@pytest.mark.security
def test_ingest_may_read_the_private_key_and_the_distribution_nothing_more(
    cloudfront: Synthesized,
) -> None:
    signer = cloudfront.pipeline.cloudfront_signer
    assert signer is not None
    key_secret = {"Ref": cloudfront.logical_id(signer.key_secret)}
    readers = [
        statement
        for policy in cloudfront.of_type("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if key_secret == statement["Resource"]
        or (isinstance(statement["Resource"], list) and key_secret in statement["Resource"])
    ]
    # The ingest function reads it; the key handler writes it.
    assert len(readers) == 2
    actions = sorted(
        action
        for statement in readers
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    )
    assert actions == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]


@pytest.mark.security
def test_with_bucket_kms_cloudfront_may_decrypt_uploads_for_its_account_distributions(
    cdk_out: Path,
) -> None:
    kms = synthesize(cdk_out, {**CLOUDFRONT, "bucket_kms": True, "stage": "cfkms"})
    key = kms.pipeline.uploads.key
    assert key is not None
    policy = kms.resources[kms.logical_id(key)]["Properties"]["KeyPolicy"]
    (statement,) = [
        statement
        for statement in policy["Statement"]
        if statement.get("Principal") == {"Service": "cloudfront.amazonaws.com"}
    ]
    assert statement["Action"] == "kms:Decrypt"
    source = json.dumps(statement["Condition"]["ArnLike"]["AWS:SourceArn"])
    assert ":distribution/*" in source  # CDK's way round the key -> distribution cycle


def test_a_serial_bump_makes_a_new_key_pair_and_a_new_public_key(cloudfront: Synthesized) -> None:
    """A new serial is a new custom resource input (a new pair) and a new PublicKey resource
    (CloudFront key names are unique, so the old one must be deleted after, not updated)."""
    stack = Stack(App(), "Rotated")
    uploads = UploadsBucket(
        stack,
        "Uploads",
        UploadsBucketProps(
            upload_prefix="uploads/",
            removal_policy=RemovalPolicy.DESTROY,
            existing_bucket=s3.Bucket(stack, "Bucket"),
        ),
    )
    settings = StackSettings(signer="cloudfront", signer_key_serial=2)
    signer = CloudFrontSigner(
        stack,
        "Signer",
        CloudFrontSignerProps(
            settings=settings, uploads=uploads, removal_policy=RemovalPolicy.DESTROY
        ),
    )
    rotated = assertions.Template.from_stack(stack)

    rotated.has_resource_properties("Custom::CloudFrontSigningKey", {"Serial": "2"})
    assert signer.public_key.node.id == "PublicKey2"
    original = cloudfront.pipeline.cloudfront_signer
    assert original is not None
    assert original.public_key.node.id == "PublicKey1"


def test_every_cloudfront_acknowledgement_answers_a_finding_and_none_is_missing(
    cloudfront: Synthesized,
) -> None:
    recorder = RecordingValidations()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infra.nag, "Validations", recorder)
        app = build_app(outdir=str(cloudfront.outdir), context={**CLOUDFRONT, "stage": "cfnoack"})
        with pytest.raises(RuntimeError, match="ValidationFailed"):
            app.synth()
    report = json.loads((cloudfront.outdir / "validation-report.json").read_text())
    findings = {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }

    def covers(path: str, rule: str, finding: tuple[str, str]) -> bool:
        return finding[1] == rule and (finding[0] == path or finding[0].startswith(f"{path}/"))

    signer_acks = [
        (path, rule) for path, rule, _ in recorder.acknowledged if "/CloudFrontSigner" in path
    ]
    assert signer_acks
    stale = [ack for ack in signer_acks if not any(covers(*ack, f) for f in findings)]
    assert not stale, f"acknowledged without a finding: {stale}"
    uncovered = [
        finding
        for finding in findings
        if not any(covers(path, rule, finding) for path, rule, _ in recorder.acknowledged)
    ]
    assert not uncovered, f"findings nobody acknowledged: {uncovered}"

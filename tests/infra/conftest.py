"""Synthesize the app once per session (bundling takes seconds) and share the result.

cdk-nag runs during each synthesis, so a finding nobody acknowledged fails every
test here, with the list in ``<outdir>/validation-report.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnElement, assertions
from constructs import IConstruct

from app import build_app
from infra.account_setup import ACCOUNT_SETUP_STACK_NAME
from infra.pipeline import ReplicaPipeline
from infra.stack import ReplicaPipelineStack

# Every setting away from its default, to exercise the optional paths.
ALTERNATIVE_CONTEXT: dict[str, Any] = {
    "stage": "alt",
    "bucket_kms": True,
    "event_bus": "default",
    "alarm_email": "ops@example.com",
    "removal_policy": "destroy",
    "upload_expiry_days": 30,
    "ingest_max_concurrency": 7,
    "dlq_max_receive_count": 4,
    "reconcile_every_minutes": 10,
    "callback_rate_limit": 3,
    "callback_burst_limit": 6,
    "presign_hours": 72,
    "log_retention_days": 14,
    # The deep check's queue, function and asset (tests/infra/test_deep_check.py).
    "deep_check": True,
}


@dataclass(frozen=True)
class Synthesized:
    """One synthesized stack: the construct tree, its template, and the assembly directory."""

    stack: ReplicaPipelineStack
    template: assertions.Template
    outdir: Path

    @property
    def pipeline(self) -> ReplicaPipeline:
        return self.stack.pipeline

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return resources

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of a construct's CloudFormation resource."""
        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        assert isinstance(element, CfnElement), construct.node.path
        logical_id: str = self.stack.resolve(element.logical_id)
        return logical_id

    def matching(self, resource_type: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Resources of the type whose properties match (as ``has_resource_properties``)."""
        found = self.template.find_resources(resource_type, {"Properties": properties})
        return dict(found)

    def matching_resource(self, resource_type: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Resources of the type that match a whole resource pattern (as ``has_resource``)."""
        return dict(self.template.find_resources(resource_type, resource))

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }


def synthesize(outdir: Path, context: dict[str, Any] | None = None) -> Synthesized:
    app = build_app(outdir=str(outdir), context=context)
    assembly = app.synth()  # cdk-nag findings raise here
    (artifact,) = [
        artifact for artifact in assembly.stacks if artifact.stack_name != ACCOUNT_SETUP_STACK_NAME
    ]
    stack = app.node.find_child(artifact.stack_name)
    assert isinstance(stack, ReplicaPipelineStack)
    # from_json checks the template for dependency cycles (API -> function -> API URL).
    template = assertions.Template.from_json(artifact.template)
    return Synthesized(stack=stack, template=template, outdir=outdir)


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One output directory: the second synthesis reuses the first one's bundled asset.
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="session")
def synth(cdk_out: Path) -> Synthesized:
    """The stack as cdk.json configures it."""
    return synthesize(cdk_out)


@pytest.fixture(scope="session")
def synth_alternative(cdk_out: Path, synth: Synthesized) -> Synthesized:
    """The stack with every setting changed (KMS bucket, default bus, alarm email, ...)."""
    return synthesize(cdk_out, ALTERNATIVE_CONTEXT)


@pytest.fixture(scope="session")
def account_setup_template(synth: Synthesized) -> assertions.Template:
    """The one-time account setup stack's template (synthesized alongside the stage's)."""
    template = synth.outdir / f"{ACCOUNT_SETUP_STACK_NAME}.template.json"
    return assertions.Template.from_string(template.read_text())

"""The CDK feature flags the pipeline was built and checked with, wherever it is used.

``cdk.json`` turns on CDK's recommended flags for a new project, and the stack's
resources (and every cdk-nag, cfn-lint and checkov finding) depend on them: without
``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy``, for one, the access-log bucket
needs ACLs that its enforced object ownership refuses. Another CDK app that adds the
``ReplicaPipeline`` construct has flags of its own, so the construct sets ours on its own
scope (where only its resources read them) before it makes anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from constructs import Construct

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
FLAG_PREFIXES = ("@aws-cdk/", "@aws-cdk-containers/")


def feature_flags(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """Every feature flag of cdk.json's context, by name."""
    context: dict[str, Any] = json.loads(cdk_json.read_text())["context"]
    return {name: value for name, value in context.items() if name.startswith(FLAG_PREFIXES)}


def apply_feature_flags(scope: Construct) -> None:
    """Set our flags on ``scope``; call before ``scope`` has children (CDK refuses after)."""
    for name, value in feature_flags().items():
        scope.node.set_context(name, value)

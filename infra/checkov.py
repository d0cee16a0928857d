"""checkov skips, written next to the resource they concern, each with its reason.

checkov reads ``Metadata.checkov.skip`` on a CloudFormation resource; this puts
it there from the construct, so a skip travels with the code that needs it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct


def skip_checks(construct: IConstruct, **reasons: str) -> None:
    """Skip checkov checks (``CKV_AWS_116="why"``) on the construct's CloudFormation resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    existing: dict[str, Any] = resource.get_metadata("checkov") or {}
    skips = [
        *existing.get("skip", []),
        *({"id": check_id, "comment": reason} for check_id, reason in reasons.items()),
    ]
    resource.add_metadata("checkov", {"skip": skips})

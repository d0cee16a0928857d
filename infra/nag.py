"""cdk-nag acknowledgements, written next to the resource they concern, each with its reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding (``AwsSolutions-IAM5[Resource::*]``) on this construct."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def nag_reference(construct: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag writes ``Fn::GetAtt`` of the construct's resource in a finding id:
    ``<LogicalId.Arn>``."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource")
    stack = Stack.of(resource)
    logical_id = stack.resolve(resource.logical_id)
    return f"<{logical_id}.{attribute}>"


def nag_resource(scope: IConstruct, value: str) -> str:
    """How cdk-nag writes a resource string (an ARN token) in a finding id: references as
    ``<LogicalId.Arn>`` or ``<AWS::Partition>``, joins spelled out. Works for resources of this
    app and for ones imported by name alike."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(part) for part in parts)
    raise ValueError(f"cannot name {value!r} as cdk-nag does")

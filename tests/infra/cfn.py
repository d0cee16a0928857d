"""Reading a synthesized template the way a reviewer does: policies per role, routes by path."""

from __future__ import annotations

from typing import Any

Statement = tuple[tuple[str, ...], tuple[str, ...], str]


def render(value: Any) -> str:
    """An intrinsic as readable text: ``Table.Arn``, ``Ref:Secret``, joins concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"Ref:{argument}"
        if function == "Fn::GetAtt":
            return f"{argument[0]}.{argument[1]}"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part) for part in parts)
    raise AssertionError(f"unexpected intrinsic {value!r}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(policy_document: dict[str, Any]) -> set[Statement]:
    """Each Allow statement as (sorted actions, sorted resources, rendered condition)."""
    found: set[Statement] = set()
    for statement in policy_document["Statement"]:
        assert statement["Effect"] == "Allow", statement
        found.add(
            (
                tuple(sorted(_listed(statement["Action"]))),
                tuple(sorted(render(resource) for resource in _listed(statement["Resource"]))),
                repr(statement.get("Condition", {})),
            )
        )
    return found


def role_statements(resources: dict[str, Any], role_logical_id: str) -> set[Statement]:
    """Every statement of every policy attached to the role (inline, separate or managed)."""
    role = resources[role_logical_id]["Properties"]
    assert not role.get("ManagedPolicyArns"), "no managed policies on function roles"
    assert not role.get("Policies"), "no inline policies on function roles"
    found: set[Statement] = set()
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_logical_id} in resource["Properties"].get("Roles", []):
            found |= statements(resource["Properties"]["PolicyDocument"])
    return found


def function_role(resources: dict[str, Any], function_logical_id: str) -> str:
    role = resources[function_logical_id]["Properties"]["Role"]
    logical_id: str = role["Fn::GetAtt"][0]
    return logical_id


def method_paths(resources: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``(HTTP method, "/full/path")`` -> the Method's properties."""

    def path_of(resource_id: Any) -> str:
        if "Fn::GetAtt" in resource_id:  # the API's root resource
            return ""
        resource = resources[resource_id["Ref"]]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    return {
        (method["Properties"]["HttpMethod"], path_of(method["Properties"]["ResourceId"])): method[
            "Properties"
        ]
        for method in resources.values()
        if method["Type"] == "AWS::ApiGateway::Method"
    }

"""The replica-pipeline stack: it only wires the constructs together.

This is the foundation's minimal stack (the replicas table); the issue
"CDK infrastructure" completes it with the bucket, queues, functions and APIs.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from infra.storage import ReplicasTable


class ReplicaPipelineStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        retain = self.node.try_get_context("removal_policy") != "destroy"
        replicas = ReplicasTable(
            self,
            "Replicas",
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        CfnOutput(self, "ReplicasTableName", value=replicas.table.table_name)
